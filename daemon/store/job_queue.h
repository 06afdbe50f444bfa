#pragma once

#include "jobs/model/job.h"
#include "jobs/model/submission.h"

#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill {

// The queue: submissions in, claims out to the scheduler, each attempt's
// writes, and the state changes a client asks for. Thread-safe, durable when
// a synchronous write returns; state changes are conditional on the state
// they start from, so a caller that lost a race changes nothing.
class JobQueue {
public:
    virtual ~JobQueue() = default;

    // In one transaction: stores the original (if new) and the job, unless a
    // job with the same dedup key is queued, running or succeeded; then that
    // job is returned with created = false.
    // With job.idempotency, first: a key of the client's kept (younger than
    // kIdempotencyKeyLifetimeMs at job.createdAt) whose job still exists
    // answers with that job and the first status (replayed), or throws
    // idempotencyConflict() when its fingerprint differs; nothing else is
    // written then. Otherwise the key is recorded with the outcome in the
    // same transaction, so that concurrent submissions with one key make one job.
    virtual SubmitOutcome submit(const Original& original, const NewJob& job) = 0;
    // Removes up to `limit` Idempotency-Keys recorded before `before` (unix
    // ms), oldest first; returns how many (periodic upkeep: bounded work).
    virtual int purgeIdempotencyKeys(int64_t before, int limit) = 0;

    // Several jobs of one source (a submit with `jobs`), in one transaction:
    // the original (if new), then each job unless an equal one (same dedup
    // key) is queued, running or succeeded, or came earlier in `jobs`; all or
    // nothing. The outcomes are in the order of `jobs`. No Idempotency-Key.
    virtual std::vector<SubmitOutcome> submitAll(const Original& original, const std::vector<NewJob>& jobs) = 0;

    // Batches: all jobs in one transaction (dedup applies to each).
    virtual Batch createBatch(const Batch& batch, const std::vector<BatchItem>& items) = 0;

    // Moves up to `max` queued jobs whose run_after has come to running, highest
    // priority first, then oldest; attempts + 1, lease until now + leaseMs, and
    // any outputs of earlier attempts removed.
    virtual std::vector<ClaimedJob> claim(int max, int64_t now, int64_t leaseMs) = 0;

    // Records output of a running attempt; false if the attempt no longer owns the job.
    virtual bool putOutput(const std::string& jobId, int attempt, const Output& output) = 0;
    virtual void setProgress(const std::string& jobId, int attempt, uint32_t done, uint32_t total) = 0;

    // Ends a running attempt; false if it no longer owned the job (canceled, deleted).
    virtual bool finishAttempt(const std::string& jobId, int attempt, const AttemptResult& result) = 0;

    // Gives claimed attempts that never started back to the queue as if they
    // had not been claimed: running → queued, attempts − 1, their attempt
    // history rows removed, their place in the queue kept. Each is
    // conditional on the attempt still owning its job. Returns how many went back.
    virtual int releaseClaims(const std::vector<ClaimedJob>& claimed) = 0;

    // Asynchronous forms of the writes of a running attempt: they return at
    // once and call `done(owned, error)` when the write is durable (owned as
    // the synchronous form returns) or has failed, on a thread of the store
    // (keep it short; nothing there may wait for the store). Writes posted
    // from one thread are committed in the order posted, so an output posted
    // before its attempt's end is durable no later than the end. An end
    // posted as succeeded after an output write of the same attempt failed
    // fails too (nothing changes), and the caller records the attempt again as
    // it sees fit. The defaults call the synchronous forms, then `done`, before
    // returning (so the caller knows of a failed output before it ends the attempt).
    using WriteDone = std::function<void(bool owned, std::exception_ptr error)>;
    // Records that a claimed attempt has begun to run (it left the ready
    // queue). A store that keeps track (SQLite) gives claims that never began
    // back without using their attempt when it requeues a dead daemon's jobs
    // (requeueExpired); others count every claimed attempt as begun, and do
    // nothing here. Asynchronous, as the forms here.
    virtual void beginAttemptAsync(const std::string& /*jobId*/, int /*attempt*/, WriteDone done) {
        if (done) done(true, nullptr);
    }

    virtual void putOutputAsync(const std::string& jobId, int attempt, const Output& output, WriteDone done) {
        bool owned = false;
        std::exception_ptr error;
        try {
            owned = putOutput(jobId, attempt, output);
        } catch (...) {
            error = std::current_exception();
        }
        if (done) done(owned, error);
    }
    virtual void setProgressAsync(const std::string& jobId, int attempt, uint32_t done, uint32_t total,
                                  WriteDone written) {
        std::exception_ptr error;
        try {
            setProgress(jobId, attempt, done, total);
        } catch (...) {
            error = std::current_exception();
        }
        if (written) written(true, error);
    }
    virtual void finishAttemptAsync(const std::string& jobId, int attempt, const AttemptResult& result,
                                    WriteDone done) {
        bool owned = false;
        std::exception_ptr error;
        try {
            owned = finishAttempt(jobId, attempt, result);
        } catch (...) {
            error = std::current_exception();
        }
        if (done) done(owned, error);
    }

    // Queued or running → canceled. Returns the job after, or nullopt if unknown.
    // Throws ApiError 409 if the job had already ended.
    virtual std::optional<Job> cancel(std::string_view id, int64_t now) = 0;
    // Failed or canceled → queued, with `attemptBudget` more attempts (the
    // count of attempts keeps growing: it is the job's history). 409 otherwise.
    virtual std::optional<Job> retry(std::string_view id, int64_t now, int attemptBudget) = 0;
    // Removes the job and its outputs; false if unknown.
    virtual bool remove(std::string_view id) = 0;

    // At start-up: running jobs whose lease has expired go back to the queue
    // (their attempt counted, unless it never began: see beginAttemptAsync).
    // With `all`, every running job does (one daemon owns an SQLite file).
    // Notifications claimed by a dead process become due again the same way.
    virtual int requeueExpired(int64_t now, bool all) = 0;

    // Earliest run_after among queued jobs, if any.
    virtual std::optional<int64_t> nextRunAfter() = 0;

    // Calls `wake` (from a store thread) when another daemon queued work, so
    // idle workers start at once; stores without such a signal never call it.
    virtual void watchForWork(std::function<void()> /*wake*/) {}
};

}  // namespace pixelmill
