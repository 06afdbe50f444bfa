#pragma once

#include "common/error.h"
#include "jobs/model/job.h"

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill {

struct NewOriginal {
    std::string id;  // used only if the content is new
    std::string sha256;
    std::string filename;
    std::string mediaType;
    uint64_t sizeBytes = 0;
    std::optional<int> width;
    std::optional<int> height;
    std::optional<int> pages;
    int64_t createdAt = 0;
};

// An Idempotency-Key as a submission brings it: the same client and key
// within kIdempotencyKeyLifetimeMs answer with the job the first one made,
// provided the request is the same (its fingerprint).
struct IdempotencyKey {
    std::string client;       // "token:NAME" or "ip:ADDRESS"
    std::string key;          // 1-255 printable ASCII characters
    std::string fingerprint;  // SHA-256 of the request's canonical fields
};

inline constexpr int64_t kIdempotencyKeyLifetimeMs = 24 * 3600 * 1000;

struct NewJob {
    std::string id;
    std::string plugin;
    std::string pluginVersion;
    std::string params;    // canonical JSON
    std::string dedupKey;  // sha256 of source + plugin + version + params
    int priority = 0;
    int maxAttempts = 3;
    std::string callbackUrl;
    std::string callbackEmail;
    int64_t createdAt = 0;
    std::string requestId;                     // the submitting request's X-Request-Id; "" for none
    std::optional<IdempotencyKey> idempotency;  // submit only: see JobStore::submit
};

// The status a submit answers with: 200 when an equal job had already
// succeeded (dedup), 202 otherwise.
inline int submitStatus(const Job& job, bool created) {
    return !created && job.state == JobState::Succeeded ? 200 : 202;
}

struct SubmitOutcome {
    Job job;
    bool created = false;   // false: an equal job already existed (dedup), or the key's (replayed)
    int status = 202;       // submitStatus(), or the first answer's when replayed
    bool replayed = false;  // the Idempotency-Key was known: the job its first submission made
};

// What submit throws for a known Idempotency-Key sent with another request.
inline ApiError idempotencyConflict(const IdempotencyKey& key) {
    return ApiError(422, "idempotency_conflict",
                    "the Idempotency-Key '" + key.key +
                        "' was used for a different request (source, plugin, parameters, priority or callbacks); "
                        "use a new key for a new request",
                    "idempotency_key");
}

struct JobFilter {
    std::optional<JobState> state;
    std::string plugin;
    std::string originalId;
    std::optional<int64_t> createdFrom;  // unix ms, inclusive
    std::optional<int64_t> createdTo;    // unix ms, exclusive
    int limit = 50;
    std::optional<int64_t> beforeSeq;    // cursor: only jobs older than this
};

struct JobPage {
    std::vector<Job> jobs;
    std::optional<int64_t> nextCursor;
};

// How one attempt ended, as the scheduler reports it.
struct AttemptResult {
    enum class Outcome { Succeeded, Failed, Retry, Canceled };
    Outcome outcome = Outcome::Succeeded;
    JobError error;                // Failed, Retry
    double durationSeconds = 0;    // Succeeded
    int64_t retryAt = 0;           // Retry: unix ms
    int64_t endedAt = 0;           // when the attempt returned, unix ms (0: when it is recorded)
};

using StateCounts = std::map<JobState, uint64_t>;

// What /v1/status and the dashboard's overview show: jobs by state and
// originals, as the stores' row_counts table names them ("jobs.<state>",
// "originals"); a negative sum (deltas folded out of order) reads as 0.
struct StoreCounts {
    StateCounts jobs{{JobState::Queued, 0}, {JobState::Running, 0}, {JobState::Succeeded, 0},
                     {JobState::Failed, 0}, {JobState::Canceled, 0}};
    uint64_t originals = 0;

    void add(std::string_view name, int64_t n) {
        auto count = static_cast<uint64_t>(n > 0 ? n : 0);
        if (name == "originals") originals = count;
        else if (name.starts_with("jobs."))
            if (auto st = parseJobState(name.substr(5))) jobs[*st] = count;
    }
};

// A store's batched writes, for /metrics: transactions committed and the
// writes they held (writes per commit is tasks / commits).
struct WriteStats {
    uint64_t commits = 0;
    uint64_t tasks = 0;
};

struct OriginalFilter {
    bool pendingOnly = false;  // not used by any job yet
    int limit = 50;
    std::optional<int64_t> beforeSeq;
};

struct OriginalPage {
    std::vector<Original> originals;
    std::optional<int64_t> nextCursor;
};

// A job of a batch: the original it uses and the job to create.
struct BatchItem {
    NewOriginal original;
    NewJob job;
};

// What purgeOriginal throws when jobs need the original: 409 conflict, the
// message and the error body's `jobs` naming them (the first `jobs` only).
inline ApiError originalInUse(std::string_view id, const std::vector<std::string>& jobs) {
    std::string list;
    for (const std::string& j : jobs) list += (list.empty() ? "" : ", ") + j;
    return ApiError::conflict("conflict", "original '" + std::string(id) + "' is needed by job" +
                                              (jobs.size() == 1 ? " " : "s ") + list +
                                              " (queued, running, or succeeded with evicted outputs to make "
                                              "again); cancel or delete them first")
        .naming(jobs);
}

// The condition, on jobs j, of a job that needs its original's content.
inline constexpr const char* kNeedsOriginal =
    "(j.state IN ('queued', 'running') OR (j.state = 'succeeded' AND j.evicted))";

// A daemon sharing the store with others (PostgreSQL), as /v1/status shows it.
struct NodeStatus {
    std::string id;       // unique per process start
    std::string address;  // host:port it serves
    std::string version;
    int64_t startedAt = 0;    // unix ms
    int64_t heartbeatAt = 0;  // unix ms, last sign of life
    int busy = 0;             // workers running a job
    int workers = 0;          // workers in its pool
};

// Held while a submission refers to a blob that may already exist: a node
// removing unreferenced blobs skips the blob until it is released.
class BlobPin {
public:
    virtual ~BlobPin() = default;
};

// The job store: originals, jobs and their outputs. Thread-safe: every method
// may be called from any thread. Writes are atomic and durable when they
// return. State changes are conditional on the state they start from, so a
// caller that lost a race (a job canceled while it ran) changes nothing.
class JobStore {
public:
    virtual ~JobStore() = default;

    // Stores the original if its content is new; returns it and whether it was created.
    virtual std::pair<Original, bool> putOriginal(const NewOriginal& original) = 0;
    virtual std::optional<Original> getOriginal(std::string_view id) = 0;

    // In one transaction: stores the original (if new) and the job, unless a
    // job with the same dedup key is queued, running or succeeded; then that
    // job is returned with created = false.
    // With job.idempotency, first: a key of the client's kept (younger than
    // kIdempotencyKeyLifetimeMs at job.createdAt) whose job still exists
    // answers with that job and the first status (replayed), or throws
    // idempotencyConflict() when its fingerprint differs; nothing else is
    // written then. Otherwise the key is recorded with the outcome in the
    // same transaction, so that concurrent submissions with one key make one job.
    virtual SubmitOutcome submit(const NewOriginal& original, const NewJob& job) = 0;
    // Removes up to `limit` Idempotency-Keys recorded before `before` (unix
    // ms), oldest first; returns how many (periodic upkeep: bounded work).
    virtual int purgeIdempotencyKeys(int64_t before, int limit) = 0;

    virtual std::optional<Job> getJob(std::string_view id) = 0;
    virtual JobPage listJobs(const JobFilter& filter) = 0;

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

    // Jobs by state and originals, from one read (one round trip to a database server).
    virtual StoreCounts counts() = 0;
    StateCounts countByState() { return counts().jobs; }
    uint64_t countOriginals() { return counts().originals; }
    virtual uint64_t countQueued() = 0;
    // Since when the longest-waiting ready job (queued, due) has waited, if any.
    virtual std::optional<int64_t> oldestReadySince(int64_t now) = 0;
    // Earliest run_after among queued jobs, if any.
    virtual std::optional<int64_t> nextRunAfter() = 0;

    // True if a kept original or a non-evicted output refers to the blob.
    virtual bool isBlobReferenced(const std::string& sha256) = 0;

    // Originals.
    virtual OriginalPage listOriginals(const OriginalFilter& filter) = 0;
    // Marks the original's content removed; returns its blob name, or nullopt
    // if unknown. In the same transaction it checks that no job needs the
    // content: none queued or running, none succeeded whose evicted outputs
    // would have to be made again from it; otherwise it throws
    // originalInUse() and changes nothing.
    virtual std::optional<std::string> purgeOriginal(std::string_view id, int64_t now) = 0;
    // Originals created before `cutoff` whose content is kept and that no job
    // needs (as purgeOriginal judges).
    virtual std::vector<std::string> originalsToExpire(int64_t cutoff, int limit) = 0;

    // Batches: all jobs in one transaction (dedup applies to each).
    virtual Batch createBatch(const Batch& batch, const std::vector<BatchItem>& items) = 0;
    virtual std::optional<Batch> getBatch(std::string_view id) = 0;

    // The output cache. A download counts a hit (fire and forget).
    virtual void recordHit(const std::string& jobId) = 0;
    // Marks succeeded jobs evicted, least frequently used first (oldest first
    // among equals), until their outputs add up to `bytes`; returns the blobs
    // those outputs used.
    virtual std::vector<std::string> evictLeastUsed(uint64_t bytes) = 0;
    // An evicted job goes back to the queue to make its outputs again.
    virtual bool requeueEvicted(const std::string& jobId, int64_t now) = 0;

    // Notifications, created when a job with callbacks ends.
    virtual std::vector<Delivery> claimDeliveries(int max, int64_t now, int64_t leaseMs) = 0;
    // Records an attempt: delivered, or failed with a next try at `retryAt`
    // (0: give up).
    virtual void recordDelivery(int64_t id, bool delivered, std::optional<int> status, const std::string& error,
                                int64_t retryAt, int64_t now) = 0;
    virtual uint64_t countPendingDeliveries() = 0;

    // Several daemons ----------------------------------------------------------
    // The defaults fit a store that one daemon owns (SQLite, the lock file).

    // True when other daemons may share the store: then node heartbeats and
    // leases, not the start of a process, decide which running jobs are orphaned.
    virtual bool shared() const { return false; }
    // The id this daemon writes as the lease owner of the jobs it claims.
    virtual std::string nodeId() const { return {}; }
    // Records this daemon alive (insert or update) and extends the leases of
    // the jobs it runs to `leaseUntil`; a store may leave a lease alone while
    // most of it is left (heartbeatAt to leaseUntil is the lease's length).
    virtual void heartbeat(const NodeStatus& /*self*/, int64_t /*leaseUntil*/) {}
    // Running jobs owned by daemons whose last heartbeat is before `deadBefore`
    // go back to the queue (the attempt counts: a job that keeps killing nodes
    // fails in the end), their deliveries become due; those daemons are
    // forgotten. Returns how many jobs were requeued.
    virtual int rescueDeadNodes(int64_t /*deadBefore*/, int64_t /*now*/) { return 0; }
    // The daemons that sent a heartbeat after `since`, oldest start first.
    virtual std::vector<NodeStatus> nodes(int64_t /*since*/) { return {}; }
    // What /v1/status shows of the store: counts() and nodes(nodesSince), read
    // together (one round trip to a database server: a status call under load
    // waits for the server once, not twice).
    struct StatusSnapshot {
        StoreCounts counts;
        std::vector<NodeStatus> nodes;
    };
    virtual StatusSnapshot statusSnapshot(int64_t nodesSince) { return {counts(), nodes(nodesSince)}; }
    // Calls `wake` (from a store thread) when another daemon queued work, so
    // idle workers start at once; stores without such a signal never call it.
    virtual void watchForWork(std::function<void()> /*wake*/) {}
    // Pins a blob a submission or an output is about to refer to; see
    // BlobPin. A pin asked for while the blob is being removed waits for the
    // removal, so the holder then finds the blob kept or gone. nullptr:
    // nothing to pin.
    virtual std::unique_ptr<BlobPin> pinBlob(const std::string& /*sha256*/) { return nullptr; }
    // Calls `remove` if no row refers to the blob and no daemon pins it, in a
    // way that no daemon can refer to it in between. True if it was removed.
    virtual bool removeBlobIfUnreferenced(const std::string& sha256, const std::function<void()>& remove) {
        if (isBlobReferenced(sha256)) return false;
        remove();
        return true;
    }

    // Dashboard queries ------------------------------------------------------
    // What the pages of http/dashboard read; nothing else depends on them.
    // Each is served by an index (migration 003), so that the pages stay in
    // the milliseconds at 100k jobs (bench/dashboard.sh measures them).
    struct DashboardJobQuery {
        std::optional<JobState> state;
        std::string plugin;
        std::string search;                // a job id prefix, or a filename prefix (ASCII case-insensitive)
        std::optional<int64_t> beforeSeq;  // older than this (next page)
        std::optional<int64_t> afterSeq;   // newer than this (previous page)
        int limit = 50;
    };
    struct DashboardJobPage {
        std::vector<Job> jobs;               // newest first, with their original; no outputs, deliveries, history
        std::optional<int64_t> olderCursor;  // pass as beforeSeq for the next page
        std::optional<int64_t> newerCursor;  // pass as afterSeq for the previous page
    };
    struct FinishedJob {
        int64_t finishedAt = 0;
        JobState state = JobState::Succeeded;
        std::optional<double> durationSeconds;
    };
    struct ErrorCount {
        std::string plugin;
        std::string code;
        uint64_t jobs = 0;
    };
    struct OriginalUsage {
        uint64_t jobs = 0;
        std::vector<Job> latest;  // id, plugin, state, created_at only
    };
    virtual DashboardJobPage dashboardJobs(const DashboardJobQuery& query) = 0;
    // Every job that finished at or after `since` (unix ms), oldest first.
    virtual std::vector<FinishedJob> finishedSince(int64_t since) = 0;
    // Failed jobs by plugin and error code, most first.
    virtual std::vector<ErrorCount> failuresByCode() = 0;
    // The jobs that failed last, latest first (no children).
    virtual std::vector<Job> latestFailures(int limit) = 0;
    // For each original: how many jobs used it and the `latest` newest of them.
    virtual std::map<std::string, OriginalUsage> originalUsage(const std::vector<std::string>& originalIds,
                                                               int latest) = 0;
};

}  // namespace pixelmill
