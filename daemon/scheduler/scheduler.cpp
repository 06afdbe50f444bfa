#include "scheduler/scheduler.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "jobs/params.h"
#include "store/blob_batcher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
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

// One attempt of one job, as the plugin sees the scheduler. Thread-safe:
// the plugin may call it from parallel_for tasks.
class Scheduler::Attempt final : public JobControl {
public:
    Attempt(Scheduler& s, const ClaimedJob& job)
        : s_(s), job_(job), deadline_(monotonicSeconds() + s.options_.jobTimeoutSeconds) {}

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
            setStorageError(e.what());
            log::error("output_not_stored", {{"job", job_.id}, {"output", name}, {"error", e.what()}});
            return false;
        }
        return batcher_.add(std::move(writer), [this, index, name, mediaType, width, height](const BlobRef& blob) {
            try {
                return record(index, name, mediaType, blob, width, height);
            } catch (const std::exception& e) {
                setStorageError(e.what());
                log::error("output_not_stored", {{"job", job_.id}, {"output", name}, {"error", e.what()}});
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
            setStorageError(e.what());
            log::error("output_not_stored", {{"job", job_.id}, {"output", name}, {"error", e.what()}});
            return false;
        }
    }

    void progress(uint32_t done, uint32_t total) override {
        try {
            s_.store_.setProgress(job_.id, job_.attempt, done, total);
        } catch (const std::exception& e) {
            log::warn("progress_not_stored", {{"job", job_.id}, {"error", e.what()}});
        }
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
        // Identical bytes may have been stored before and be unreferenced now: pinned, no daemon removes
        // them before the output row refers to them; gone already, the attempt is tried again.
        auto pin = s_.store_.pinBlob(blob.sha256);
        if (pin && !s_.blobs_.exists(blob.sha256))
            throw std::runtime_error("output " + name + " was removed while it was being recorded");
        if (!s_.store_.putOutput(job_.id, job_.attempt, out)) {
            canceled_ = true;  // someone else owns the job now
            return false;
        }
        ++outputs_;
        return true;
    }

    void cancel() { canceled_ = true; }
    void drain() { drained_ = true; }
    bool canceled() const { return canceled_; }
    bool drained() const { return drained_; }
    std::string storageError() const {
        std::lock_guard lock(errorMutex_);
        return storageError_;
    }

private:
    void setStorageError(const std::string& what) {
        std::lock_guard lock(errorMutex_);
        storageError_ = what;
    }

    Scheduler& s_;
    const ClaimedJob& job_;
    double deadline_;
    std::atomic<bool> canceled_{false};
    std::atomic<bool> drained_{false};
    std::atomic<int> outputs_{0};
    mutable std::mutex errorMutex_;  // guards storageError_ (plugins add outputs from many threads)
    std::string storageError_;
    BlobBatcher batcher_{s_.blobs_};  // last: its thread calls record() until it is gone
};

Scheduler::Scheduler(JobStore& store, BlobStore& blobs, Executor& executor, JobEvents& events,
                     SchedulerOptions options)
    : store_(store), blobs_(blobs), executor_(executor), events_(events), options_(options) {
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
    }
    if (count == 1) wake_.notify_one();
    else wake_.notify_all();
}

void Scheduler::cancelRunning(const std::string& jobId) {
    std::lock_guard lock(mutex_);
    auto it = running_.find(jobId);
    if (it != running_.end()) it->second->cancel();
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

void Scheduler::workerLoop() {
    auto leaseMs = static_cast<int64_t>(options_.jobTimeoutSeconds * 1000) + options_.leaseMarginMs;
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
        if (!lookAgain && wakeTokens_ == 0) {
            int64_t waitMs = options_.idlePollMs;
            lock.unlock();
            std::optional<int64_t> due;
            try { due = store_.nextRunAfter(); } catch (const std::exception&) {}
            lock.lock();
            if (due) waitMs = std::clamp<int64_t>(*due - nowMs(), 0, waitMs);
            if (wakeTokens_ == 0 && help_.empty() && claiming_ && !stopping_)
                wake_.wait_for(lock, std::chrono::milliseconds(waitMs));
            if (wakeTokens_ == 0 && help_.empty() && claiming_ && !stopping_) lookAgain = true;  // poll
            continue;
        }
        if (wakeTokens_ > 0) --wakeTokens_;
        lookAgain = false;
        lock.unlock();

        std::vector<ClaimedJob> claimed;
        try {
            claimed = store_.claim(1, nowMs(), leaseMs);
        } catch (const std::exception& e) {
            // Every idle worker polls: during a store outage, one line per 10 s is enough.
            double now = monotonicSeconds(), last = lastClaimError_.load();
            if (now - last >= 10 && lastClaimError_.compare_exchange_strong(last, now))
                log::error("claim_failed", {{"error", e.what()}});
        }
        if (!claimed.empty() && !claimingNow()) {
            // drain() began while the claim was in flight: hand the job straight back.
            AttemptResult back;
            back.outcome = AttemptResult::Outcome::Retry;
            back.retryAt = nowMs();
            back.error = {"shutting_down", "the daemon stopped before the job could start"};
            try {
                store_.finishAttempt(claimed.front().id, claimed.front().attempt, back);
            } catch (const std::exception& e) {
                log::error("requeue_failed", {{"job", claimed.front().id}, {"error", e.what()}});
            }
            claimed.clear();
        }
        if (!claimed.empty()) {
            ++busy_;
            runAttempt(claimed.front());
            --busy_;
            lookAgain = true;
        }
        lock.lock();
    }
    --liveWorkers_;
    idle_.notify_all();
}

void Scheduler::runAttempt(const ClaimedJob& job) {
    Attempt attempt(*this, job);
    {
        std::lock_guard lock(mutex_);
        running_[job.id] = &attempt;
        if (!claiming_) attempt.drain();  // drain() began a moment ago: stop at once
    }
    double queueWait = std::max<int64_t>(0, nowMs() - std::max(job.createdAt, job.runAfter)) / 1000.0;
    if (metrics_) metrics_->queueWait(job.plugin, queueWait);
    log::debug("job_started", {{"job", job.id}, {"plugin", job.plugin}, {"attempt", job.attempt},
                               {"queue_wait_s", queueWait}});

    ExecRequest request;
    request.jobId = job.id;
    request.plugin = job.plugin;
    request.pluginVersion = job.pluginVersion;
    request.mediaType = job.sourceMediaType;
    ExecResult result;
    try {
        request.params = ParamSchema::toText(nlohmann::json::parse(job.params));
        request.inputPath = blobs_.path(job.sourceSha256);
        result = executor_.execute(request, attempt);
        // Outputs of a failed attempt are dropped with their temp files; a
        // success whose outputs cannot all be kept is tried again.
        if (!attempt.publish(result.status == ExecResult::Status::Ok))
            result = {ExecResult::Status::Transient, "the outputs could not be stored", result.seconds};
    } catch (const std::exception& e) {
        result = {ExecResult::Status::Internal, e.what(), 0};
    }

    using S = ExecResult::Status;
    using O = AttemptResult::Outcome;
    AttemptResult ended;
    auto fail = [&](const char* code, std::string message) {
        ended.outcome = O::Failed;
        ended.error = {code, std::move(message)};
    };
    auto retryOrFail = [&](const char* code, std::string message) {
        if (job.attempt < job.maxAttempts) {
            ended.outcome = O::Retry;
            ended.retryAt = nowMs() + backoffMs(job.attempt);
            ended.error = {code, std::move(message)};
        } else {
            fail(code, std::move(message) + " (after " + std::to_string(job.attempt) + " attempts)");
        }
    };
    switch (result.status) {
        case S::Ok:
            ended.outcome = O::Succeeded;
            ended.durationSeconds = result.seconds;
            break;
        case S::Canceled:
            if (attempt.canceled()) ended.outcome = O::Canceled;
            else if (attempt.drained()) {
                ended.outcome = O::Retry;
                ended.retryAt = nowMs();
                ended.error = {"shutting_down", "the daemon stopped while the job ran; it will run again"};
            } else if (attempt.timedOut())
                fail("timeout", "the job ran longer than " + std::to_string(options_.jobTimeoutSeconds) + " s");
            else fail("internal", "the plugin stopped without being asked to: " + result.message);
            break;
        case S::InvalidParam: fail("invalid_param", result.message); break;
        case S::Unprocessable: fail("unprocessable", result.message); break;
        case S::Unsupported: fail("unsupported_media_type", result.message); break;
        case S::Unavailable: fail("plugin_unavailable", result.message); break;
        case S::Transient:
            retryOrFail(attempt.storageError().empty() ? "transient" : "insufficient_storage",
                        attempt.storageError().empty() ? result.message : attempt.storageError());
            break;
        case S::Crashed:
            // One more try on a fresh worker; a second crash is the input's doing.
            if (job.attempt >= 2) fail("plugin_crashed", result.message + " (twice)");
            else retryOrFail("plugin_crashed", result.message);
            break;
        case S::Internal: retryOrFail("internal", result.message); break;
    }

    bool recorded = recordEnd(job, ended);
    {
        std::lock_guard lock(mutex_);
        running_.erase(job.id);
    }
    idle_.notify_all();

    JobState state = ended.outcome == O::Succeeded ? JobState::Succeeded
                     : ended.outcome == O::Failed  ? JobState::Failed
                     : ended.outcome == O::Canceled ? JobState::Canceled
                                                    : JobState::Queued;
    log::Level level = state == JobState::Failed ? log::Level::Warn : log::Level::Info;
    log::write(level, "job_attempt_ended",
               {{"job", job.id},
                {"plugin", job.plugin},
                {"attempt", job.attempt},
                {"state", toString(state)},
                {"duration_s", result.seconds},
                {"error", ended.error.code},
                {"message", ended.error.message},
                {"recorded", recorded}});
    if (state == JobState::Queued) jobsQueued(1);  // a retry: someone will pick it up when it is due
    if (metrics_ && recorded) {
        if (!ended.error.code.empty()) metrics_->jobError(job.plugin, ended.error.code);
        if (state == JobState::Queued) metrics_->jobRetried(job.plugin);
        else metrics_->jobFinished(job.plugin, std::string(toString(state)));
        if (state == JobState::Succeeded) metrics_->jobDuration(job.plugin, result.seconds);
    }
    if (recorded && state != JobState::Queued) events_.ended(job.id, state);
}

bool Scheduler::recordEnd(const ClaimedJob& job, const AttemptResult& ended) {
    // A store that is briefly unreachable (a database restarting) is waited
    // for, up to the lease: past it, another daemon may run the job anyway.
    double giveUpAt = monotonicSeconds() + options_.jobTimeoutSeconds + options_.leaseMarginMs / 1000.0;
    for (int tries = 0;; ++tries) {
        try {
            return store_.finishAttempt(job.id, job.attempt, ended);
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
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeoutSeconds);
    idle_.wait_until(lock, deadline, [&] { return running_.empty(); });
    if (!running_.empty()) {
        log::warn("drain_timeout", {{"running", static_cast<int>(running_.size())}});
        for (auto& [id, a] : running_) a->drain();
        // Plugins that honour should_stop() return within moments.
        idle_.wait_for(lock, std::chrono::seconds(5), [&] { return running_.empty(); });
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
}

}  // namespace pixelmill
