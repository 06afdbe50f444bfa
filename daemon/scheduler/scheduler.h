#pragma once

#include "common/task_pool.h"
#include "jobs/job_events.h"
#include "jobs/job_service.h"
#include "metrics/metrics.h"
#include "scheduler/executor.h"
#include "scheduler/outcomes.h"
#include "store/blob_references.h"
#include "store/blob_store.h"
#include "store/job_queue.h"
#include "store/step_results.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace pixelmill {

struct SchedulerOptions {
    int workers = 2;
    double jobTimeoutSeconds = 60;
    double retryBaseSeconds = 1;
    double retryMaxSeconds = 300;
    int64_t leaseMarginMs = 30'000;  // lease = timeout + margin
    int idlePollMs = 1000;           // fallback when no wake-up arrives
};

// The worker pool. Workers take jobs from a small ready queue that they fill
// from the store in batches (one claim for many jobs), run one attempt
// through the Executor, and post how it ended to the store without waiting
// for the commit: success, failure, or a retry with exponential backoff
// (scheduler/outcomes.h decides which). What follows an end (the "ended"
// event, metrics, the log line, waking a worker for a retry) happens once the
// end is durable, on the scheduler's reporter thread. A per-attempt deadline
// and cancel flag are offered to the plugin through should_stop(). Idle
// workers also run other jobs' parallel_for tasks, so one long job can use
// every core.
//
// The ready queue holds jobs claimed (running in the store, under a lease)
// but not started: only as many as the workers get through in ~50 ms at the
// recent average attempt duration (none for slow jobs), at most 64. A job that
// waited there past half the lease margin, that drain() or stop() finds there,
// or that a claim brought back after drain() began, goes back to the queue
// without using an attempt (JobQueue::releaseClaims); one canceled there is
// dropped (the store has it canceled already).
//
// Thread-safe. mutex_ guards the wake-up state, the help queue, the ready
// queue, the table of running attempts and the count of ends not yet
// reported; a job's state is only changed through the store, with conditional
// updates keyed by the attempt number.
class Scheduler final : public WorkSignal {
public:
    // `events` hears of every attempt that reached a final state; `metrics`
    // (optional) counts and times the attempts; `steps` (optional) keeps what
    // chains' steps made, to be reused (see ChainRunner).
    Scheduler(JobQueue& queue, BlobReferences& references, BlobStore& blobs, Executor& executor, JobEvents& events,
              SchedulerOptions options, Metrics* metrics = nullptr, StepResults* steps = nullptr);
    ~Scheduler() override;

    void start();

    void jobsQueued(int count) override;
    void cancelRunning(const std::string& jobId) override;

    // Stops claiming, gives the jobs of the ready queue back, and waits up to
    // `timeoutSeconds` for running attempts and their ends to be recorded;
    // then asks the rest to stop and puts their jobs back in the queue.
    // Returns true if every attempt has returned.
    bool drain(double timeoutSeconds);
    // Stops the workers, gives back what the ready queue holds, and waits
    // until every posted end is recorded and reported.
    void stop();

    int busy() const { return busy_.load(); }
    int total() const { return options_.workers; }

    // For the plugins' parallel_for: fn(user, i) for i < count, on this
    // thread and any idle worker.
    void parallelFor(uint32_t count, void (*fn)(void*, uint32_t), void* user);

private:
    class Attempt;
    struct HelpBatch;
    struct Ready {
        ClaimedJob job;
        int64_t claimedAt = 0;  // unix ms: its lease runs from here
    };

    void workerLoop();
    // Runs the job at the front of the ready queue, or gives it back when it
    // waited there too long. Called and returns with `lock` held.
    void runNextReady(std::unique_lock<std::mutex>& lock);
    // Waits, with `lock` held, until woken or until the next job is due (at
    // most the idle poll); true if there is still nothing to do: look at the store.
    bool waitIdle(std::unique_lock<std::mutex>& lock);
    // Claims up to `max` jobs into the ready queue. Called and returns with
    // `lock` held; the store is asked without it.
    void claimInto(std::unique_lock<std::mutex>& lock, int max);
    // How many claimed jobs to hold ready beyond those running (mutex_ held).
    int feedAhead() const;
    void giveBack(std::vector<ClaimedJob> jobs);
    void runAttempt(const std::shared_ptr<Attempt>& attempt);
    // The plugin's run of an attempt, its outputs published; not started when canceled already.
    ExecResult runPlugin(Attempt& attempt);
    // What decideOutcome() needs to know of how the attempt went.
    AttemptReport reportOf(const Attempt& attempt, const ExecResult& result) const;
    // On the reporter thread, once the store has answered the posted end.
    void reportEnd(const Attempt& attempt, const AttemptReport& report, AttemptResult ended, bool owned,
                   std::exception_ptr error);
    // Records an end synchronously; false if the attempt no longer owned the job.
    bool recordEnd(const ClaimedJob& job, const AttemptResult& ended);
    std::shared_ptr<HelpBatch> takeHelp();
    static void runHelp(HelpBatch& batch);
    int64_t backoffMs(int attempt) const;
    int64_t leaseMs() const;

    JobQueue& queue_;
    BlobReferences& references_;
    BlobStore& blobs_;
    Executor& executor_;
    JobEvents& events_;
    SchedulerOptions options_;
    Metrics* const metrics_;
    StepResults* const steps_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable idle_;
    int wakeTokens_ = 0;
    std::atomic<double> lastClaimError_{-1e9};  // monotonic seconds of the last claim_failed line
    bool claiming_ = true;
    bool stopping_ = false;
    std::deque<std::shared_ptr<HelpBatch>> help_;
    std::deque<Ready> ready_;
    bool claimInFlight_ = false;
    bool moreReady_ = true;  // the last claim got all it asked for, or jobs were queued since
    std::set<std::string> canceledWhileClaiming_;
    double averageAttemptSeconds_ = -1;  // recent average (-1: none yet)
    std::map<std::string, std::shared_ptr<Attempt>> running_;
    int finishing_ = 0;  // ends posted to the store and not yet reported
    std::atomic<int> busy_{0};
    int liveWorkers_ = 0;
    std::vector<std::thread> workers_;
    TaskPool reporter_{1};  // last: its thread ends before what it uses goes away
};

}  // namespace pixelmill
