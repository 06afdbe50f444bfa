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

std::pair<Original, bool> SqliteJobStore::putOriginal(const NewOriginal& original) {
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

SubmitOutcome SqliteJobStore::submit(const NewOriginal& original, const NewJob& job) {
    return write([&](Connection& db) {
        bool createdOriginal = false;
        Original o = upsertOriginal(db, original, createdOriginal);
        if (auto existing = findEqualJob(db, job.dedupKey)) {
            subscribe(db, *existing, job);
            return SubmitOutcome{*selectJob(db, *existing, false), false};
        }
        return SubmitOutcome{insertJob(db, job, o), true};
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

std::vector<ClaimedJob> SqliteJobStore::claim(int max, int64_t now, int64_t leaseMs) {
    return write([&](Connection& db) {
        std::vector<ClaimedJob> out;
        std::vector<std::string> originals;
        {
            Statement& s = db.prepare(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = ?1, started_at = ?2, "
                "progress_done = 0, progress_total = 0 "
                "WHERE seq IN (SELECT seq FROM jobs WHERE state = 'queued' AND run_after <= ?2 "
                "ORDER BY priority DESC, seq LIMIT ?3) "
                "RETURNING id, plugin, plugin_version, params, attempts, max_attempts, created_at, run_after, "
                "original_id, priority, seq");
            Reset r(s);
            s.bind(1, now + leaseMs).bind(2, now).bind(3, max);
            std::vector<std::pair<std::pair<int, int64_t>, size_t>> order;
            while (s.step()) {
                ClaimedJob c;
                c.id = s.text(0);
                c.plugin = s.text(1);
                c.pluginVersion = s.text(2);
                c.params = s.text(3);
                c.attempt = s.i32(4);
                c.maxAttempts = s.i32(5);
                c.createdAt = s.i64(6);
                c.runAfter = s.i64(7);
                originals.push_back(s.text(8));
                order.push_back({{-s.i32(9), s.i64(10)}, out.size()});
                out.push_back(std::move(c));
            }
            // RETURNING gives no order: restore the queue's.
            std::sort(order.begin(), order.end());
            std::vector<ClaimedJob> sorted;
            std::vector<std::string> sortedOriginals;
            for (auto& [key, i] : order) {
                sorted.push_back(std::move(out[i]));
                sortedOriginals.push_back(std::move(originals[i]));
            }
            out = std::move(sorted);
            originals = std::move(sortedOriginals);
        }
        for (size_t i = 0; i < out.size(); ++i) {
            Statement& o = db.prepare("SELECT sha256, media_type FROM originals WHERE id = ?");
            Reset r(o);
            o.bind(1, originals[i]);
            if (o.step()) {
                out[i].sourceSha256 = o.text(0);
                out[i].sourceMediaType = o.text(1);
            }
            db.prepare("DELETE FROM outputs WHERE job_id = ?").bind(1, out[i].id).run();
            db.prepare("INSERT OR REPLACE INTO job_attempts (job_id, attempt, started_at) VALUES (?, ?, ?)")
                .bind(1, out[i].id)
                .bind(2, out[i].attempt)
                .bind(3, now)
                .run();
        }
        return out;
    });
}

bool SqliteJobStore::putOutput(const std::string& jobId, int attempt, const Output& output) {
    return write([&](Connection& db) {
        Statement& own = db.prepare("SELECT 1 FROM jobs WHERE id = ? AND attempts = ? AND state = 'running'");
        Reset r(own);
        own.bind(1, jobId).bind(2, attempt);
        if (!own.step()) return false;
        own.reset();
        Statement& s = db.prepare(
            "INSERT OR REPLACE INTO outputs (job_id, idx, name, media_type, sha256, size_bytes, width, height) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        s.bind(1, jobId).bind(2, output.index).bind(3, output.name).bind(4, output.mediaType).bind(5, output.sha256);
        s.bind(6, output.sizeBytes).bind(7, output.width).bind(8, output.height).run();
        return true;
    });
}

void SqliteJobStore::setProgress(const std::string& jobId, int attempt, uint32_t done, uint32_t total) {
    write([&](Connection& db) {
        db.prepare(
              "UPDATE jobs SET progress_done = ?, progress_total = ? WHERE id = ? AND attempts = ? AND state = 'running'")
            .bind(1, done)
            .bind(2, total)
            .bind(3, jobId)
            .bind(4, attempt)
            .run();
    });
}

bool SqliteJobStore::finishAttempt(const std::string& jobId, int attempt, const AttemptResult& result) {
    return write([&](Connection& db) {
        using O = AttemptResult::Outcome;
        int64_t now = unixMs();
        bool failed = result.outcome == O::Failed || result.outcome == O::Retry;
        const char* outcome = result.outcome == O::Succeeded ? "succeeded"
                              : result.outcome == O::Failed  ? "failed"
                              : result.outcome == O::Retry   ? "retry"
                                                             : "canceled";
        Statement* update = nullptr;
        switch (result.outcome) {
            case O::Succeeded:
                update = &db.prepare(
                    "UPDATE jobs SET state = 'succeeded', finished_at = ?1, duration_seconds = ?2, lease_until = 0, "
                    "error_code = NULL, error_message = NULL, progress_done = progress_total "
                    "WHERE id = ?3 AND attempts = ?4 AND state = 'running'");
                update->bind(1, now).bind(2, result.durationSeconds);
                break;
            case O::Failed:
            case O::Canceled:
                update = &db.prepare(
                    "UPDATE jobs SET state = ?1, finished_at = ?2, lease_until = 0, error_code = ?5, "
                    "error_message = ?6 WHERE id = ?3 AND attempts = ?4 AND state = 'running'");
                update->bind(1, outcome).bind(2, now);
                if (result.outcome == O::Failed) update->bind(5, result.error.code).bind(6, result.error.message);
                break;
            case O::Retry:
                update = &db.prepare(
                    "UPDATE jobs SET state = 'queued', run_after = ?1, lease_until = 0, error_code = ?5, "
                    "error_message = ?6 WHERE id = ?3 AND attempts = ?4 AND state = 'running'");
                update->bind(1, result.retryAt).bind(5, result.error.code).bind(6, result.error.message);
                break;
        }
        update->bind(3, jobId).bind(4, attempt).run();
        if (db.changes() == 0) return false;

        Statement& a = db.prepare(
            "UPDATE job_attempts SET finished_at = ?, outcome = ?, error_code = ?, error_message = ?, "
            "duration_seconds = ? WHERE job_id = ? AND attempt = ?");
        a.bind(1, now).bind(2, outcome);
        if (failed) a.bind(3, result.error.code).bind(4, result.error.message);
        if (result.outcome == O::Succeeded) a.bind(5, result.durationSeconds);
        a.bind(6, jobId).bind(7, attempt).run();

        if (result.outcome != O::Succeeded) db.prepare("DELETE FROM outputs WHERE job_id = ?").bind(1, jobId).run();
        if (result.outcome == O::Succeeded || result.outcome == O::Failed) {
            // The notifications are born with the job's end: a crash cannot lose them.
            db.prepare(kInsertDeliveries).bind(1, now).bind(2, jobId).run();
        }
        return true;
    });
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
        db.prepare("DELETE FROM jobs WHERE id = ?").bind(1, id).run();
        return db.changes() > 0;
    });
}

int SqliteJobStore::requeueExpired(int64_t now, bool all) {
    return write([&](Connection& db) {
        const char* why = "the daemon running it stopped";
        // A job that had used its last attempt fails instead of going round
        // again: one that kills the daemon every time must end. Its
        // notifications are born with its end, as in finishAttempt.
        std::vector<std::string> lost;
        {
            Statement& s = db.prepare(
                "UPDATE jobs SET state = 'failed', finished_at = ?1, lease_until = 0, error_code = 'node_lost', "
                "error_message = ?3 WHERE state = 'running' AND (?2 OR lease_until < ?1) AND attempts >= max_attempts "
                "RETURNING id");
            Reset r(s);
            s.bind(1, now).bind(2, all ? 1 : 0).bind(3, why);
            while (s.step()) lost.push_back(s.text(0));
        }
        for (const std::string& id : lost) {
            db.prepare(
                  "UPDATE job_attempts SET finished_at = ?1, outcome = 'failed', error_code = 'node_lost', "
                  "error_message = ?2 WHERE job_id = ?3 AND finished_at IS NULL")
                .bind(1, now)
                .bind(2, why)
                .bind(3, id)
                .run();
            db.prepare("DELETE FROM outputs WHERE job_id = ?").bind(1, id).run();
            db.prepare(kInsertDeliveries).bind(1, now).bind(2, id).run();
        }
        if (!lost.empty())
            log::warn("jobs_node_lost", {{"jobs", static_cast<int>(lost.size())},
                                         {"reason", "no attempt left after their daemon died"}});
        db.prepare(
              "UPDATE job_attempts SET finished_at = ?1, outcome = 'retry', error_code = 'node_lost', "
              "error_message = ?3 WHERE finished_at IS NULL AND job_id IN "
              "(SELECT id FROM jobs WHERE state = 'running' AND (?2 OR lease_until < ?1))")
            .bind(1, now)
            .bind(2, all ? 1 : 0)
            .bind(3, why)
            .run();
        Statement& s = db.prepare(
            "UPDATE jobs SET state = 'queued', run_after = ?1, lease_until = 0 "
            "WHERE state = 'running' AND (?2 OR lease_until < ?1)");
        s.bind(1, now).bind(2, all ? 1 : 0).run();
        int requeued = static_cast<int>(db.changes());
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
StateCounts SqliteJobStore::countByState() {
    StateCounts counts{{JobState::Queued, 0}, {JobState::Running, 0}, {JobState::Succeeded, 0},
                       {JobState::Failed, 0}, {JobState::Canceled, 0}};
    auto db = reader();
    Statement& s = db->prepare("SELECT substr(name, 6), n FROM row_counts WHERE name LIKE 'jobs.%'");
    Reset r(s);
    while (s.step())
        if (auto st = parseJobState(s.text(0))) counts[*st] = static_cast<uint64_t>(s.i64(1));
    return counts;
}

uint64_t SqliteJobStore::countOriginals() {
    auto db = reader();
    Statement& s = db->prepare("SELECT n FROM row_counts WHERE name = 'originals'");
    Reset r(s);
    return s.step() ? static_cast<uint64_t>(s.i64(0)) : 0;
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
        "OR EXISTS (SELECT 1 FROM originals WHERE sha256 = ?1 AND purged_at IS NULL)");
    Reset r(s);
    s.bind(1, sha256);
    return s.step();
}

}  // namespace pixelmill
