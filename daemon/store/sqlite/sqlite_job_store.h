#pragma once

#include "store/blob_pins.h"
#include "store/connection_counts.h"
#include "store/job_store.h"
#include "store/lost_outputs.h"
#include "store/sqlite/checkpointer.h"
#include "store/sqlite/db.h"
#include "store/sqlite/write_queue.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace pixelmill {

// JobStore on one SQLite file in WAL mode. All writes go through one
// WriteQueue (one connection, group commit); reads use a pool of read-only
// connections and run in parallel with the writer; a connection goes back to
// the pool with no statement open, so no reader keeps a snapshot between two
// calls. The WAL stays bounded (sqlite::Checkpointer): copied into the
// database off the commit path, started over by the writer between commits.
// Thread-safe: see JobStore.
class SqliteJobStore final : public JobStore {
public:
    struct Options {
        bool fsync = true;  // synchronous=FULL, else NORMAL (crash-safe, not power-safe)
        int checkpointIntervalMs = 250;
        int64_t walRestartBytes = 16 << 20;  // the WAL starts over once it holds this much
    };

    SqliteJobStore(const std::string& path, Options options);
    ~SqliteJobStore() override;

    // Schema version after migrations (PRAGMA user_version).
    int schemaVersion();
    // The WAL's size and the checkpoints' results, for /metrics.
    sqlite::Checkpointer::Stats walStats() const { return checkpointer_->stats(); }
    // Transactions committed and writes they held, for /metrics (writes per commit).
    WriteStats writeStats() const { return {writer_->commits(), writer_->tasks()}; }

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
    int releaseClaims(const std::vector<ClaimedJob>& claimed) override;
    // Posted to the writer: they join the next group commit (sqlite_attempts.cpp).
    void beginAttemptAsync(const std::string& jobId, int attempt, WriteDone done) override;
    void putOutputAsync(const std::string& jobId, int attempt, const Output& output, WriteDone done) override;
    void setProgressAsync(const std::string& jobId, int attempt, uint32_t done, uint32_t total,
                          WriteDone written) override;
    void finishAttemptAsync(const std::string& jobId, int attempt, const AttemptResult& result,
                            WriteDone done) override;
    std::optional<Job> cancel(std::string_view id, int64_t now) override;
    std::optional<Job> retry(std::string_view id, int64_t now, int attemptBudget) override;
    bool remove(std::string_view id) override;
    int requeueExpired(int64_t now, bool all) override;
    StoreCounts counts() override;
    uint64_t countQueued() override;
    std::optional<int64_t> nextRunAfter() override;
    std::optional<int64_t> oldestReadySince(int64_t now) override;
    bool isBlobReferenced(const std::string& sha256) override;

    OriginalPage listOriginals(const OriginalFilter& filter) override;
    std::optional<std::string> purgeOriginal(std::string_view id, int64_t now) override;
    std::vector<std::string> originalsToExpire(int64_t cutoff, int limit) override;
    Batch createBatch(const Batch& batch, const std::vector<BatchItem>& items) override;
    std::optional<Batch> getBatch(std::string_view id) override;
    void recordHit(const std::string& jobId) override;
    std::vector<std::string> evictLeastUsed(uint64_t bytes) override;
    bool requeueEvicted(const std::string& jobId, int64_t now) override;
    std::vector<Delivery> claimDeliveries(int max, int64_t now, int64_t leaseMs) override;
    void recordDelivery(int64_t id, bool delivered, std::optional<int> status, const std::string& error,
                        int64_t retryAt, int64_t now) override;
    uint64_t countPendingDeliveries() override;
    // Pending deliveries by kind (webhook, email), for the metrics.
    std::map<std::string, uint64_t> countPendingDeliveriesByKind();
    // The reader connections (the one writer is not pooled), for the metrics.
    ConnectionCounts connections();
    // In-process pins: eviction, deleting originals and the sweep skip a blob
    // from the moment a submission or an output finds it stored until its
    // row is committed (sqlite_cache.cpp).
    std::unique_ptr<BlobPin> pinBlob(const std::string& sha256) override;
    bool removeBlobIfUnreferenced(const std::string& sha256, const std::function<void()>& remove) override;

    // Dashboard queries (sqlite_dashboard.cpp).
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
    // A read-only connection borrowed from the pool for a scope.
    class ReadLease {
    public:
        ReadLease(SqliteJobStore& store, std::unique_ptr<sqlite::Connection> c) : store_(store), c_(std::move(c)) {
            ++store_.readersInUse_;
        }
        ~ReadLease() {
            if (!c_) return;
            --store_.readersInUse_;
            c_->endReads();
            std::lock_guard lock(store_.readersMutex_);
            store_.readers_.push_back(std::move(c_));
        }
        ReadLease(ReadLease&&) = default;
        sqlite::Connection& operator*() { return *c_; }
        sqlite::Connection* operator->() { return c_.get(); }

    private:
        SqliteJobStore& store_;
        std::unique_ptr<sqlite::Connection> c_;
    };
    ReadLease reader();

    template <class Fn>
    auto write(Fn&& fn) {
        return sqlite::translating([&] { return writer_->run(std::forward<Fn>(fn)); });
    }

    std::string path_;
    Options options_;
    std::unique_ptr<sqlite::Checkpointer> checkpointer_;  // outlives writer_, which calls it
    std::unique_ptr<sqlite::WriteQueue> writer_;

    std::mutex readersMutex_;
    std::vector<std::unique_ptr<sqlite::Connection>> readers_;
    std::atomic<size_t> readersInUse_{0};  // live ReadLeases

    LocalBlobPins blobPins_;

    // Set from the writer's tasks and completions, read by the end's task.
    LostOutputs lostOutputs_;
};

}  // namespace pixelmill
