// PostgresJobStore: opening, submissions, reads and counts.
#include "store/postgres/postgres_job_store.h"

#include "store/postgres/idempotency_keys.h"
#include "store/postgres/rows.h"
#include "store/postgres/work_watcher.h"
#include "store/queued_job.h"

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"

#include <algorithm>
#include <map>

namespace pixelmill {

using namespace pg;

PostgresJobStore::PostgresJobStore(const std::string& conninfo, Options options)
    : conninfo_(conninfo),
      nodeId_(options.nodeId.empty() ? newId() : options.nodeId),
      clock_(std::move(options.clock)),
      pool_(conninfo, static_cast<size_t>(std::max(options.poolSize, 1))),
      submits_([this](const std::vector<const BatchItem*>& items) { return submitGroup(items); }),
      writes_(pool_) {
    pool_.transaction([](Connection& c) { applyMigrations(c); });
}

PostgresJobStore::~PostgresJobStore() {
    std::lock_guard lock(watcherMutex_);
    watcher_.reset();
}

std::optional<int64_t> PostgresJobStore::scalar(const std::string& sql, std::initializer_list<Value> params) {
    return pool_.run([&](Connection& c) -> std::optional<int64_t> {
        Result r = c.query(sql, params);
        if (r.empty() || r.front().isNull(0)) return std::nullopt;
        return r.front().i64(0);
    });
}

int PostgresJobStore::schemaVersion() {
    return static_cast<int>(scalar("SELECT max(version) FROM schema_migrations").value_or(0));
}

std::pair<Original, bool> PostgresJobStore::putOriginal(const Original& original) {
    return pool_.run([&](Connection& c) {
        Original o = upsertOriginals(c, {&original}).front();
        bool created = o.id == original.id;
        return std::make_pair(std::move(o), created);
    });
}

std::optional<Original> PostgresJobStore::getOriginal(std::string_view id) {
    return pool_.run([&](Connection& c) { return selectOriginal(c, id); });
}

SubmitOutcome PostgresJobStore::submit(const Original& original, const NewJob& job) {
    return submits_.run(BatchItem{original, job});
}

namespace {

// What a client is answered for `job`, as enqueue() stored it.
SubmitOutcome outcomeOf(Connection& c, const NewJob& job, const Enqueued& stored) {
    SubmitOutcome o = stored.created ? SubmitOutcome{queuedJob(job, stored.original, stored.seq), true}
                                     : SubmitOutcome{*selectJob(c, stored.jobId, false), false};
    o.status = submitStatus(o.job, o.created);
    return o;
}

}  // namespace

std::vector<SubmitOutcome> PostgresJobStore::submitAll(const Original& original, const std::vector<NewJob>& jobs) {
    std::vector<BatchItem> items;
    for (const NewJob& job : jobs) items.push_back({original, job});
    std::vector<const BatchItem*> pointers;
    for (const BatchItem& item : items) pointers.push_back(&item);
    return pool_.transaction([&](Connection& c) {
        std::vector<Enqueued> stored = enqueue(c, pointers, nodeId_);
        std::vector<SubmitOutcome> out;
        for (size_t i = 0; i < jobs.size(); ++i) out.push_back(outcomeOf(c, jobs[i], stored[i]));
        return out;
    });
}

std::vector<SubmitOutcome> PostgresJobStore::submitGroup(const std::vector<const BatchItem*>& items) {
    return pool_.transaction([&](Connection& c) {
        std::vector<std::optional<SubmitOutcome>> out = replayIdempotencyKeys(c, items);
        // The rest are enqueued, but a second item with a key an earlier one
        // in the group brings: it is answered as that one's replay.
        std::vector<const BatchItem*> fresh;
        std::vector<size_t> freshAt;             // fresh[k] is items[freshAt[k]]
        std::map<size_t, size_t> repeats;        // item -> the index in fresh of its key's first item
        std::map<std::pair<std::string, std::string>, size_t> firstOfKey;
        for (size_t i = 0; i < items.size(); ++i) {
            if (out[i]) continue;
            if (const auto& key = items[i]->job.idempotency) {
                auto [first, isFirst] = firstOfKey.try_emplace({key->client, key->key}, fresh.size());
                if (!isFirst) {
                    if (fresh[first->second]->job.idempotency->fingerprint != key->fingerprint)
                        throw idempotencyConflict(*key);
                    repeats[i] = first->second;
                    continue;
                }
            }
            fresh.push_back(items[i]);
            freshAt.push_back(i);
        }
        std::vector<Enqueued> stored = fresh.empty() ? std::vector<Enqueued>() : enqueue(c, fresh, nodeId_);
        std::vector<SubmitOutcome> outcomes;
        outcomes.reserve(fresh.size());
        for (size_t k = 0; k < fresh.size(); ++k) {
            SubmitOutcome o = outcomeOf(c, fresh[k]->job, stored[k]);
            outcomes.push_back(o);
            out[freshAt[k]] = std::move(o);
        }
        recordIdempotencyKeys(c, fresh, outcomes);
        for (auto [item, first] : repeats) {
            SubmitOutcome o = outcomes[first];
            o.created = false;
            o.replayed = true;
            out[item] = std::move(o);
        }
        std::vector<SubmitOutcome> answers;
        answers.reserve(items.size());
        for (auto& o : out) answers.push_back(std::move(*o));
        return answers;
    });
}

int PostgresJobStore::purgeIdempotencyKeys(int64_t before, int limit) {
    return pool_.run([&](Connection& c) {
        return static_cast<int>(
            c.query("WITH gone AS (DELETE FROM idempotency_keys WHERE (client, idem_key) IN "
                    "(SELECT client, idem_key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at "
                    "LIMIT $2) RETURNING 1) SELECT count(*) FROM gone",
                    {before, limit})
                .front()
                .i64(0));
    });
}

std::optional<Job> PostgresJobStore::getJob(std::string_view id) {
    return pool_.run([&](Connection& c) { return selectJob(c, id); });
}

JobPage PostgresJobStore::listJobs(const JobFilter& filter) {
    Bindings p;
    // By state through job_states' (state, plugin, seq) indexes: jobs has none on state.
    const char* t = filter.state ? "s" : "j";
    std::string sql = kSelectJob + (filter.state ? kJoinStates : std::string()) + " WHERE true";
    if (filter.state) sql += " AND s.state = " + p(toString(*filter.state));
    if (!filter.plugin.empty()) sql += std::string(" AND ") + t + ".plugin = " + p(filter.plugin);
    if (!filter.originalId.empty()) sql += " AND j.original_id = " + p(filter.originalId);
    if (filter.createdFrom) sql += " AND j.created_at >= " + p(*filter.createdFrom);
    if (filter.createdTo) sql += " AND j.created_at < " + p(*filter.createdTo);
    if (filter.beforeSeq) sql += std::string(" AND ") + t + ".seq < " + p(*filter.beforeSeq);
    int limit = std::clamp(filter.limit, 1, 1000);
    sql += std::string(" ORDER BY ") + t + ".seq DESC LIMIT " + p(limit + 1);

    return pool_.run([&](Connection& c) {
        JobPage page;
        for (Row r : c.query(sql, p.values())) page.jobs.push_back(readJob(r));
        if (static_cast<int>(page.jobs.size()) > limit) {
            page.jobs.pop_back();
            page.nextCursor = page.jobs.back().seq;
        }
        loadChildren(c, page.jobs, false);
        return page;
    });
}

void PostgresJobStore::foldCounts(Connection& c) {
    lastFoldMs_.store(nowMs(), std::memory_order_relaxed);
    // Another daemon folding the same rows (a deadlock, at worst): the sums stay right unfolded.
    bestEffort("row_counts_fold_skipped", [&] {
        c.query("WITH moved AS (DELETE FROM row_count_deltas RETURNING name, n), "
                "sums AS (SELECT name, sum(n) AS n FROM moved GROUP BY name) "
                "UPDATE row_counts r SET n = r.n + s.n FROM sums s WHERE r.name = s.name");
    });
}

std::map<std::string, int64_t> PostgresJobStore::rowCounts() {
    return pool_.run([&](Connection& c) {
        foldCountsIfIdle(c);
        std::map<std::string, int64_t> counts;
        for (Row r : c.query(kRowCounts)) counts[r.text(0)] = r.i64(1);
        return counts;
    });
}

// The heartbeat folds every few seconds; a read folds only when it has not
// for a while, as a fold is a write that a status call would wait for.
void PostgresJobStore::foldCountsIfIdle(Connection& c) {
    if (nowMs() - lastFoldMs_.load(std::memory_order_relaxed) > 10'000) foldCounts(c);
}

StoreCounts PostgresJobStore::counts() {
    StoreCounts out;
    for (const auto& [name, n] : rowCounts()) out.add(name, n);
    return out;
}

uint64_t PostgresJobStore::countQueued() { return countByState()[JobState::Queued]; }

std::optional<int64_t> PostgresJobStore::nextRunAfter() {
    return scalar("SELECT min(run_after) FROM job_queue");
}

std::optional<int64_t> PostgresJobStore::oldestReadySince(int64_t now) {
    return scalar("SELECT min(run_after) FROM job_queue WHERE run_after <= $1", {now});
}

bool PostgresJobStore::isBlobReferenced(const std::string& sha256) {
    return pool_.run([&](Connection& c) { return blobReferenced(c, sha256); });
}

}  // namespace pixelmill
