#include "scheduler/scheduler.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "jobs/params.h"
#include "scheduler/chain_runner.h"
#include "store/blob_batcher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <random>
#include <thread>

namespace pixelmill {

struct Scheduler::HelpBatch {
    void (*fn)(void*, uint32_t) = nullptr;
    void* user = nullptr;
    uint32_t count = 0;
    std::atomic<uint32_t> next{0};
    std::atomic<uint32_t> done{0};
    std::mutex mutex;
    std::condition_variable finished;
};

namespace {

// How much claimed work the ready queue holds ahead, in attempt time per
// worker, and at most how many jobs.
constexpr double kFeedAheadSeconds = 0.05;
constexpr int kMaxFeedAhead = 64;

std::string describe(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "unknown error";
    }
}

}  // namespace

// One attempt of one job, as the plugin sees the scheduler. Thread-safe:
// the plugin may call it from parallel_for tasks, and the store's answers to
// its posted outputs arrive on a store thread.
class Scheduler::Attempt final : public JobControl, public std::enable_shared_from_this<Attempt> {
public:
    Attempt(Scheduler& s, ClaimedJob job)
        : s_(s), job_(std::move(job)), deadline_(monotonicSeconds() + s.options_.jobTimeoutSeconds) {}

    const ClaimedJob& job() const { return job_; }

    bool shouldStop() const override { return canceled_ || drained_ || timedOut(); }
    bool timedOut() const { return monotonicSeconds() > deadline_; }

    // Written to a temp file now; a blob, and then a row, once its batch is durable (BlobBatcher).
    bool addOutput(uint32_t index, const std::string& name, const std::string& mediaType,
                   std::span<const unsigned char> bytes, int32_t width, int32_t height) override {
        std::unique_ptr<BlobWriter> writer;
        try {
            writer = s_.blobs_.writer();
            writer->write(bytes.data(), bytes.size());
            writer->finish();
        } catch (const std::exception& e) {
            lost(name, e.what());
            return false;
        }
        return batcher_.add(std::move(writer), [this, index, name, mediaType, width, height](const BlobRef& blob) {
            try {
                return record(index, name, mediaType, blob, width, height);
            } catch (const std::exception& e) {
                lost(name, e.what());
                return false;
            }
        });
    }

    // Waits until the outputs are durable and recorded (a success), or drops
    // those not committed yet. False if a success could not keep them all.
    bool publish(bool succeeded) {
        std::string error = batcher_.finish(succeeded);
        if (error.empty()) return true;
        if (!canceled_ && storageError().empty()) setStorageError(error);
        log::error("outputs_not_stored", {{"job", job_.id}, {"error", error}});
        return !succeeded;
    }

    bool addStoredOutput(uint32_t index, const std::string& name, const std::string& mediaType,
                         const std::string& sha256, uint64_t size, int32_t width, int32_t height) override {
        try {
            return record(index, name, mediaType, BlobRef{sha256, size, false}, width, height);
        } catch (const std::exception& e) {
            lost(name, e.what());
            return false;
        }
    }

    void progress(uint32_t done, uint32_t total) override {
        // Progress is advisory: posted, never waited for.
        std::string id = job_.id;
        s_.queue_.setProgressAsync(job_.id, job_.attempt, done, total, [id](bool, std::exception_ptr error) {
            if (error) log::warn("progress_not_stored", {{"job", id}, {"error", describe(error)}});
        });
    }

    void log(int level, const std::string& message) override {
        log::Level l = level <= 0 ? log::Level::Debug
                       : level == 1 ? log::Level::Info
                       : level == 2 ? log::Level::Warn
                                    : log::Level::Error;
        log::write(l, "plugin_log", {{"job", job_.id}, {"plugin", job_.plugin}, {"message", message}});
    }

    void parallelFor(uint32_t count, void (*fn)(void*, uint32_t), void* user) override {
        s_.parallelFor(count, fn, user);
    }

    // The output row is posted, not waited for: the attempt's end, posted
    // after it, is committed with it or later, and is refused as a success if
    // the row could not be written (JobQueue::finishAttemptAsync).
    bool record(uint32_t index, const std::string& name, const std::string& mediaType, const BlobRef& blob,
                int32_t width, int32_t height) {
        Output out;
        out.index = index;
        out.name = name;
        out.mediaType = mediaType;
        out.sha256 = blob.sha256;
        out.sizeBytes = blob.size;
        if (width > 0) out.width = width;
        if (height > 0) out.height = height;
        // Identical bytes may have been stored before and be unreferenced now: pinned until the output row
        // is committed, no daemon removes them meanwhile; gone already, the attempt is tried again.
        std::shared_ptr<BlobPin> pin = s_.references_.pinBlob(blob.sha256);
        if (pin && !s_.blobs_.exists(blob.sha256))
            throw std::runtime_error("output " + name + " was removed while it was being recorded");
        s_.queue_.putOutputAsync(job_.id, job_.attempt, out,
                                 [self = shared_from_this(), pin, name](bool owned, std::exception_ptr error) {
                                     if (error) self->lost(name, describe(error));
                                     else if (!owned) self->cancel();  // someone else owns the job now
                                 });
        // A store that answers at once has said already whether it kept the row.
        return !canceled_ && storageError().empty();
    }

    void beginDurably() {
        std::promise<void> done;
        s_.queue_.beginAttemptAsync(job_.id, job_.attempt, [&](bool, std::exception_ptr) { done.set_value(); });
        done.get_future().wait();
    }

    void cancel() { canceled_ = true; }
    void drain() { drained_ = true; }
    bool canceled() const { return canceled_; }
    bool drained() const { return drained_; }
    std::string storageError() const {
        std::lock_guard lock(mutex_);
        return storageError_;
    }

private:
    void lost(const std::string& output, const std::string& error) {
        log::error("output_not_stored", {{"job", job_.id}, {"output", output}, {"error", error}});
        setStorageError(error);
    }
    void setStorageError(const std::string& error) {
        std::lock_guard lock(mutex_);
        if (storageError_.empty()) storageError_ = error;
    }

    Scheduler& s_;
    const ClaimedJob job_;
    double deadline_;
    std::atomic<bool> canceled_{false};
    std::atomic<bool> drained_{false};
    mutable std::mutex mutex_;  // guards storageError_
    std::string storageError_;
    BlobBatcher batcher_{s_.blobs_};  // last: its thread calls record() until it is gone
};

Scheduler::Scheduler(JobQueue& queue, BlobReferences& references, BlobStore& blobs, Executor& executor,
                     JobEvents& events, SchedulerOptions options, Metrics* metrics, StepResults* steps)
    : queue_(queue),
      references_(references),
      blobs_(blobs),
      executor_(executor),
      events_(events),
      options_(options),
      metrics_(metrics),
      steps_(steps) {
    options_.workers = std::max(1, options_.workers);
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
    std::lock_guard lock(mutex_);
    wakeTokens_ = options_.workers;  // look at the queue once at start
    for (int i = 0; i < options_.workers; ++i) {
        ++liveWorkers_;
        workers_.emplace_back([this] { workerLoop(); });
    }
}

void Scheduler::jobsQueued(int count) {
    {
        std::lock_guard lock(mutex_);
        wakeTokens_ = std::min(wakeTokens_ + count, options_.workers);
        moreReady_ = true;
    }
    if (count == 1) wake_.notify_one();
    else wake_.notify_all();
}

void Scheduler::cancelRunning(const std::string& jobId) {
    std::lock_guard lock(mutex_);
    if (auto it = running_.find(jobId); it != running_.end()) {
        it->second->cancel();
        return;
    }
    // Waiting in the ready queue: the store has it canceled already, so it is only dropped.
    auto ready = std::find_if(ready_.begin(), ready_.end(), [&](const Ready& r) { return r.job.id == jobId; });
    if (ready != ready_.end()) {
        ready_.erase(ready);
        return;
    }
    // Perhaps in the answer of a claim on its way: dropped when it arrives.
    if (claimInFlight_) canceledWhileClaiming_.insert(jobId);
}

std::shared_ptr<Scheduler::HelpBatch> Scheduler::takeHelp() {
    while (!help_.empty()) {
        auto& front = help_.front();
        if (front->next.load() < front->count) return front;
        help_.pop_front();  // every task of it has been taken
    }
    return nullptr;
}

void Scheduler::runHelp(HelpBatch& batch) {
    for (;;) {
        uint32_t i = batch.next.fetch_add(1);
        if (i >= batch.count) return;
        batch.fn(batch.user, i);
        if (batch.done.fetch_add(1) + 1 == batch.count) {
            std::lock_guard lock(batch.mutex);
            batch.finished.notify_all();
        }
    }
}

void Scheduler::parallelFor(uint32_t count, void (*fn)(void*, uint32_t), void* user) {
    if (count == 0) return;
    auto batch = std::make_shared<HelpBatch>();
    batch->fn = fn;
    batch->user = user;
    batch->count = count;
    if (count > 1 && options_.workers > 1) {
        {
            std::lock_guard lock(mutex_);
            help_.push_back(batch);
        }
        wake_.notify_all();
    }
    runHelp(*batch);
    std::unique_lock lock(batch->mutex);
    batch->finished.wait(lock, [&] { return batch->done.load() == batch->count; });
}

int64_t Scheduler::backoffMs(int attempt) const {
    thread_local std::mt19937 rng{std::random_device{}()};
    std::uniform_real_distribution<double> jitter(1.0, 1.2);
    double seconds = options_.retryBaseSeconds * std::pow(2.0, std::max(0, attempt - 1)) * jitter(rng);
    return static_cast<int64_t>(std::min(seconds, options_.retryMaxSeconds) * 1000);
}

int64_t Scheduler::leaseMs() const {
    return static_cast<int64_t>(options_.jobTimeoutSeconds * 1000) + options_.leaseMarginMs;
}

int Scheduler::feedAhead() const {
    if (averageAttemptSeconds_ < 0) return 0;  // nothing known yet: one job at a time
    double perWorker = kFeedAheadSeconds / std::max(averageAttemptSeconds_, 1e-6);
    return static_cast<int>(std::min<double>(kMaxFeedAhead, std::floor(perWorker) * options_.workers));
}

void Scheduler::workerLoop() {
    bool lookAgain = false;  // just finished a job: the queue may hold more
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (auto help = takeHelp()) {
            lock.unlock();
            runHelp(*help);
            lock.lock();
            continue;
        }
        if (!claiming_) {
            wake_.wait(lock);
            continue;
        }
        if (!ready_.empty()) {
            runNextReady(lock);
            lookAgain = true;
            continue;
        }
        if (claimInFlight_) {  // another worker is claiming: wait for what it brings
            wake_.wait(lock);
            continue;
        }
        if (!lookAgain && wakeTokens_ == 0) {
            lookAgain = waitIdle(lock);  // poll
            continue;
        }
        if (wakeTokens_ > 0) --wakeTokens_;
        lookAgain = false;
        claimInto(lock, 1 + feedAhead());
    }
    --liveWorkers_;
    idle_.notify_all();
}

void Scheduler::runNextReady(std::unique_lock<std::mutex>& lock) {
    Ready next = std::move(ready_.front());
    ready_.pop_front();
    // Its lease runs from the claim: one that waited long (the attempts grew slower) is
    // given back rather than run on what is left of it.
    if (nowMs() - next.claimedAt > options_.leaseMarginMs / 2) {
        lock.unlock();
        giveBack({std::move(next.job)});
        lock.lock();
        return;
    }
    auto attempt = std::make_shared<Attempt>(*this, std::move(next.job));
    running_[attempt->job().id] = attempt;  // with the pop: a cancel finds it in one place or the other
    ++busy_;
    // Feed ahead: top the ready queue up while the others still have work in it.
    int target = feedAhead();
    if (target > 0 && moreReady_ && !claimInFlight_ && static_cast<int>(ready_.size()) * 2 <= target)
        claimInto(lock, target - static_cast<int>(ready_.size()));
    lock.unlock();
    runAttempt(attempt);
    attempt.reset();
    --busy_;
    lock.lock();
}

bool Scheduler::waitIdle(std::unique_lock<std::mutex>& lock) {
    int64_t waitMs = options_.idlePollMs;
    lock.unlock();
    std::optional<int64_t> due;
    try { due = queue_.nextRunAfter(); } catch (const std::exception&) {}
    lock.lock();
    if (due) waitMs = std::clamp<int64_t>(*due - nowMs(), 0, waitMs);
    auto nothingToDo = [&] {
        return wakeTokens_ == 0 && help_.empty() && ready_.empty() && !claimInFlight_ && claiming_ &&
               !stopping_;
    };
    if (nothingToDo()) wake_.wait_for(lock, std::chrono::milliseconds(waitMs));
    return nothingToDo();
}

void Scheduler::claimInto(std::unique_lock<std::mutex>& lock, int max) {
    claimInFlight_ = true;
    lock.unlock();
    std::vector<ClaimedJob> claimed;
    const int64_t now = nowMs();
    bool failed = false;
    try {
        claimed = queue_.claim(max, now, leaseMs());
    } catch (const std::exception& e) {
        failed = true;
        // Every idle worker polls: during a store outage, one line per 10 s is enough.
        double mono = monotonicSeconds(), last = lastClaimError_.load();
        if (mono - last >= 10 && lastClaimError_.compare_exchange_strong(last, mono))
            log::error("claim_failed", {{"error", e.what()}});
    }
    lock.lock();
    moreReady_ = !failed && static_cast<int>(claimed.size()) == max;
    if (!canceledWhileClaiming_.empty()) {
        std::erase_if(claimed, [&](const ClaimedJob& c) { return canceledWhileClaiming_.count(c.id) > 0; });
        canceledWhileClaiming_.clear();
    }
    if (!claiming_) {
        // drain() began while the claim was in flight: hand the jobs straight back.
        lock.unlock();
        giveBack(std::move(claimed));
        lock.lock();
    } else {
        for (ClaimedJob& c : claimed) ready_.push_back({std::move(c), now});
    }
    claimInFlight_ = false;
    wake_.notify_all();  // workers that waited for this claim
    idle_.notify_all();  // drain() waits for no claim in flight
}

void Scheduler::giveBack(std::vector<ClaimedJob> jobs) {
    if (jobs.empty()) return;
    try {
        int released = queue_.releaseClaims(jobs);
        log::debug("claims_released", {{"jobs", released}});
    } catch (const std::exception& e) {
        // They stay running until their lease ends (or the next start): then the attempt counts.
        log::error("release_failed", {{"jobs", static_cast<int>(jobs.size())}, {"error", e.what()}});
    }
}

void Scheduler::runAttempt(const std::shared_ptr<Attempt>& attempt) {
    const ClaimedJob& job = attempt->job();
    {
        std::lock_guard lock(mutex_);
        if (!claiming_) attempt->drain();  // drain() began a moment ago: stop at once
    }
    double queueWait = std::max<int64_t>(0, nowMs() - std::max(job.createdAt, job.runAfter)) / 1000.0;
    if (metrics_) metrics_->queueWait(job.plugin, queueWait);
    log::debug("job_started", {{"job", job.id}, {"plugin", job.plugin}, {"attempt", job.attempt},
                               {"queue_wait_s", queueWait}});

    double started = monotonicSeconds();
    ExecResult result = runPlugin(*attempt);
    double took = monotonicSeconds() - started;

    AttemptReport report = reportOf(*attempt, result);
    AttemptResult ended = decideOutcome(report, nowMs(), backoffMs(job.attempt));
    ended.endedAt = nowMs();  // not when the commit comes: the next claim may be recorded first

    {
        std::lock_guard lock(mutex_);
        running_.erase(job.id);
        ++finishing_;
        averageAttemptSeconds_ = averageAttemptSeconds_ < 0 ? took : 0.8 * averageAttemptSeconds_ + 0.2 * took;
    }
    // Posted after the attempt's outputs, so committed with them or later. What follows
    // runs on the reporter thread, not the store's.
    queue_.finishAttemptAsync(job.id, job.attempt, ended,
                              [this, attempt, report, ended](bool owned, std::exception_ptr error) {
                                  reporter_.post([this, attempt, report, ended, owned, error] {
                                      reportEnd(*attempt, report, ended, owned, error);
                                  });
                              });
}

ExecResult Scheduler::runPlugin(Attempt& attempt) {
    const ClaimedJob& job = attempt.job();
    ExecRequest request;
    request.jobId = job.id;
    request.plugin = job.plugin;
    request.pluginVersion = job.pluginVersion;
    request.mediaType = job.sourceMediaType;
    if (attempt.canceled()) return {ExecResult::Status::Canceled, "canceled before it started", 0};
    // A plugin that can take the daemon down begins its attempt durably first: if the daemon
    // dies, the attempt counts, and a job that kills it every time runs out of attempts. A
    // plugin in its own process cannot: a daemon that dies (killed, its machine lost) is not
    // the job's doing, and the job goes back without using an attempt.
    if (executor_.sharesProcess()) attempt.beginDurably();
    try {
        ExecResult result;
        if (!job.steps.empty()) {
            result = ChainRunner(executor_, blobs_, steps_, attempt, job).run();
        } else {
            request.params = ParamSchema::toText(nlohmann::json::parse(job.params));
            request.inputPath = blobs_.path(job.sourceSha256);
            result = executor_.execute(request, attempt);
        }
        // Outputs of a failed attempt are dropped with their temp files; a
        // success whose outputs cannot all be kept is tried again.
        if (!attempt.publish(result.status == ExecResult::Status::Ok))
            result = {ExecResult::Status::Transient, "the outputs could not be stored", result.seconds};
        return result;
    } catch (const std::exception& e) {
        return {ExecResult::Status::Internal, e.what(), 0};
    }
}

AttemptReport Scheduler::reportOf(const Attempt& attempt, const ExecResult& result) const {
    AttemptReport report;
    report.result = result;
    report.canceled = attempt.canceled();
    report.drained = attempt.drained();
    report.timedOut = attempt.timedOut();
    report.storageError = attempt.storageError();
    report.attempt = attempt.job().attempt;
    report.maxAttempts = attempt.job().maxAttempts;
    report.timeoutSeconds = options_.jobTimeoutSeconds;
    return report;
}

void Scheduler::reportEnd(const Attempt& attempt, const AttemptReport& report, AttemptResult ended, bool owned,
                          std::exception_ptr error) {
    const ClaimedJob& job = attempt.job();
    bool recorded = owned;
    if (error) {
        // Not recorded. A success whose outputs may not all have been kept is not one: it is
        // recorded as the storage failure it was; anything else is recorded again as it was.
        std::string why = describe(error);
        log::warn("finish_not_recorded", {{"job", job.id}, {"attempt", job.attempt}, {"error", why}});
        if (ended.outcome == AttemptResult::Outcome::Succeeded) {
            AttemptReport lost = report;
            lost.storageError = attempt.storageError().empty() ? why : attempt.storageError();
            int64_t endedAt = ended.endedAt;
            ended = decideOutcome(lost, nowMs(), backoffMs(job.attempt));
            ended.endedAt = endedAt;
        }
        recorded = recordEnd(job, ended);
    }

    JobState state = stateAfter(ended.outcome);
    log::Level level = state == JobState::Failed ? log::Level::Warn : log::Level::Info;
    log::write(level, "job_attempt_ended",
               {{"job", job.id},
                {"plugin", job.plugin},
                {"attempt", job.attempt},
                {"state", toString(state)},
                {"duration_s", report.result.seconds},
                {"error", ended.error.code},
                {"message", ended.error.message},
                {"recorded", recorded}});
    if (state == JobState::Queued) jobsQueued(1);  // a retry: someone will pick it up when it is due
    if (metrics_ && recorded) {
        if (!ended.error.code.empty()) metrics_->jobError(job.plugin, ended.error.code);
        if (state == JobState::Queued) metrics_->jobRetried(job.plugin);
        else metrics_->jobFinished(job.plugin, std::string(toString(state)));
        if (state == JobState::Succeeded) metrics_->jobDuration(job.plugin, report.result.seconds);
    }
    if (recorded && state != JobState::Queued) events_.ended(job.id, state);
    {
        std::lock_guard lock(mutex_);
        --finishing_;
    }
    idle_.notify_all();
}

bool Scheduler::recordEnd(const ClaimedJob& job, const AttemptResult& ended) {
    // A store that is briefly unreachable (a database restarting) is waited
    // for, up to the lease: past it, another daemon may run the job anyway.
    double giveUpAt = monotonicSeconds() + options_.jobTimeoutSeconds + options_.leaseMarginMs / 1000.0;
    for (int tries = 0;; ++tries) {
        try {
            return queue_.finishAttempt(job.id, job.attempt, ended);
        } catch (const ApiError& e) {
            if (e.status() != 503 || monotonicSeconds() >= giveUpAt) {
                log::error("finish_failed", {{"job", job.id}, {"error", e.what()}});
                return false;
            }
            if (tries == 0) log::warn("finish_waiting_for_store", {{"job", job.id}, {"error", e.what()}});
            std::this_thread::sleep_for(std::chrono::milliseconds(std::min(2000, 50 << std::min(tries, 6))));
        } catch (const std::exception& e) {
            log::error("finish_failed", {{"job", job.id}, {"error", e.what()}});
            return false;
        }
    }
}

bool Scheduler::drain(double timeoutSeconds) {
    std::unique_lock lock(mutex_);
    claiming_ = false;
    std::vector<ClaimedJob> waiting;
    for (Ready& r : ready_) waiting.push_back(std::move(r.job));
    ready_.clear();
    lock.unlock();
    giveBack(std::move(waiting));  // never started: no attempt used
    lock.lock();
    auto settled = [&] { return running_.empty() && finishing_ == 0 && !claimInFlight_; };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeoutSeconds);
    idle_.wait_until(lock, deadline, settled);
    if (!running_.empty()) {
        log::warn("drain_timeout", {{"running", static_cast<int>(running_.size())}});
        for (auto& [id, a] : running_) a->drain();
        // Plugins that honour should_stop() return within moments.
        idle_.wait_for(lock, std::chrono::seconds(5), settled);
    }
    bool clean = running_.empty();
    stopping_ = true;
    lock.unlock();
    wake_.notify_all();
    return clean;
}

void Scheduler::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        claiming_ = false;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) {
        if (t.joinable()) t.join();
    }
    workers_.clear();
    std::unique_lock lock(mutex_);
    std::vector<ClaimedJob> waiting;
    for (Ready& r : ready_) waiting.push_back(std::move(r.job));
    ready_.clear();
    lock.unlock();
    giveBack(std::move(waiting));
    lock.lock();
    idle_.wait(lock, [&] { return finishing_ == 0; });  // every end posted is recorded and reported
}

}  // namespace pixelmill
