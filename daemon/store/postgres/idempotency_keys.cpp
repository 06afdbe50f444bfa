#include "store/postgres/idempotency_keys.h"

#include "store/postgres/rows.h"

#include <map>
#include <utility>

namespace pixelmill::pg {

namespace {

constexpr int kIdempotencyLockSpace = 1886218859;  // after the dedup locks' 'pmjb'
constexpr int kIdempotencyBuckets = 256;

}  // namespace

std::vector<std::optional<SubmitOutcome>> replayIdempotencyKeys(Connection& c,
                                                                const std::vector<const BatchItem*>& items) {
    std::vector<std::optional<SubmitOutcome>> out(items.size());
    std::vector<std::string> clients, keys, lockKeys;
    for (const BatchItem* item : items) {
        if (!item->job.idempotency) continue;
        clients.push_back(item->job.idempotency->client);
        keys.push_back(item->job.idempotency->key);
        lockKeys.push_back(clients.back() + "\n" + keys.back());
    }
    if (keys.empty()) return out;
    // Taken before enqueue's dedup locks, in every transaction: no deadlock.
    c.query("SELECT count(pg_advisory_xact_lock($2, b)) FROM (SELECT DISTINCT (hashtextextended(k, 0) & $3)::int AS b "
            "FROM unnest($1::text[]) AS k ORDER BY 1) AS buckets",
            {array(lockKeys), kIdempotencyLockSpace, kIdempotencyBuckets - 1});
    struct Kept {
        std::string jobId, fingerprint;
        int status = 0;
        int64_t createdAt = 0;
    };
    std::map<std::pair<std::string, std::string>, Kept> kept;
    for (Row r : c.query("SELECT client, idem_key, job_id, fingerprint, status, created_at FROM idempotency_keys "
                         "WHERE (client, idem_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
                         {array(clients), array(keys)}))
        kept[{r.text(0), r.text(1)}] = Kept{r.text(2), r.text(3), r.i32(4), r.i64(5)};
    for (size_t i = 0; i < items.size(); ++i) {
        const NewJob& job = items[i]->job;
        if (!job.idempotency) continue;
        auto found = kept.find({job.idempotency->client, job.idempotency->key});
        if (found == kept.end() || found->second.createdAt < job.createdAt - kIdempotencyKeyLifetimeMs) continue;
        auto first = selectJob(c, found->second.jobId, false);
        if (!first) continue;  // deleted: the key is free again
        if (found->second.fingerprint != job.idempotency->fingerprint) throw idempotencyConflict(*job.idempotency);
        out[i] = SubmitOutcome{std::move(*first), false, found->second.status, true};
    }
    return out;
}

void recordIdempotencyKeys(Connection& c, const std::vector<const BatchItem*>& items,
                           const std::vector<SubmitOutcome>& outcomes) {
    std::vector<Value> client, key, jobId, fingerprint, status, createdAt;
    for (size_t i = 0; i < items.size(); ++i) {
        const NewJob& job = items[i]->job;
        if (!job.idempotency) continue;
        client.emplace_back(job.idempotency->client);
        key.emplace_back(job.idempotency->key);
        jobId.emplace_back(outcomes[i].job.id);
        fingerprint.emplace_back(job.idempotency->fingerprint);
        status.emplace_back(outcomes[i].status);
        createdAt.emplace_back(job.createdAt);
    }
    if (client.empty()) return;
    c.query("INSERT INTO idempotency_keys (client, idem_key, job_id, fingerprint, status, created_at) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[]) "
            "ON CONFLICT (client, idem_key) DO UPDATE SET job_id = excluded.job_id, "
            "fingerprint = excluded.fingerprint, status = excluded.status, created_at = excluded.created_at",
            {array(client), array(key), array(jobId), array(fingerprint), array(status), array(createdAt)});
}

}  // namespace pixelmill::pg
