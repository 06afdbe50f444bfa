#include "store/sqlite/rows.h"

#include "store/migrations.h"
#include "store/queued_job.h"

#include "common/embedded.h"
#include "common/log.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace pixelmill::sqlite {

namespace {

constexpr const char* kOriginalColumns =
    "o.id, o.sha256, o.filename, o.media_type, o.size_bytes, o.width, o.height, o.pages, o.created_at, "
    "o.purged_at, o.rowid";

}  // namespace

const std::string kSelectJob =
    std::string("SELECT j.seq, j.id, j.plugin, j.plugin_version, j.params, j.dedup_key, j.original_id, j.state, "
                "j.priority, j.attempts, j.max_attempts, j.run_after, j.lease_until, j.error_code, j.error_message, "
                "j.progress_done, j.progress_total, j.created_at, j.started_at, j.finished_at, j.duration_seconds, "
                "j.callback_url, j.callback_email, j.hits, j.evicted, ") +
    kOriginalColumns + " FROM jobs j JOIN originals o ON o.id = j.original_id";

const std::string kSelectOriginal = std::string("SELECT ") + kOriginalColumns + " FROM originals o";

int64_t unixMs() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Original readOriginal(const Statement& s, int c) {
    Original o;
    o.id = s.text(c);
    o.sha256 = s.text(c + 1);
    o.filename = s.text(c + 2);
    o.mediaType = s.text(c + 3);
    o.sizeBytes = static_cast<uint64_t>(s.i64(c + 4));
    o.width = s.optInt(c + 5);
    o.height = s.optInt(c + 6);
    o.pages = s.optInt(c + 7);
    o.createdAt = s.i64(c + 8);
    o.purgedAt = s.optI64(c + 9);
    o.seq = s.i64(c + 10);
    return o;
}

Job readJob(const Statement& s) {
    Job j;
    j.seq = s.i64(0);
    j.id = s.text(1);
    j.plugin = s.text(2);
    j.pluginVersion = s.text(3);
    j.params = s.text(4);
    j.dedupKey = s.text(5);
    j.originalId = s.text(6);
    j.state = parseJobState(s.text(7)).value_or(JobState::Queued);
    j.priority = s.i32(8);
    j.attempts = s.i32(9);
    j.maxAttempts = s.i32(10);
    j.runAfter = s.i64(11);
    j.leaseUntil = s.i64(12);
    if (!s.isNull(13)) j.error = JobError{s.text(13), s.text(14)};
    j.progressDone = static_cast<uint32_t>(s.i64(15));
    j.progressTotal = static_cast<uint32_t>(s.i64(16));
    j.createdAt = s.i64(17);
    j.startedAt = s.optI64(18);
    j.finishedAt = s.optI64(19);
    j.durationSeconds = s.optReal(20);
    j.callbackUrl = s.text(21);
    j.callbackEmail = s.text(22);
    j.hits = s.i64(23);
    j.evicted = s.i64(24) != 0;
    j.original = readOriginal(s, 25);
    return j;
}

void loadChildren(Connection& db, Job& job, bool history) {
    {
        Statement& s = db.prepare(
            "SELECT idx, name, media_type, sha256, size_bytes, width, height FROM outputs WHERE job_id = ? "
            "ORDER BY idx");
        Reset r(s);
        s.bind(1, job.id);
        while (s.step()) {
            Output o;
            o.index = static_cast<uint32_t>(s.i64(0));
            o.name = s.text(1);
            o.mediaType = s.text(2);
            o.sha256 = s.text(3);
            o.sizeBytes = static_cast<uint64_t>(s.i64(4));
            o.width = s.optInt(5);
            o.height = s.optInt(6);
            job.outputs.push_back(std::move(o));
        }
    }
    if (!job.callbackUrl.empty() || !job.callbackEmail.empty()) {
        Statement& s = db.prepare(
            "SELECT id, job_id, kind, target, state, attempts, next_attempt_at, last_status, last_error "
            "FROM deliveries WHERE job_id = ? ORDER BY id");
        Reset r(s);
        s.bind(1, job.id);
        while (s.step()) {
            Delivery d;
            d.id = s.i64(0);
            d.jobId = s.text(1);
            d.kind = s.text(2);
            d.target = s.text(3);
            d.state = s.text(4);
            d.attempts = s.i32(5);
            d.nextAttemptAt = s.i64(6);
            d.lastStatus = s.optInt(7);
            d.lastError = s.text(8);
            job.deliveries.push_back(std::move(d));
        }
    }
    if (history) {
        Statement& s = db.prepare(
            "SELECT attempt, started_at, finished_at, outcome, error_code, error_message, duration_seconds "
            "FROM job_attempts WHERE job_id = ? ORDER BY attempt");
        Reset r(s);
        s.bind(1, job.id);
        while (s.step()) {
            AttemptRecord a;
            a.attempt = s.i32(0);
            a.startedAt = s.i64(1);
            a.finishedAt = s.optI64(2);
            a.outcome = s.text(3);
            if (!s.isNull(4)) a.error = JobError{s.text(4), s.text(5)};
            a.durationSeconds = s.optReal(6);
            job.history.push_back(std::move(a));
        }
    }
}

std::optional<Job> selectJob(Connection& db, std::string_view id, bool history) {
    std::optional<Job> job;
    {
        Statement& s = db.prepare(kSelectJob + " WHERE j.id = ?");
        Reset r(s);
        s.bind(1, id);
        if (s.step()) job = readJob(s);
    }
    if (job) loadChildren(db, *job, history);
    return job;
}

std::optional<Original> selectOriginalBy(Connection& db, std::string_view column, std::string_view value) {
    Statement& s = db.prepare(kSelectOriginal + " WHERE o." + std::string(column) + " = ?");
    Reset r(s);
    s.bind(1, value);
    if (!s.step()) return std::nullopt;
    return readOriginal(s, 0);
}

Original upsertOriginal(Connection& db, const NewOriginal& n, bool& created) {
    if (auto existing = selectOriginalBy(db, "sha256", n.sha256)) {
        created = false;
        if ((!existing->width && n.width) || (!existing->pages && n.pages) || existing->purgedAt) {
            Statement& u = db.prepare(
                "UPDATE originals SET width = coalesce(width, ?), height = coalesce(height, ?), "
                "pages = coalesce(pages, ?), purged_at = NULL WHERE id = ?");
            u.bind(1, n.width).bind(2, n.height).bind(3, n.pages).bind(4, existing->id).run();
            return *selectOriginalBy(db, "id", existing->id);
        }
        return *existing;
    }
    Statement& s = db.prepare(
        "INSERT INTO originals (id, sha256, filename, media_type, size_bytes, width, height, pages, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, n.id).bind(2, n.sha256).bind(3, n.filename).bind(4, n.mediaType).bind(5, n.sizeBytes);
    s.bind(6, n.width).bind(7, n.height).bind(8, n.pages).bind(9, n.createdAt);
    s.run();
    created = true;
    return *selectOriginalBy(db, "id", n.id);
}

std::optional<std::string> findEqualJob(Connection& db, const std::string& dedupKey) {
    Statement& d = db.prepare(
        "SELECT id FROM jobs WHERE dedup_key = ? AND evicted = 0 AND state IN ('queued', 'running', 'succeeded') "
        "ORDER BY (state = 'succeeded') DESC, seq DESC LIMIT 1");
    Reset r(d);
    d.bind(1, dedupKey);
    if (!d.step()) return std::nullopt;
    return d.text(0);
}

Job insertJob(Connection& db, const NewJob& job, const Original& original) {
    Statement& s = db.prepare(
        "INSERT INTO jobs (id, plugin, plugin_version, params, dedup_key, original_id, state, priority, "
        "max_attempts, run_after, created_at, callback_url, callback_email) "
        "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)");
    s.bind(1, job.id).bind(2, job.plugin).bind(3, job.pluginVersion).bind(4, job.params).bind(5, job.dedupKey);
    s.bind(6, original.id).bind(7, job.priority).bind(8, job.maxAttempts).bind(9, job.createdAt);
    s.bind(10, job.createdAt).bind(11, job.callbackUrl).bind(12, job.callbackEmail);
    s.run();
    db.prepare("UPDATE originals SET used = 1 WHERE id = ? AND used = 0").bind(1, original.id).run();

    return queuedJob(job, original, db.lastInsertRowId());
}

void applyMigrations(Connection& db) {
    int current = 0;
    {
        Statement& s = db.prepare("PRAGMA user_version");
        Reset r(s);
        if (s.step()) current = s.i32(0);
    }
    for (const Migration& m : pendingMigrations(sqliteMigrations(), current)) {
        db.exec("BEGIN IMMEDIATE");
        try {
            db.exec(m.sql);
            db.exec("PRAGMA user_version = " + std::to_string(m.version));
            db.exec("COMMIT");
        } catch (...) {
            db.exec("ROLLBACK");
            throw;
        }
        log::info("migration_applied", {{"version", m.version}, {"file", m.name}});
    }
}

}  // namespace pixelmill::sqlite
