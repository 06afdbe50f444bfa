#include "store/sqlite/sqlite_job_store.h"

#include "store/sqlite/rows.h"

#include "common/error.h"
#include "common/log.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace pixelmill {

using namespace sqlite;

SqliteJobStore::SqliteJobStore(const std::string& path, Options options) : path_(path), options_(options) {
    auto db = std::make_unique<Connection>(path, false);
    db->exec("PRAGMA journal_mode = WAL");
    db->exec(options.fsync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    db->exec("PRAGMA foreign_keys = ON");
    db->exec("PRAGMA temp_store = MEMORY");
    applyMigrations(*db);
    Checkpointer::Options checkpoints;
    checkpoints.intervalMs = options.checkpointIntervalMs;
    checkpoints.restartBytes = options.walRestartBytes;
    checkpointer_ = std::make_unique<Checkpointer>(path, *db, checkpoints);
    writer_ = std::make_unique<sqlite::WriteQueue>(std::move(db), 512,
                                                   [this](Connection& c) { checkpointer_->betweenCommits(c); });
}

SqliteJobStore::~SqliteJobStore() {
    writer_.reset();
    checkpointer_.reset();
}

SqliteJobStore::ReadLease SqliteJobStore::reader() {
    {
        std::lock_guard lock(readersMutex_);
        if (!readers_.empty()) {
            auto c = std::move(readers_.back());
            readers_.pop_back();
            return ReadLease(*this, std::move(c));
        }
    }
    auto c = std::make_unique<Connection>(path_, true);
    c->exec("PRAGMA query_only = ON");
    return ReadLease(*this, std::move(c));
}

int SqliteJobStore::schemaVersion() {
    auto db = reader();
    Statement& s = db->prepare("PRAGMA user_version");
    Reset r(s);
    return s.step() ? s.i32(0) : 0;
}

std::pair<Original, bool> SqliteJobStore::putOriginal(const Original& original) {
    return write([&](Connection& db) {
        bool created = false;
        Original o = upsertOriginal(db, original, created);
        return std::make_pair(std::move(o), created);
    });
}

std::optional<Original> SqliteJobStore::getOriginal(std::string_view id) {
    auto db = reader();
    return selectOriginalBy(*db, "id", id);
}

namespace {

// `job` of stored original `o`, in the caller's transaction: an equal job
// (queued, running or succeeded; or made earlier in this transaction) takes
// the submitter's callbacks, or a new job is queued.
SubmitOutcome submitIn(Connection& db, const Original& o, const NewJob& job) {
    SubmitOutcome out;
    if (auto existing = findEqualJob(db, job.dedupKey)) {
        subscribe(db, *existing, job);
        out = SubmitOutcome{*selectJob(db, *existing, false), false};
    } else {
        out = SubmitOutcome{insertJob(db, job, o), true};
    }
    out.status = submitStatus(out.job, out.created);
    return out;
}

}  // namespace

SubmitOutcome SqliteJobStore::submit(const Original& original, const NewJob& job) {
    return write([&](Connection& db) {
        const auto& key = job.idempotency;
        if (key)
            if (auto replay = replayIdempotencyKey(db, *key, job.createdAt - kIdempotencyKeyLifetimeMs)) return *replay;
        bool createdOriginal = false;
        Original o = upsertOriginal(db, original, createdOriginal);
        SubmitOutcome out = submitIn(db, o, job);
        if (key) recordIdempotencyKey(db, *key, out, job.createdAt);
        return out;
    });
}

std::vector<SubmitOutcome> SqliteJobStore::submitAll(const Original& original, const std::vector<NewJob>& jobs) {
    return write([&](Connection& db) {
        bool createdOriginal = false;
        Original o = upsertOriginal(db, original, createdOriginal);
        std::vector<SubmitOutcome> out;
        for (const NewJob& job : jobs) out.push_back(submitIn(db, o, job));
        return out;
    });
}

int SqliteJobStore::purgeIdempotencyKeys(int64_t before, int limit) {
    return write([&](Connection& db) {
        db.prepare(
              "DELETE FROM idempotency_keys WHERE rowid IN "
              "(SELECT rowid FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)")
            .bind(1, before)
            .bind(2, limit)
            .run();
        return static_cast<int>(db.changes());
    });
}

std::optional<Job> SqliteJobStore::getJob(std::string_view id) {
    auto db = reader();
    return selectJob(*db, id);
}

JobPage SqliteJobStore::listJobs(const JobFilter& filter) {
    std::string sql = kSelectJob + " WHERE 1 = 1";
    if (filter.state) sql += " AND j.state = ?1";
    if (!filter.plugin.empty()) sql += " AND j.plugin = ?2";
    if (!filter.originalId.empty()) sql += " AND j.original_id = ?3";
    if (filter.createdFrom) sql += " AND j.created_at >= ?4";
    if (filter.createdTo) sql += " AND j.created_at < ?5";
    if (filter.beforeSeq) sql += " AND j.seq < ?6";
    sql += " ORDER BY j.seq DESC LIMIT ?7";

    int limit = std::clamp(filter.limit, 1, 1000);
    auto db = reader();
    JobPage page;
    {
        Statement& s = db->prepare(sql);
        Reset r(s);
        if (filter.state) s.bind(1, toString(*filter.state));
        if (!filter.plugin.empty()) s.bind(2, filter.plugin);
        if (!filter.originalId.empty()) s.bind(3, filter.originalId);
        if (filter.createdFrom) s.bind(4, *filter.createdFrom);
        if (filter.createdTo) s.bind(5, *filter.createdTo);
        if (filter.beforeSeq) s.bind(6, *filter.beforeSeq);
        s.bind(7, limit + 1);
        while (s.step()) page.jobs.push_back(readJob(s));
    }
    if (static_cast<int>(page.jobs.size()) > limit) {
        page.jobs.pop_back();
        page.nextCursor = page.jobs.back().seq;
    }
    for (Job& j : page.jobs) loadChildren(*db, j, false);
    return page;
}

std::optional<Job> SqliteJobStore::cancel(std::string_view id, int64_t now) {
    return write([&](Connection& db) -> std::optional<Job> {
        auto job = selectJob(db, id);
        if (!job) return std::nullopt;
        if (isFinal(job->state))
            throw ApiError::conflict("conflict", "job " + job->id + " has already ended (" +
                                                     std::string(toString(job->state)) + ")");
        db.prepare("UPDATE jobs SET state = 'canceled', finished_at = ?, lease_until = 0 WHERE id = ?")
            .bind(1, now)
            .bind(2, job->id)
            .run();
        db.prepare("DELETE FROM outputs WHERE job_id = ?").bind(1, job->id).run();
        db.prepare("UPDATE job_attempts SET finished_at = ?, outcome = 'canceled' WHERE job_id = ? AND finished_at IS NULL")
            .bind(1, now)
            .bind(2, job->id)
            .run();
        return selectJob(db, id);
    });
}

std::optional<Job> SqliteJobStore::retry(std::string_view id, int64_t now, int attemptBudget) {
    return write([&](Connection& db) -> std::optional<Job> {
        auto job = selectJob(db, id);
        if (!job) return std::nullopt;
        if (job->state != JobState::Failed && job->state != JobState::Canceled)
            throw ApiError::conflict("conflict", "only failed or canceled jobs can be retried; job " + job->id +
                                                     " is " + std::string(toString(job->state)));
        db.prepare(
              "UPDATE jobs SET state = 'queued', max_attempts = attempts + ?, run_after = ?, lease_until = 0, "
              "error_code = NULL, error_message = NULL, started_at = NULL, finished_at = NULL, "
              "duration_seconds = NULL, progress_done = 0, progress_total = 0 WHERE id = ?")
            .bind(1, attemptBudget)
            .bind(2, now)
            .bind(3, job->id)
            .run();
        // A notification of the earlier end would report the new run's state: drop it.
        db.prepare(
              "UPDATE deliveries SET state = 'failed', last_error = 'superseded: the job was retried' "
              "WHERE job_id = ? AND state = 'pending'")
            .bind(1, job->id)
            .run();
        return selectJob(db, id);
    });
}

bool SqliteJobStore::remove(std::string_view id) {
    return write([&](Connection& db) {
        db.prepare("DELETE FROM outputs WHERE job_id = ?").bind(1, id).run();
        db.prepare("DELETE FROM step_outputs WHERE job_id = ?").bind(1, id).run();
        db.prepare("DELETE FROM jobs WHERE id = ?").bind(1, id).run();
        return db.changes() > 0;
    });
}

namespace {

constexpr const char* kDaemonStopped = "the daemon running it stopped";

// Jobs claimed into a ready queue and never begun go back without using the
// attempt, as releaseClaims does (started_at back to the attempt before's, if any).
int requeueUnbegun(Connection& db, int64_t now, bool all) {
    const char* unbegun = "state = 'running' AND begun = 0 AND (?2 OR lease_until < ?1)";
    db.prepare(std::string("DELETE FROM job_attempts WHERE (job_id, attempt) IN "
                           "(SELECT id, attempts FROM jobs WHERE ") + unbegun + ")")
        .bind(1, now)
        .bind(2, all ? 1 : 0)
        .run();
    db.prepare(std::string("UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_after = ?1, lease_until = 0, "
                           "begun = 1, started_at = (SELECT a.started_at FROM job_attempts a WHERE a.job_id = jobs.id "
                           "AND a.attempt = jobs.attempts - 1) WHERE ") + unbegun)
        .bind(1, now)
        .bind(2, all ? 1 : 0)
        .run();
    return static_cast<int>(db.changes());
}

// A job that had used its last attempt fails instead of going round again:
// one that kills the daemon every time must end. Its notifications are born
// with its end, as in finishAttempt.
void failLostJobs(Connection& db, int64_t now, bool all) {
    std::vector<std::string> lost;
    {
        Statement& s = db.prepare(
            "UPDATE jobs SET state = 'failed', finished_at = ?1, lease_until = 0, error_code = 'node_lost', "
            "error_message = ?3 WHERE state = 'running' AND (?2 OR lease_until < ?1) AND attempts >= max_attempts "
            "RETURNING id");
        Reset r(s);
        s.bind(1, now).bind(2, all ? 1 : 0).bind(3, kDaemonStopped);
        while (s.step()) lost.push_back(s.text(0));
    }
    for (const std::string& id : lost) {
        db.prepare(
              "UPDATE job_attempts SET finished_at = ?1, outcome = 'failed', error_code = 'node_lost', "
              "error_message = ?2 WHERE job_id = ?3 AND finished_at IS NULL")
            .bind(1, now)
            .bind(2, kDaemonStopped)
            .bind(3, id)
            .run();
        db.prepare("DELETE FROM outputs WHERE job_id = ?").bind(1, id).run();
        db.prepare(kInsertDeliveries).bind(1, now).bind(2, id).run();
    }
    if (!lost.empty())
        log::warn("jobs_node_lost", {{"jobs", static_cast<int>(lost.size())},
                                     {"reason", "no attempt left after their daemon died"}});
}

// The other running jobs go round again: their attempt ends as a retry.
int requeueRunning(Connection& db, int64_t now, bool all) {
    db.prepare(
          "UPDATE job_attempts SET finished_at = ?1, outcome = 'retry', error_code = 'node_lost', "
          "error_message = ?3 WHERE finished_at IS NULL AND job_id IN "
          "(SELECT id FROM jobs WHERE state = 'running' AND (?2 OR lease_until < ?1))")
        .bind(1, now)
        .bind(2, all ? 1 : 0)
        .bind(3, kDaemonStopped)
        .run();
    Statement& s = db.prepare(
        "UPDATE jobs SET state = 'queued', run_after = ?1, lease_until = 0 "
        "WHERE state = 'running' AND (?2 OR lease_until < ?1)");
    s.bind(1, now).bind(2, all ? 1 : 0).run();
    return static_cast<int>(db.changes());
}

}  // namespace

int SqliteJobStore::requeueExpired(int64_t now, bool all) {
    return write([&](Connection& db) {
        int requeued = requeueUnbegun(db, now, all);
        failLostJobs(db, now, all);
        requeued += requeueRunning(db, now, all);
        // Notifications a dead process had claimed are due again too.
        db.prepare("UPDATE deliveries SET lease_until = 0 WHERE state = 'pending' AND (?2 OR lease_until < ?1)")
            .bind(1, now)
            .bind(2, all ? 1 : 0)
            .run();
        return requeued;
    });
}

// The counts come from row_counts (migrations/004_row_counts.sql), kept by
// triggers: one row read instead of a walk over every job.
StoreCounts SqliteJobStore::counts() {
    StoreCounts out;
    auto db = reader();
    Statement& s = db->prepare("SELECT name, n FROM row_counts");
    Reset r(s);
    while (s.step()) out.add(s.text(0), s.i64(1));
    return out;
}

uint64_t SqliteJobStore::countQueued() {
    auto db = reader();
    Statement& s = db->prepare("SELECT n FROM row_counts WHERE name = 'jobs.queued'");
    Reset r(s);
    return s.step() ? static_cast<uint64_t>(s.i64(0)) : 0;
}

std::optional<int64_t> SqliteJobStore::nextRunAfter() {
    auto db = reader();
    Statement& s = db->prepare("SELECT MIN(run_after) FROM jobs WHERE state = 'queued'");
    Reset r(s);
    if (s.step() && !s.isNull(0)) return s.i64(0);
    return std::nullopt;
}

std::optional<int64_t> SqliteJobStore::oldestReadySince(int64_t now) {
    auto db = reader();
    Statement& s = db->prepare("SELECT MIN(run_after) FROM jobs WHERE state = 'queued' AND run_after <= ?");
    Reset r(s);
    s.bind(1, now);
    if (s.step() && !s.isNull(0)) return s.i64(0);
    return std::nullopt;
}

bool SqliteJobStore::isBlobReferenced(const std::string& sha256) {
    auto db = reader();
    Statement& s = db->prepare(
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM outputs x JOIN jobs j ON j.id = x.job_id "
        "                       WHERE x.sha256 = ?1 AND j.evicted = 0) "
        "OR EXISTS (SELECT 1 FROM originals WHERE sha256 = ?1 AND purged_at IS NULL) "
        "OR EXISTS (SELECT 1 FROM step_outputs WHERE sha256 = ?1)");
    Reset r(s);
    s.bind(1, sha256);
    return s.step();
}

}  // namespace pixelmill
