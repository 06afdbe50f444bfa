#include "store/postgres/rows.h"

#include "store/migrations.h"
#include "store/row_mapping.h"

#include "common/embedded.h"
#include "common/log.h"

#include <cstdlib>
#include <unordered_map>

namespace pixelmill::pg {

namespace {

// Advisory lock keys. Dedup keys hash into kDedupBuckets locks of their own
// space (two-int keys): a batch of 10,000 jobs takes at most that many
// locks, well within the server's lock table, and unrelated submissions
// rarely share one (and then only for a few milliseconds).
constexpr int kDedupLockSpace = 1886218850;  // 'pmjb'
constexpr int kDedupBuckets = 256;
constexpr int64_t kMigrationLock = 8100137781808687468;  // 'pixelmil'

}  // namespace

const std::string kOriginalColumns = std::string(rows::kOriginalColumnsButSeq) + "o.seq";

const std::string kSelectJob =
    std::string("SELECT ") + rows::kJobColumns + kOriginalColumns + " FROM jobs j JOIN originals o ON o.id = j.original_id";

const std::string kJoinStates = " JOIN job_states s ON s.seq = j.seq";

const std::string kSelectOriginal = "SELECT " + kOriginalColumns + " FROM originals o";

const std::string kDeliveryColumns = rows::kDeliveryColumns;

Original readOriginal(const Row& r, int c) { return rows::readOriginal(r, c); }

Job readJob(const Row& r) { return rows::readJob(r); }

Delivery readDelivery(const Row& r, int c) { return rows::readDelivery(r, c); }

void loadChildren(Connection& c, std::vector<Job>& jobs, bool history) {
    if (jobs.empty()) return;
    std::unordered_map<std::string, Job*> byId;
    std::vector<std::string> ids;
    for (Job& j : jobs) {
        byId[j.id] = &j;
        ids.push_back(j.id);
    }
    for (Row r : c.query(std::string("SELECT job_id, ") + rows::kOutputColumns +
                         " FROM outputs WHERE job_id = ANY($1::text[]) ORDER BY job_id, idx",
                         {array(ids)}))
        byId.at(r.text(0))->outputs.push_back(rows::readOutput(r, 1));
    // Subscribers (dedup) may have callbacks where the job has none.
    for (Row r : c.query("SELECT " + kDeliveryColumns + " FROM deliveries WHERE job_id = ANY($1::text[]) ORDER BY id",
                         {array(ids)})) {
        Delivery d = readDelivery(r, 0);
        byId.at(d.jobId)->deliveries.push_back(std::move(d));
    }
    if (!history) return;
    for (Row r : c.query(std::string("SELECT job_id, ") + rows::kAttemptColumns +
                         " FROM job_attempts WHERE job_id = ANY($1::text[]) ORDER BY job_id, attempt",
                         {array(ids)}))
        byId.at(r.text(0))->history.push_back(rows::readAttempt(r, 1));
}

std::optional<Job> selectJob(Connection& c, std::string_view id, bool history) {
    Result r = c.query(kSelectJob + " WHERE j.id = $1", {id});
    if (r.empty()) return std::nullopt;
    std::vector<Job> jobs{readJob(r.front())};
    loadChildren(c, jobs, history);
    return std::move(jobs.front());
}

std::optional<Original> selectOriginal(Connection& c, std::string_view id) {
    Result r = c.query(kSelectOriginal + " WHERE o.id = $1", {id});
    if (r.empty()) return std::nullopt;
    return readOriginal(r.front(), 0);
}

std::vector<Original> upsertOriginals(Connection& c, const std::vector<const Original*>& originals) {
    // One row per content: ON CONFLICT cannot touch a row twice in a statement.
    std::unordered_map<std::string, size_t> firstBySha;
    std::vector<Value> id, sha, filename, mediaType, size, width, height, pages, createdAt;
    for (const Original* n : originals) {
        if (!firstBySha.emplace(n->sha256, firstBySha.size()).second) continue;
        id.emplace_back(n->id);
        sha.emplace_back(n->sha256);
        filename.emplace_back(n->filename);
        mediaType.emplace_back(n->mediaType);
        size.emplace_back(n->sizeBytes);
        width.emplace_back(n->width);
        height.emplace_back(n->height);
        pages.emplace_back(n->pages);
        createdAt.emplace_back(n->createdAt);
    }
    // Always an update on conflict (a no-op for most), so that RETURNING
    // gives every row, also one another transaction committed meanwhile.
    // Ordered by content, so that two batches lock shared rows in one order.
    Result r = c.query(
        "INSERT INTO originals AS o (id, sha256, filename, media_type, size_bytes, width, height, pages, created_at) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::int[], $7::int[], "
        "$8::int[], $9::bigint[]) ORDER BY 2 "
        "ON CONFLICT (sha256) DO UPDATE SET width = coalesce(o.width, excluded.width), "
        "height = coalesce(o.height, excluded.height), pages = coalesce(o.pages, excluded.pages), purged_at = NULL "
        "RETURNING " + kOriginalColumns,
        {array(id), array(sha), array(filename), array(mediaType), array(size), array(width), array(height),
         array(pages), array(createdAt)});
    std::vector<Original> stored(firstBySha.size());
    for (Row row : r) {
        Original o = readOriginal(row, 0);
        stored[firstBySha.at(o.sha256)] = std::move(o);
    }
    std::vector<Original> out;
    out.reserve(originals.size());
    for (const Original* n : originals) out.push_back(stored[firstBySha.at(n->sha256)]);
    return out;
}

namespace {

// A submission answered with the equal job `jobId`: its callbacks are
// notified when that job ends (at once if it has ended), unless they are the job's own.
void subscribe(Connection& c, const std::string& jobId, const NewJob& submission) {
    const std::pair<const char*, const std::string*> callbacks[] = {{"webhook", &submission.callbackUrl},
                                                                    {"email", &submission.callbackEmail}};
    for (const auto& [kind, target] : callbacks) {
        if (target->empty()) continue;
        const std::string notOwn =
            " AND (CASE $2::text WHEN 'webhook' THEN callback_url ELSE callback_email END) <> $3::text";
        c.query("INSERT INTO deliveries (job_id, kind, target, next_attempt_at, created_at, updated_at) "
                "SELECT id, $2::text, $3::text, $4::bigint, $4::bigint, $4::bigint FROM jobs WHERE id = $1 "
                "AND state IN ('succeeded', 'failed') "
                "AND NOT EXISTS (SELECT 1 FROM deliveries WHERE job_id = $1 AND kind = $2 AND target = $3)" + notOwn,
                {jobId, kind, *target, submission.createdAt});
        c.query("INSERT INTO job_subscribers (job_id, kind, target, created_at) "
                "SELECT id, $2::text, $3::text, $4::bigint FROM jobs WHERE id = $1" + notOwn + " ON CONFLICT DO NOTHING",
                {jobId, kind, *target, submission.createdAt});
    }
}

// Equal submissions wait here for each other, in one order (no deadlock),
// so that the dedup check after it sees the job a concurrent one created.
void lockEqualSubmissions(Connection& c, const std::vector<std::string>& keys) {
    c.query("SELECT count(pg_advisory_xact_lock($2, b)) FROM (SELECT DISTINCT (hashtextextended(k, 0) & $3)::int AS b "
            "FROM unnest($1::text[]) AS k ORDER BY 1) AS buckets",
            {array(keys), kDedupLockSpace, kDedupBuckets - 1});
}

// The live job for each dedup key that has one: dedup key -> job id.
std::unordered_map<std::string, std::string> equalJobs(Connection& c, const std::vector<std::string>& keys) {
    std::unordered_map<std::string, std::string> equal;
    for (Row r : c.query("SELECT DISTINCT ON (dedup_key) dedup_key, id FROM jobs WHERE dedup_key = ANY($1::text[]) "
                         "AND NOT evicted AND state IN ('queued', 'running', 'succeeded') "
                         "ORDER BY dedup_key, (state = 'succeeded') DESC, seq DESC",
                         {array(keys)}))
        equal.emplace(r.text(0), r.text(1));
    return equal;
}

// New jobs as columns, inserted in one statement (unnest), in order.
struct NewJobColumns {
    std::vector<Value> id, plugin, version, params, key, originalId, priority, maxAttempts, createdAt, url, email,
        requestId, preset, steps;

    void add(const NewJob& job, const std::string& original) {
        id.emplace_back(job.id);
        plugin.emplace_back(job.plugin);
        version.emplace_back(job.pluginVersion);
        params.emplace_back(job.params);
        key.emplace_back(job.dedupKey);
        originalId.emplace_back(original);
        priority.emplace_back(job.priority);
        maxAttempts.emplace_back(job.maxAttempts);
        createdAt.emplace_back(job.createdAt);
        url.emplace_back(job.callbackUrl);
        email.emplace_back(job.callbackEmail);
        requestId.emplace_back(job.requestId.empty() ? std::nullopt : std::optional(job.requestId));
        preset.emplace_back(job.preset.empty() ? std::nullopt : std::optional(job.preset));
        steps.emplace_back(job.steps.empty() ? std::nullopt : std::optional(job.steps));
    }

    // Inserts them, marks their originals used; the rows are (id, seq).
    Result insert(Connection& c) const {
        return c.query(
            "WITH inserted AS ("
            " INSERT INTO jobs (id, plugin, plugin_version, params, dedup_key, original_id, state, priority, max_attempts,"
            "                   run_after, created_at, callback_url, callback_email, request_id, preset, steps)"
            " SELECT id, plugin, version, params, key, original_id, 'queued', priority, max_attempts, created_at,"
            "        created_at, url, email, request_id, preset, steps"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[],"
            "             $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[]) WITH ORDINALITY"
            "      AS n (id, plugin, version, params, key, original_id, priority, max_attempts, created_at, url, email,"
            "            request_id, preset, steps, pos)"
            " ORDER BY pos RETURNING id, seq, original_id), "
            "used AS (UPDATE originals SET used = true WHERE id IN (SELECT original_id FROM inserted) AND NOT used) "
            "SELECT id, seq FROM inserted",
            {array(id), array(plugin), array(version), array(params), array(key), array(originalId), array(priority),
             array(maxAttempts), array(createdAt), array(url), array(email), array(requestId), array(preset),
             array(steps)});
    }
};

}  // namespace

std::vector<Enqueued> enqueue(Connection& c, const std::vector<const BatchItem*>& items, const std::string& nodeId) {
    std::vector<const Original*> newOriginals;
    std::vector<std::string> keys;
    for (const BatchItem* item : items) {
        newOriginals.push_back(&item->original);
        keys.push_back(item->job.dedupKey);
    }
    lockEqualSubmissions(c, keys);
    std::vector<Original> originals = upsertOriginals(c, newOriginals);
    std::unordered_map<std::string, std::string> equal = equalJobs(c, keys);

    std::vector<Enqueued> out(items.size());
    NewJobColumns columns;
    std::unordered_map<std::string, size_t> created;  // job id -> index in out
    for (size_t i = 0; i < items.size(); ++i) {
        const NewJob& job = items[i]->job;
        out[i].original = originals[i];
        auto [known, fresh] = equal.emplace(job.dedupKey, job.id);
        out[i].jobId = known->second;
        if (!fresh) {  // an equal job exists, or an earlier item creates it
            if (!created.contains(known->second)) subscribe(c, known->second, job);
            continue;
        }
        out[i].created = true;
        created[job.id] = i;
        columns.add(job, originals[i].id);
    }
    if (created.empty()) return out;
    for (Row row : columns.insert(c)) out[created.at(row.text(0))].seq = row.i64(1);
    notifyWork(c, nodeId);
    return out;
}

void notifyWork(Connection& c, const std::string& nodeId) {
    c.query("SELECT pg_notify($1, $2)", {kWorkChannel, nodeId});
}

bool blobReferenced(Connection& c, const std::string& sha256) {
    return c.query("SELECT EXISTS (SELECT 1 FROM outputs x JOIN jobs j ON j.id = x.job_id "
                   "               WHERE x.sha256 = $1 AND NOT j.evicted) "
                   "OR EXISTS (SELECT 1 FROM originals WHERE sha256 = $1 AND purged_at IS NULL) "
                   "OR EXISTS (SELECT 1 FROM step_outputs WHERE sha256 = $1)",
                   {sha256})
        .front()
        .boolean(0);
}

std::string endOrphansStatement(const std::string& with, const std::string& orphan, const std::string& now,
                                const std::string& why) {
    const std::string n = "(" + now + ")";
    const std::string message = "'" + why + "'";  // a constant of ours, no quotes in it
    return "WITH " + with +
           "orphans AS (SELECT j.id FROM job_states s JOIN jobs j ON j.seq = s.seq"
           " WHERE s.state = 'running' AND j.state = 'running' AND (" + orphan + ") FOR UPDATE OF j), "
           "requeued AS ("
           " UPDATE jobs j SET state = 'queued', run_after = " + n + ", lease_until = 0, lease_owner = NULL"
           " FROM orphans o WHERE j.id = o.id AND j.attempts < j.max_attempts RETURNING j.id, j.attempts), "
           "lost AS ("
           " UPDATE jobs j SET state = 'failed', finished_at = " + n + ", lease_until = 0, lease_owner = NULL,"
           "   error_code = 'node_lost', error_message = " + message +
           " FROM orphans o WHERE j.id = o.id AND j.attempts >= j.max_attempts"
           " RETURNING j.id, j.attempts, j.callback_url, j.callback_email), "
           "ended AS ("
           " UPDATE job_attempts a SET finished_at = " + n + ", outcome = x.outcome, error_code = 'node_lost',"
           "   error_message = " + message +
           " FROM (SELECT id, attempts, 'retry' AS outcome FROM requeued"
           "       UNION ALL SELECT id, attempts, 'failed' FROM lost) x"
           " WHERE a.job_id = x.id AND a.attempt = x.attempts AND a.finished_at IS NULL), "
           "dropped AS (DELETE FROM outputs WHERE job_id IN (SELECT id FROM lost)), "
           // The notifications are born with the job's end, as in finishAttempt.
           "notices AS ("
           " INSERT INTO deliveries (job_id, kind, target, next_attempt_at, created_at, updated_at)"
           " SELECT id, 'webhook', callback_url, " + n + ", " + n + ", " + n + " FROM lost WHERE callback_url <> ''"
           " UNION ALL"
           " SELECT id, 'email', callback_email, " + n + ", " + n + ", " + n + " FROM lost WHERE callback_email <> ''"
           " UNION ALL"
           " SELECT s.job_id, s.kind, s.target, " + n + ", " + n + ", " + n +
           " FROM job_subscribers s JOIN lost l ON l.id = s.job_id) "
           "SELECT (SELECT count(*) FROM requeued)::int, (SELECT count(*) FROM lost)::int";
}

int64_t blobLockKey(const std::string& sha256) {
    return static_cast<int64_t>(std::strtoull(sha256.substr(0, 16).c_str(), nullptr, 16));
}

void applyMigrations(Connection& c) {
    c.query("SELECT pg_advisory_xact_lock($1)", {kMigrationLock});
    c.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
           "applied_at BIGINT NOT NULL)");
    int current = c.query("SELECT coalesce(max(version), 0) FROM schema_migrations").front().i32(0);
    for (const Migration& m : pendingMigrations(postgresMigrations(), current)) {
        c.exec(std::string(m.sql));
        c.query("INSERT INTO schema_migrations (version, name, applied_at) "
                "VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                {m.version, m.name});
        log::info("migration_applied", {{"version", m.version}, {"file", m.name}, {"store", "postgres"}});
    }
}

}  // namespace pixelmill::pg
