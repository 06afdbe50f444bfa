#pragma once

#include "common/clock.h"
#include "store/connection_counts.h"
#include "store/job_store.h"
#include "store/lost_outputs.h"
#include "store/postgres/pool.h"
#include "store/postgres/submit_group.h"
#include "store/postgres/write_queue.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace pixelmill {

namespace pg {
class WorkWatcher;
}

// JobStore on PostgreSQL, shared by several daemons (JobStore::shared()).
// Every call borrows a pooled connection for its statement or transaction.
// Jobs are claimed with FOR UPDATE SKIP LOCKED and carry this daemon's node
// id as their lease owner: an attempt is recorded only while the job is
// running, at that attempt and owned by this node, so a daemon that was
// presumed dead and wakes up later changes nothing. Equal submissions from
// several daemons meet on an advisory lock of their dedup key; blob pins are
// shared advisory locks that a removal must take exclusively. A transaction
// that makes a job ready notifies `pixelmill_jobs`.
// While the database cannot be reached every call throws ApiError 503
// (store_unavailable); the pool reconnects by itself.
// Thread-safe: see JobStore; the pool guards its connections.
class PostgresJobStore final : public JobStore {
public:
    struct Options {
        std::string nodeId;  // the lease owner of the jobs this daemon claims; a new id if empty
        int poolSize = 4;    // connections kept open between calls
        // This daemon's clock (nowMs if empty). The times callers pass to
        // heartbeat, claim, requeueExpired, rescueDeadNodes and nodes are its
        // readings; they are moved onto the database's clock (now()) before
        // they are stored or compared, so that daemons whose clocks disagree
        // still agree on who is alive and which lease has run out.
        std::function<int64_t()> clock;
    };

    // Connects (a libpq URI such as postgres://user@127.0.0.1:5432/db) and
    // applies the migrations; throws ApiError 503 if the database is unreachable.
    PostgresJobStore(const std::string& conninfo, Options options);
    ~PostgresJobStore() override;

    // Schema version after migrations (the highest in schema_migrations).
    int schemaVersion();

    std::pair<Original, bool> putOriginal(const Original& original) override;
    std::optional<Original> getOriginal(std::string_view id) override;
    SubmitOutcome submit(const Original& original, const NewJob& job) override;
    std::vector<SubmitOutcome> submitAll(const Original& original, const std::vector<NewJob>& jobs) override;
    int purgeIdempotencyKeys(int64_t before, int limit) override;
    std::optional<Job> getJob(std::string_view id) override;
    JobPage listJobs(const JobFilter& filter) override;
    std::vector<ClaimedJob> claim(int max, int64_t now, int64_t leaseMs) override;
    bool putOutput(const std::string& jobId, int attempt, const Output& output) override;
    void setProgress(const std::string& jobId, int attempt, uint32_t done, uint32_t total) override;
    bool finishAttempt(const std::string& jobId, int attempt, const AttemptResult& result) override;
    // The attempts' writes committed (writes_): transactions and writes they held.
    WriteStats writeStats() const { return {writes_.commits(), writes_.tasks()}; }
    // A running attempt's writes go through writes_: many attempts' outputs
    // and ends to a transaction, while the worker that posted them runs the next job.
    void putOutputAsync(const std::string& jobId, int attempt, const Output& output, WriteDone done) override;
    void setProgressAsync(const std::string& jobId, int attempt, uint32_t done, uint32_t total,
                          WriteDone written) override;
    void finishAttemptAsync(const std::string& jobId, int attempt, const AttemptResult& result,
                            WriteDone done) override;
    int releaseClaims(const std::vector<ClaimedJob>& claimed) override;
    std::optional<Job> cancel(std::string_view id, int64_t now) override;
    std::optional<Job> retry(std::string_view id, int64_t now, int attemptBudget) override;
    bool remove(std::string_view id) override;
    // Running jobs whose lease has passed go back to the queue. With `all`,
    // this daemon's own running jobs too, never another daemon's: those are
    // rescueDeadNodes' to judge (a restarted daemon has a new id and owns none).
    int requeueExpired(int64_t now, bool all) override;
    StoreCounts counts() override;
    uint64_t countQueued() override;
    std::optional<int64_t> nextRunAfter() override;
    std::optional<int64_t> oldestReadySince(int64_t now) override;
    bool isBlobReferenced(const std::string& sha256) override;

    // Originals and batches (postgres_originals.cpp).
    OriginalPage listOriginals(const OriginalFilter& filter) override;
    std::optional<std::string> purgeOriginal(std::string_view id, int64_t now) override;
    std::vector<std::string> originalsToExpire(int64_t cutoff, int limit) override;
    Batch createBatch(const Batch& batch, const std::vector<BatchItem>& items) override;
    std::optional<Batch> getBatch(std::string_view id) override;

    // The output cache and notifications (postgres_cache.cpp).
    void recordHit(const std::string& jobId) override;
    std::vector<std::string> evictLeastUsed(uint64_t bytes) override;
    bool requeueEvicted(const std::string& jobId, int64_t now) override;
    std::vector<Delivery> claimDeliveries(int max, int64_t now, int64_t leaseMs) override;
    void recordDelivery(int64_t id, bool delivered, std::optional<int> status, const std::string& error,
                        int64_t retryAt, int64_t now) override;
    uint64_t countPendingDeliveries() override;
    // Pending deliveries by kind (webhook, email), for the metrics.
    std::map<std::string, uint64_t> countPendingDeliveriesByKind();
    // This process's connections to PostgreSQL, for the metrics.
    ConnectionCounts connections() const { return {pool_.inUse(), pool_.idle()}; }

    // Several daemons (postgres_cluster.cpp).
    bool shared() const override { return true; }
    std::string nodeId() const override { return nodeId_; }
    // Upserts this node's row (under nodeId(), whatever self.id says) and
    // extends the leases of the jobs it runs.
    void heartbeat(const NodeStatus& self, int64_t leaseUntil) override;
    // Also requeues running jobs whose lease has passed or whose owner has no
    // row (it was forgotten); their open attempts end as `retry`. A job that
    // had used its last attempt fails instead (`node_lost`), notifications
    // and all: a job that kills every daemon running it is not requeued forever.
    int rescueDeadNodes(int64_t deadBefore, int64_t now) override;
    std::vector<NodeStatus> nodes(int64_t since) override;
    StatusSnapshot statusSnapshot(int64_t nodesSince) override;
    // A second call replaces the first one's watcher.
    void watchForWork(std::function<void()> wake) override;
    std::unique_ptr<BlobPin> pinBlob(const std::string& sha256) override;
    bool removeBlobIfUnreferenced(const std::string& sha256, const std::function<void()>& remove) override;

    // Dashboard queries (postgres_dashboard.cpp).
    DashboardJobPage dashboardJobs(const DashboardJobQuery& query) override;
    std::vector<FinishedJob> finishedSince(int64_t since) override;
    std::vector<ErrorCount> failuresByCode() override;
    std::vector<Job> latestFailures(int limit) override;
    std::map<std::string, OriginalUsage> originalUsage(const std::vector<std::string>& originalIds,
                                                       int latest) override;

    std::vector<Preset> listPresets() override;
    std::optional<Preset> getPreset(std::string_view name) override;
    bool savePreset(const Preset& preset) override;
    bool deletePreset(std::string_view name) override;

    std::optional<std::vector<Output>> findStepOutputs(const std::string& stepKey) override;
    void saveStepOutputs(const std::string& stepKey, const std::string& jobId, const std::vector<Output>& outputs,
                         int64_t now) override;
    void setStepsProgress(const std::string& jobId, int attempt, const std::string& stepsProgress) override;

private:
    // A count or a minimum of one row.
    std::optional<int64_t> scalar(const std::string& sql, std::initializer_list<pg::Value> params = {});
    // Sums of row_counts and row_count_deltas (migrations/003_row_counts.sql),
    // folding the deltas first when no fold (the heartbeat's) came in 10 s.
    std::map<std::string, int64_t> rowCounts();
    void foldCounts(pg::Connection& c);
    void foldCountsIfIdle(pg::Connection& c);  // if the heartbeat has not for 10 s
    void vacuumChurningTables(pg::Connection& c);
    void analyzeGrowingTables(pg::Connection& c);
    bool putOutputIn(pg::Connection& c, const std::string& jobId, int attempt, const Output& output);
    void setProgressIn(pg::Connection& c, const std::string& jobId, int attempt, uint32_t done, uint32_t total);
    bool finishAttemptIn(pg::Connection& c, const std::string& jobId, int attempt, const AttemptResult& result);
    // The submits that arrived together, in one transaction (see submits_).
    std::vector<SubmitOutcome> submitGroup(const std::vector<const BatchItem*>& items);

    // A reading of this daemon's clock, the reference of the times callers pass.
    int64_t localNow() const { return clock_ ? clock_() : nowMs(); }

    std::string conninfo_;
    std::string nodeId_;
    std::function<int64_t()> clock_;
    pg::Pool pool_;
    // Concurrent submits share a transaction and its commit.
    pg::SubmitGroup<BatchItem, SubmitOutcome> submits_;
    // Set by failed output writes, read by the attempt's end (see JobStore::finishAttemptAsync).
    LostOutputs lostOutputs_;
    pg::WriteQueue writes_;  // after pool_, which it uses

    std::mutex watcherMutex_;
    std::unique_ptr<pg::WorkWatcher> watcher_;
    std::atomic<int64_t> lastFoldMs_{0};
    int64_t lastVacuumMs_ = 0;  // the heartbeat's thread only
};

}  // namespace pixelmill
