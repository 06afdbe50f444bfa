// PostgresJobStore: originals and batches.
#include "store/postgres/postgres_job_store.h"

#include "store/postgres/rows.h"

#include <algorithm>

namespace pixelmill {

using namespace pg;

OriginalPage PostgresJobStore::listOriginals(const OriginalFilter& filter) {
    Bindings p;
    std::string sql = kSelectOriginal + " WHERE true";
    if (filter.pendingOnly) sql += " AND NOT o.used AND o.purged_at IS NULL";
    if (filter.beforeSeq) sql += " AND o.seq < " + p(*filter.beforeSeq);
    int limit = std::clamp(filter.limit, 1, 1000);
    sql += " ORDER BY o.seq DESC LIMIT " + p(limit + 1);
    return pool_.run([&](Connection& c) {
        OriginalPage page;
        for (Row r : c.query(sql, p.values())) page.originals.push_back(readOriginal(r, 0));
        if (static_cast<int>(page.originals.size()) > limit) {
            page.originals.pop_back();
            page.nextCursor = page.originals.back().seq;
        }
        return page;
    });
}

std::optional<std::string> PostgresJobStore::purgeOriginal(std::string_view id, int64_t now) {
    return pool_.transaction([&](Connection& c) -> std::optional<std::string> {
        // The row locked: a submission using the original waits until this ends.
        Result o = c.query("SELECT sha256 FROM originals WHERE id = $1 FOR UPDATE", {id});
        if (o.empty()) return std::nullopt;
        std::vector<std::string> needing;
        for (Row r : c.query(std::string("SELECT j.id FROM jobs j WHERE j.original_id = $1 AND ") + kNeedsOriginal +
                                 " ORDER BY j.seq LIMIT 100",
                             {id}))
            needing.push_back(r.text(0));
        if (!needing.empty()) throw originalInUse(id, needing);
        c.query("UPDATE originals SET purged_at = coalesce(purged_at, $2) WHERE id = $1", {id, now});
        return o.front().text(0);
    });
}

std::vector<std::string> PostgresJobStore::originalsToExpire(int64_t cutoff, int limit) {
    return pool_.run([&](Connection& c) {
        std::vector<std::string> ids;
        for (Row r : c.query(std::string("SELECT o.id FROM originals o WHERE o.created_at < $1 AND o.purged_at IS NULL "
                                         "AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.original_id = o.id AND ") +
                                 kNeedsOriginal + ") LIMIT $2",
                             {cutoff, limit}))
            ids.push_back(r.text(0));
        return ids;
    });
}

Batch PostgresJobStore::createBatch(const Batch& batch, const std::vector<BatchItem>& items) {
    std::vector<const BatchItem*> pointers;
    for (const BatchItem& item : items) pointers.push_back(&item);
    return pool_.transaction([&](Connection& c) {
        c.query("INSERT INTO batches (id, plugin, params, created_at) VALUES ($1, $2, $3, $4)",
                {batch.id, batch.plugin, batch.params, batch.createdAt});
        Batch out = batch;
        out.jobIds.clear();
        for (const Enqueued& e : enqueue(c, pointers, nodeId_)) out.jobIds.push_back(e.jobId);
        c.query("INSERT INTO batch_jobs (batch_id, position, job_id) "
                "SELECT $1, pos - 1, job_id FROM unnest($2::text[]) WITH ORDINALITY AS j (job_id, pos)",
                {batch.id, array(out.jobIds)});
        return out;
    });
}

std::optional<Batch> PostgresJobStore::getBatch(std::string_view id) {
    return pool_.run([&](Connection& c) -> std::optional<Batch> {
        Result r = c.query("SELECT id, plugin, params, created_at FROM batches WHERE id = $1", {id});
        if (r.empty()) return std::nullopt;
        Batch b;
        b.id = r.front().text(0);
        b.plugin = r.front().text(1);
        b.params = r.front().text(2);
        b.createdAt = r.front().i64(3);
        for (Row j : c.query("SELECT job_id FROM batch_jobs WHERE batch_id = $1 ORDER BY position", {id}))
            b.jobIds.push_back(j.text(0));
        return b;
    });
}

}  // namespace pixelmill
