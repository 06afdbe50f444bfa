// PostgresJobStore: the output cache (hits, LFU eviction) and notifications.
#include "store/postgres/postgres_job_store.h"

#include "store/postgres/rows.h"

#include "common/log.h"

namespace pixelmill {

using namespace pg;

void PostgresJobStore::recordHit(const std::string& jobId) {
    // Fire and forget: a download does not fail because its count could not be kept.
    try {
        pool_.run([&](Connection& c) { c.query("UPDATE jobs SET hits = hits + 1 WHERE id = $1", {jobId}); });
    } catch (const std::exception& e) {
        log::warn("hit_not_recorded", {{"job", jobId}, {"error", e.what()}});
    }
}

std::vector<std::string> PostgresJobStore::evictLeastUsed(uint64_t bytes) {
    return pool_.transaction([&](Connection& c) {
        std::vector<std::string> candidates;
        uint64_t freed = 0;
        for (Row r : c.query("SELECT j.id, (SELECT sum(size_bytes) FROM outputs WHERE job_id = j.id) "
                             "FROM jobs j" + kJoinStates +
                             " WHERE s.state = 'succeeded' AND NOT s.evicted "
                             "AND EXISTS (SELECT 1 FROM outputs WHERE job_id = j.id) "
                             // Evicted outputs are made again from the original: without it, they would be lost.
                             "AND EXISTS (SELECT 1 FROM originals o WHERE o.id = j.original_id AND o.purged_at IS NULL) "
                             "ORDER BY s.hits, s.finished_at LIMIT 1000")) {
            if (freed >= bytes) break;
            candidates.push_back(r.text(0));
            freed += static_cast<uint64_t>(r.i64(1));
        }
        if (candidates.empty()) return std::vector<std::string>{};
        // Their originals held still: a purge (which locks the original) waits, or has committed and is seen below.
        c.query("SELECT 1 FROM originals o JOIN jobs j ON j.original_id = o.id WHERE j.id = ANY($1::text[]) "
                "FOR SHARE OF o",
                {array(candidates)});
        // Another daemon may be evicting too: each job's blobs are reported by the one that evicted it.
        std::vector<std::string> blobs;
        for (Row r : c.query("WITH evicted AS (UPDATE jobs j SET evicted = true WHERE j.id = ANY($1::text[]) "
                             "AND j.state = 'succeeded' AND NOT j.evicted AND EXISTS (SELECT 1 FROM originals o "
                             "WHERE o.id = j.original_id AND o.purged_at IS NULL) RETURNING j.id, j.hits, j.finished_at), "
                             // A chain's kept step results go with its outputs.
                             "steps AS (DELETE FROM step_outputs s USING evicted e WHERE s.job_id = e.id "
                             "RETURNING s.sha256) "
                             "(SELECT x.sha256 FROM evicted e JOIN outputs x ON x.job_id = e.id "
                             "ORDER BY e.hits, e.finished_at, e.id, x.idx) UNION ALL (SELECT sha256 FROM steps)",
                             {array(candidates)}))
            blobs.push_back(r.text(0));
        return blobs;
    });
}

bool PostgresJobStore::requeueEvicted(const std::string& jobId, int64_t now) {
    return pool_.transaction([&](Connection& c) {
        Result r = c.query(
            "UPDATE jobs SET state = 'queued', evicted = false, run_after = $2, "
            "max_attempts = attempts + max_attempts, finished_at = NULL, started_at = NULL, duration_seconds = NULL WHERE id = $1 AND evicted "
            "AND state = 'succeeded'",
            {jobId, now});
        if (r.affected() == 0) return false;
        c.query("DELETE FROM outputs WHERE job_id = $1", {jobId});
        notifyWork(c, nodeId_);
        return true;
    });
}

std::vector<Delivery> PostgresJobStore::claimDeliveries(int max, int64_t now, int64_t leaseMs) {
    if (max <= 0) return {};
    return pool_.run([&](Connection& c) {
        std::vector<Delivery> out;
        for (Row r : c.query("UPDATE deliveries SET lease_until = $1, lease_owner = $4, attempts = attempts + 1, "
                             "updated_at = $2 "
                             "WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $2 "
                             "AND lease_until < $2 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
                             "RETURNING " + kDeliveryColumns,
                             {now + leaseMs, now, max, nodeId_}))
            out.push_back(readDelivery(r, 0));
        return out;
    });
}

void PostgresJobStore::recordDelivery(int64_t id, bool delivered, std::optional<int> status, const std::string& error,
                                      int64_t retryAt, int64_t now) {
    const char* state = delivered ? "delivered" : (retryAt > 0 ? "pending" : "failed");
    pool_.run([&](Connection& c) {
        c.query("UPDATE deliveries SET state = $2, last_status = $3, last_error = $4, next_attempt_at = $5, "
                "lease_until = 0, lease_owner = NULL, updated_at = $6 WHERE id = $1",
                {id, state, status, error, retryAt > 0 ? retryAt : now, now});
    });
}

uint64_t PostgresJobStore::countPendingDeliveries() {
    return static_cast<uint64_t>(scalar("SELECT count(*) FROM deliveries WHERE state = 'pending'").value_or(0));
}

std::map<std::string, uint64_t> PostgresJobStore::countPendingDeliveriesByKind() {
    return pool_.run([](Connection& c) {
        std::map<std::string, uint64_t> out;
        for (Row r : c.query("SELECT kind, count(*) FROM deliveries WHERE state = 'pending' GROUP BY kind"))
            out[r.text(0)] = static_cast<uint64_t>(r.i64(1));
        return out;
    });
}

}  // namespace pixelmill
