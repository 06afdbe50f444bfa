#include "store/sqlite/rows.h"

#include "store/migrations.h"
#include "store/queued_job.h"
#include "store/row_mapping.h"

#include "common/embedded.h"
#include "common/log.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace pixelmill::sqlite {

namespace {

const std::string kOriginalColumns = std::string(rows::kOriginalColumnsButSeq) + "o.rowid";

}  // namespace

const std::string kSelectJob =
    std::string("SELECT ") + rows::kJobColumns + kOriginalColumns + " FROM jobs j JOIN originals o ON o.id = j.original_id";

const std::string kSelectOriginal = "SELECT " + kOriginalColumns + " FROM originals o";

int64_t unixMs() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Original readOriginal(const Statement& s, int c) { return rows::readOriginal(s, c); }

Job readJob(const Statement& s) { return rows::readJob(s); }

void loadChildren(Connection& db, Job& job, bool history) {
    {
        Statement& s = db.prepare(std::string("SELECT ") + rows::kOutputColumns + " FROM outputs WHERE job_id = ? ORDER BY idx");
        Reset r(s);
        s.bind(1, job.id);
        while (s.step()) job.outputs.push_back(rows::readOutput(s, 0));
    }
    {
        // Subscribers (dedup) may have callbacks where the job has none.
        Statement& s = db.prepare(std::string("SELECT ") + rows::kDeliveryColumns + " FROM deliveries WHERE job_id = ? ORDER BY id");
        Reset r(s);
        s.bind(1, job.id);
        while (s.step()) job.deliveries.push_back(rows::readDelivery(s, 0));
    }
    if (history) {
        Statement& s = db.prepare(std::string("SELECT ") + rows::kAttemptColumns +
                                  " FROM job_attempts WHERE job_id = ? ORDER BY attempt");
        Reset r(s);
        s.bind(1, job.id);
        while (s.step()) job.history.push_back(rows::readAttempt(s, 0));
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

Original upsertOriginal(Connection& db, const Original& n, bool& created) {
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
        "max_attempts, run_after, created_at, callback_url, callback_email, request_id, preset, steps) "
        "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, job.id).bind(2, job.plugin).bind(3, job.pluginVersion).bind(4, job.params).bind(5, job.dedupKey);
    s.bind(6, original.id).bind(7, job.priority).bind(8, job.maxAttempts).bind(9, job.createdAt);
    s.bind(10, job.createdAt).bind(11, job.callbackUrl).bind(12, job.callbackEmail);
    s.bind(13, job.requestId.empty() ? std::nullopt : std::optional(job.requestId));
    s.bind(14, job.preset.empty() ? std::nullopt : std::optional(job.preset));
    s.bind(15, job.steps.empty() ? std::nullopt : std::optional(job.steps));
    s.run();
    db.prepare("UPDATE originals SET used = 1 WHERE id = ? AND used = 0").bind(1, original.id).run();

    return queuedJob(job, original, db.lastInsertRowId());
}

std::optional<SubmitOutcome> replayIdempotencyKey(Connection& db, const IdempotencyKey& key, int64_t since) {
    std::string jobId, fingerprint;
    int status = 0;
    {
        Statement& s = db.prepare(
            "SELECT job_id, fingerprint, status FROM idempotency_keys WHERE client = ? AND idem_key = ? "
            "AND created_at >= ?");
        Reset r(s);
        s.bind(1, key.client).bind(2, key.key).bind(3, since);
        if (!s.step()) return std::nullopt;
        jobId = s.text(0);
        fingerprint = s.text(1);
        status = s.i32(2);
    }
    auto job = selectJob(db, jobId, false);
    if (!job) return std::nullopt;
    if (fingerprint != key.fingerprint) throw idempotencyConflict(key);
    return SubmitOutcome{std::move(*job), false, status, true};
}

void recordIdempotencyKey(Connection& db, const IdempotencyKey& key, const SubmitOutcome& outcome, int64_t now) {
    db.prepare(
          "INSERT INTO idempotency_keys (client, idem_key, job_id, fingerprint, status, created_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (client, idem_key) DO UPDATE SET job_id = ?3, "
          "fingerprint = ?4, status = ?5, created_at = ?6")
        .bind(1, key.client)
        .bind(2, key.key)
        .bind(3, outcome.job.id)
        .bind(4, key.fingerprint)
        .bind(5, outcome.status)
        .bind(6, now)
        .run();
}

const char* const kInsertDeliveries =
    "INSERT INTO deliveries (job_id, kind, target, next_attempt_at, created_at, updated_at) "
    "SELECT id, 'webhook', callback_url, ?1, ?1, ?1 FROM jobs WHERE id = ?2 AND callback_url != '' "
    "UNION ALL "
    "SELECT id, 'email', callback_email, ?1, ?1, ?1 FROM jobs WHERE id = ?2 AND callback_email != '' "
    "UNION ALL "
    "SELECT job_id, kind, target, ?1, ?1, ?1 FROM job_subscribers WHERE job_id = ?2";

void subscribe(Connection& db, const std::string& jobId, const NewJob& submission) {
    const std::pair<const char*, const std::string*> callbacks[] = {{"webhook", &submission.callbackUrl},
                                                                    {"email", &submission.callbackEmail}};
    for (const auto& [kind, target] : callbacks) {
        if (target->empty()) continue;
        // Ended already: the notification is due now, once per target. Else at its end.
        Statement& s = db.prepare(
            "INSERT INTO deliveries (job_id, kind, target, next_attempt_at, created_at, updated_at) "
            "SELECT id, ?2, ?3, ?4, ?4, ?4 FROM jobs WHERE id = ?1 AND state IN ('succeeded', 'failed') "
            "AND NOT EXISTS (SELECT 1 FROM deliveries WHERE job_id = ?1 AND kind = ?2 AND target = ?3) "
            "AND (CASE ?2 WHEN 'webhook' THEN callback_url ELSE callback_email END) != ?3");
        s.bind(1, jobId).bind(2, kind).bind(3, *target).bind(4, submission.createdAt).run();
        db.prepare(
              "INSERT OR IGNORE INTO job_subscribers (job_id, kind, target, created_at) "
              "SELECT id, ?2, ?3, ?4 FROM jobs WHERE id = ?1 "
              "AND (CASE ?2 WHEN 'webhook' THEN callback_url ELSE callback_email END) != ?3")
            .bind(1, jobId)
            .bind(2, kind)
            .bind(3, *target)
            .bind(4, submission.createdAt)
            .run();
    }
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
