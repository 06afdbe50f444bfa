// SqliteJobStore: originals and batches.
#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_job_store.h"

#include <algorithm>

namespace pixelmill {

using namespace sqlite;

OriginalPage SqliteJobStore::listOriginals(const OriginalFilter& filter) {
    std::string sql = kSelectOriginal + " WHERE 1 = 1";
    if (filter.pendingOnly) sql += " AND o.used = 0 AND o.purged_at IS NULL";
    if (filter.beforeSeq) sql += " AND o.rowid < ?1";
    sql += " ORDER BY o.rowid DESC LIMIT ?2";
    int limit = std::clamp(filter.limit, 1, 1000);
    auto db = reader();
    OriginalPage page;
    Statement& s = db->prepare(sql);
    Reset r(s);
    if (filter.beforeSeq) s.bind(1, *filter.beforeSeq);
    s.bind(2, limit + 1);
    while (s.step()) page.originals.push_back(readOriginal(s, 0));
    if (static_cast<int>(page.originals.size()) > limit) {
        page.originals.pop_back();
        page.nextCursor = page.originals.back().seq;
    }
    return page;
}

std::optional<std::string> SqliteJobStore::purgeOriginal(std::string_view id, int64_t now) {
    return write([&](Connection& db) -> std::optional<std::string> {
        auto original = selectOriginalBy(db, "id", id);
        if (!original) return std::nullopt;
        // Checked in the purge's own transaction: no job can come to need it in between.
        std::vector<std::string> needing;
        {
            Statement& s = db.prepare(std::string("SELECT j.id FROM jobs j WHERE j.original_id = ? AND ") +
                                      kNeedsOriginal + " ORDER BY j.seq LIMIT 100");
            Reset r(s);
            s.bind(1, id);
            while (s.step()) needing.push_back(s.text(0));
        }
        if (!needing.empty()) throw originalInUse(id, needing);
        db.prepare("UPDATE originals SET purged_at = coalesce(purged_at, ?) WHERE id = ?").bind(1, now).bind(2, id).run();
        return original->sha256;
    });
}

std::vector<std::string> SqliteJobStore::originalsToExpire(int64_t cutoff, int limit) {
    auto db = reader();
    Statement& s = db->prepare(std::string(
        "SELECT o.id FROM originals o WHERE o.created_at < ? AND o.purged_at IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM jobs j WHERE j.original_id = o.id AND ") + kNeedsOriginal + ") LIMIT ?");
    Reset r(s);
    s.bind(1, cutoff).bind(2, limit);
    std::vector<std::string> ids;
    while (s.step()) ids.push_back(s.text(0));
    return ids;
}

Batch SqliteJobStore::createBatch(const Batch& batch, const std::vector<BatchItem>& items) {
    return write([&](Connection& db) {
        db.prepare("INSERT INTO batches (id, plugin, params, created_at) VALUES (?, ?, ?, ?)")
            .bind(1, batch.id)
            .bind(2, batch.plugin)
            .bind(3, batch.params)
            .bind(4, batch.createdAt)
            .run();
        Batch out = batch;
        out.jobIds.clear();
        int position = 0;
        for (const BatchItem& item : items) {
            bool created = false;
            Original o = upsertOriginal(db, item.original, created);
            std::string jobId;
            if (auto existing = findEqualJob(db, item.job.dedupKey)) {
                jobId = *existing;
                subscribe(db, jobId, item.job);
            } else {
                jobId = insertJob(db, item.job, o).id;
            }
            db.prepare("INSERT INTO batch_jobs (batch_id, position, job_id) VALUES (?, ?, ?)")
                .bind(1, batch.id)
                .bind(2, position++)
                .bind(3, jobId)
                .run();
            out.jobIds.push_back(jobId);
        }
        return out;
    });
}

std::optional<Batch> SqliteJobStore::getBatch(std::string_view id) {
    auto db = reader();
    Batch b;
    {
        Statement& s = db->prepare("SELECT id, plugin, params, created_at FROM batches WHERE id = ?");
        Reset r(s);
        s.bind(1, id);
        if (!s.step()) return std::nullopt;
        b.id = s.text(0);
        b.plugin = s.text(1);
        b.params = s.text(2);
        b.createdAt = s.i64(3);
    }
    Statement& s = db->prepare("SELECT job_id FROM batch_jobs WHERE batch_id = ? ORDER BY position");
    Reset r(s);
    s.bind(1, id);
    while (s.step()) b.jobIds.push_back(s.text(0));
    return b;
}

}  // namespace pixelmill
