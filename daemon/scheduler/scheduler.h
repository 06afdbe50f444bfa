#pragma once

#include "jobs/job_events.h"
#include "jobs/job_service.h"
#include "metrics/metrics.h"
#include "scheduler/executor.h"
#include "store/blob_store.h"
#include "store/job_store.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
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

// The worker pool. Each worker claims the highest-priority, oldest ready job
// from the store, runs one attempt through the Executor, and records how it
// ended: success, failure, or a retry with exponential backoff. A per-attempt
// deadline and cancel flag are offered to the plugin through should_stop().
// Idle workers also run other jobs' parallel_for tasks, so one long job can
// use every core.
//
// Thread-safe. mutex_ guards the wake-up state, the help queue and the table
// of running attempts; a job's state is only changed through the store, with
// conditional updates keyed by the attempt number.
class Scheduler final : public WorkSignal {
public:
    // `events` hears of every attempt that reached a final state.
    Scheduler(JobStore& store, BlobStore& blobs, Executor& executor, JobEvents& events, SchedulerOptions options);
    ~Scheduler() override;

    void start();
    // Where attempts are counted and timed (optional).
    void setMetrics(Metrics* metrics) { metrics_ = metrics; }

    void jobsQueued(int count) override;
    void cancelRunning(const std::string& jobId) override;

    // Stops claiming and waits up to `timeoutSeconds` for running attempts;
    // then asks the rest to stop and puts their jobs back in the queue.
    // Returns true if every worker has returned.
    bool drain(double timeoutSeconds);
    void stop();

    int busy() const { return busy_.load(); }
    int total() const { return options_.workers; }

    // For the plugins' parallel_for: fn(user, i) for i < count, on this
    // thread and any idle worker.
    void parallelFor(uint32_t count, void (*fn)(void*, uint32_t), void* user);

private:
    class Attempt;
    struct HelpBatch;

    void workerLoop();
    void runAttempt(const ClaimedJob& job);
    // Records how an attempt ended; false if the attempt no longer owned the job.
    bool recordEnd(const ClaimedJob& job, const AttemptResult& ended);
    std::shared_ptr<HelpBatch> takeHelp();
    static void runHelp(HelpBatch& batch);
    int64_t backoffMs(int attempt) const;
    bool claimingNow() const {
        std::lock_guard lock(mutex_);
        return claiming_;
    }

    JobStore& store_;
    BlobStore& blobs_;
    Executor& executor_;
    JobEvents& events_;
    SchedulerOptions options_;
    Metrics* metrics_ = nullptr;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable idle_;
    int wakeTokens_ = 0;
    std::atomic<double> lastClaimError_{-1e9};  // monotonic seconds of the last claim_failed line
    bool claiming_ = true;
    bool stopping_ = false;
    std::deque<std::shared_ptr<HelpBatch>> help_;
    std::map<std::string, Attempt*> running_;
    std::atomic<int> busy_{0};
    int liveWorkers_ = 0;
    std::vector<std::thread> workers_;
};

}  // namespace pixelmill
