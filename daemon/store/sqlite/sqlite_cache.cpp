// SqliteJobStore: the output cache (hits, LFU eviction) and notifications.
#include "store/row_mapping.h"
#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_job_store.h"

#include "common/log.h"

namespace pixelmill {

using namespace sqlite;

void SqliteJobStore::recordHit(const std::string& jobId) {
    // Not worth a wait: rides along with the next group commit.
    writer_->post([jobId](Connection& db) { db.prepare("UPDATE jobs SET hits = hits + 1 WHERE id = ?").bind(1, jobId).run(); },
                  nullptr);
}

std::vector<std::string> SqliteJobStore::evictLeastUsed(uint64_t bytes) {
    return write([&](Connection& db) {
        std::vector<std::string> jobs;
        {
            Statement& s = db.prepare(
                "SELECT j.id, (SELECT SUM(size_bytes) FROM outputs WHERE job_id = j.id) AS size FROM jobs j "
                "WHERE j.state = 'succeeded' AND j.evicted = 0 AND EXISTS (SELECT 1 FROM outputs WHERE job_id = j.id) "
                // Evicted outputs are made again from the original: without it, they would be lost.
                "AND EXISTS (SELECT 1 FROM originals o WHERE o.id = j.original_id AND o.purged_at IS NULL) "
                "ORDER BY j.hits, j.finished_at LIMIT 1000");
            Reset r(s);
            uint64_t freed = 0;
            while (freed < bytes && s.step()) {
                jobs.push_back(s.text(0));
                freed += static_cast<uint64_t>(s.i64(1));
            }
        }
        std::vector<std::string> blobs;
        for (const std::string& id : jobs) {
            db.prepare("UPDATE jobs SET evicted = 1 WHERE id = ?").bind(1, id).run();
            // A chain's kept step results go with its outputs.
            Statement& o = db.prepare("SELECT sha256 FROM outputs WHERE job_id = ?1 "
                                      "UNION ALL SELECT sha256 FROM step_outputs WHERE job_id = ?1");
            Reset r(o);
            o.bind(1, id);
            while (o.step()) blobs.push_back(o.text(0));
            db.prepare("DELETE FROM step_outputs WHERE job_id = ?").bind(1, id).run();
        }
        return blobs;
    });
}

bool SqliteJobStore::requeueEvicted(const std::string& jobId, int64_t now) {
    return write([&](Connection& db) {
        db.prepare(
              "UPDATE jobs SET state = 'queued', evicted = 0, run_after = ?, max_attempts = attempts + max_attempts, "
              "finished_at = NULL, started_at = NULL, duration_seconds = NULL WHERE id = ? AND evicted = 1 "
              "AND state = 'succeeded'")
            .bind(1, now)
            .bind(2, jobId)
            .run();
        if (db.changes() == 0) return false;
        db.prepare("DELETE FROM outputs WHERE job_id = ?").bind(1, jobId).run();
        return true;
    });
}

std::vector<Delivery> SqliteJobStore::claimDeliveries(int max, int64_t now, int64_t leaseMs) {
    return write([&](Connection& db) {
        std::vector<Delivery> out;
        Statement& s = db.prepare(
            "UPDATE deliveries SET lease_until = ?1, attempts = attempts + 1, updated_at = ?2 "
            "WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?2 "
            "AND lease_until < ?2 ORDER BY next_attempt_at LIMIT ?3) "
            "RETURNING " + std::string(rows::kDeliveryColumns));
        Reset r(s);
        s.bind(1, now + leaseMs).bind(2, now).bind(3, max);
        while (s.step()) out.push_back(rows::readDelivery(s, 0));
        return out;
    });
}

void SqliteJobStore::recordDelivery(int64_t id, bool delivered, std::optional<int> status, const std::string& error,
                                    int64_t retryAt, int64_t now) {
    write([&](Connection& db) {
        const char* state = delivered ? "delivered" : (retryAt > 0 ? "pending" : "failed");
        Statement& s = db.prepare(
            "UPDATE deliveries SET state = ?, last_status = ?, last_error = ?, next_attempt_at = ?, lease_until = 0, "
            "updated_at = ? WHERE id = ?");
        s.bind(1, state).bind(2, status).bind(3, error).bind(4, retryAt > 0 ? retryAt : now).bind(5, now).bind(6, id);
        s.run();
    });
}

std::unique_ptr<BlobPin> SqliteJobStore::pinBlob(const std::string& sha256) { return blobPins_.pin(sha256); }

bool SqliteJobStore::removeBlobIfUnreferenced(const std::string& sha256, const std::function<void()>& remove) {
    // A pin is released after its row commits: a read started now sees that row.
    return blobPins_.removeIfUnreferenced(sha256, [&] { return isBlobReferenced(sha256); }, remove);
}

uint64_t SqliteJobStore::countPendingDeliveries() {
    auto db = reader();
    Statement& s = db->prepare("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'");
    Reset r(s);
    return s.step() ? static_cast<uint64_t>(s.i64(0)) : 0;
}

std::map<std::string, uint64_t> SqliteJobStore::countPendingDeliveriesByKind() {
    auto db = reader();
    Statement& s = db->prepare("SELECT kind, COUNT(*) FROM deliveries WHERE state = 'pending' GROUP BY kind");
    Reset r(s);
    std::map<std::string, uint64_t> out;
    while (s.step()) out[s.text(0)] = static_cast<uint64_t>(s.i64(1));
    return out;
}

ConnectionCounts SqliteJobStore::connections() {
    std::lock_guard lock(readersMutex_);
    return {readersInUse_.load(), readers_.size()};
}

}  // namespace pixelmill
