#include "store/sqlite/sqlite_job_store.h"

#include "common/embedded.h"
#include "common/error.h"
#include "common/log.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace pixelmill {

using sqlite::Connection;
using sqlite::Reset;
using sqlite::Statement;

namespace {

constexpr const char* kJobColumns =
    "j.seq, j.id, j.plugin, j.plugin_version, j.params, j.dedup_key, j.original_id, j.state, j.priority, "
    "j.attempts, j.max_attempts, j.run_after, j.lease_until, j.error_code, j.error_message, j.progress_done, "
    "j.progress_total, j.created_at, j.started_at, j.finished_at, j.duration_seconds, j.callback_url, j.batch_id, "
    "o.id, o.sha256, o.filename, o.media_type, o.size_bytes, o.width, o.height, o.pages, o.created_at";

const std::string kSelectJob =
    std::string("SELECT ") + kJobColumns + " FROM jobs j JOIN originals o ON o.id = j.original_id";

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
    j.batchId = s.text(22);
    j.original = readOriginal(s, 23);
    return j;
}

void loadOutputs(Connection& db, Job& job) {
    Statement& s = db.prepare(
        "SELECT idx, name, media_type, sha256, size_bytes, width, height FROM outputs WHERE job_id = ? ORDER BY idx");
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

std::optional<Job> selectJob(Connection& db, std::string_view id) {
    std::optional<Job> job;
    {
        Statement& s = db.prepare(kSelectJob + " WHERE j.id = ?");
        Reset r(s);
        s.bind(1, id);
        if (s.step()) job = readJob(s);
    }
    if (job) loadOutputs(db, *job);
    return job;
}

std::optional<Original> selectOriginal(Connection& db, std::string_view column, std::string_view value) {
    std::string sql = "SELECT id, sha256, filename, media_type, size_bytes, width, height, pages, created_at "
                      "FROM originals WHERE " +
                      std::string(column) + " = ?";
    Statement& s = db.prepare(sql);
    Reset r(s);
    s.bind(1, value);
    if (!s.step()) return std::nullopt;
    return readOriginal(s, 0);
}

Original upsertOriginal(Connection& db, const NewOriginal& n, bool& created) {
    if (auto existing = selectOriginal(db, "sha256", n.sha256)) {
        created = false;
        // Fill in metadata a first, less informed store could not read.
        if ((!existing->width && n.width) || (!existing->pages && n.pages)) {
            Statement& u = db.prepare(
                "UPDATE originals SET width = coalesce(width, ?), height = coalesce(height, ?), "
                "pages = coalesce(pages, ?) WHERE id = ?");
            u.bind(1, n.width).bind(2, n.height).bind(3, n.pages).bind(4, existing->id).run();
            return *selectOriginal(db, "id", existing->id);
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
    return *selectOriginal(db, "id", n.id);
}

void applyMigrations(Connection& db) {
    int current = 0;
    {
        Statement& s = db.prepare("PRAGMA user_version");
        Reset r(s);
        if (s.step()) current = s.i32(0);
    }
    std::vector<EmbeddedFile> files = sqliteMigrations();
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    for (const EmbeddedFile& f : files) {
        std::string name(f.path);
        auto slash = name.rfind('/');
        if (slash != std::string::npos) name = name.substr(slash + 1);
        int version = std::atoi(name.c_str());
        if (version <= current) continue;
        db.exec("BEGIN IMMEDIATE");
        try {
            db.exec(f.contents);
            db.exec("PRAGMA user_version = " + std::to_string(version));
            db.exec("COMMIT");
        } catch (...) {
            db.exec("ROLLBACK");
            throw;
        }
        log::info("migration_applied", {{"version", version}, {"file", name}});
        current = version;
    }
}

// Turns SQLite's disk-full into the API's 507; everything else stays as is.
template <class Fn>
auto translating(Fn&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const sqlite::Error& e) {
        if (e.diskFull()) throw ApiError::insufficientStorage(std::string("the database could not be written: ") + e.what());
        throw;
    }
}

}  // namespace

class SqliteJobStore::ReadLease {
public:
    ReadLease(SqliteJobStore& store, std::unique_ptr<Connection> c) : store_(store), c_(std::move(c)) {}
    ~ReadLease() {
        if (!c_) return;
        std::lock_guard lock(store_.readersMutex_);
        store_.readers_.push_back(std::move(c_));
    }
    ReadLease(ReadLease&&) = default;
    Connection& operator*() { return *c_; }
    Connection* operator->() { return c_.get(); }

private:
    SqliteJobStore& store_;
    std::unique_ptr<Connection> c_;
};

SqliteJobStore::SqliteJobStore(const std::string& path, Options options) : path_(path), options_(options) {
    auto db = std::make_unique<Connection>(path, false);
    db->exec("PRAGMA journal_mode = WAL");
    db->exec(options.fsync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    db->exec("PRAGMA foreign_keys = ON");
    db->exec("PRAGMA wal_autocheckpoint = 0");  // the checkpointer thread does it, off the commit path
    db->exec("PRAGMA temp_store = MEMORY");
    applyMigrations(*db);
    writer_ = std::make_unique<sqlite::WriteQueue>(std::move(db));
    checkpointer_ = std::thread([this] { checkpointLoop(); });
}

SqliteJobStore::~SqliteJobStore() {
    {
        std::lock_guard lock(checkpointMutex_);
        stopping_ = true;
    }
    checkpointWake_.notify_all();
    checkpointer_.join();
    writer_.reset();
}

template <class Fn>
auto SqliteJobStore::write(Fn&& fn) {
    return translating([&] { return writer_->run(std::forward<Fn>(fn)); });
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

void SqliteJobStore::checkpointLoop() {
    std::unique_ptr<Connection> db;
    std::unique_lock lock(checkpointMutex_);
    while (!stopping_) {
        checkpointWake_.wait_for(lock, std::chrono::milliseconds(options_.checkpointIntervalMs));
        if (stopping_) break;
        lock.unlock();
        try {
            if (!db) db = std::make_unique<Connection>(path_, false);
            int logFrames = 0, checkpointed = 0;
            sqlite3_wal_checkpoint_v2(db->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &checkpointed);
            // A WAL that readers never let go of would grow without bound: truncate when it is big.
            if (logFrames > 16384 && logFrames == checkpointed)
                sqlite3_wal_checkpoint_v2(db->raw(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
        } catch (const std::exception& e) {
            log::warn("checkpoint_failed", {{"error", e.what()}});
        }
        lock.lock();
    }
    lock.unlock();
    if (db) sqlite3_wal_checkpoint_v2(db->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
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
    return selectOriginal(*db, "id", id);
}

SubmitOutcome SqliteJobStore::submit(const NewOriginal& original, const NewJob& job) {
    return write([&](Connection& db) {
        bool createdOriginal = false;
        Original o = upsertOriginal(db, original, createdOriginal);
        {
            Statement& d = db.prepare(
                "SELECT id FROM jobs WHERE dedup_key = ? AND state IN ('queued', 'running', 'succeeded') "
                "ORDER BY (state = 'succeeded') DESC, seq DESC LIMIT 1");
            Reset r(d);
            d.bind(1, job.dedupKey);
            if (d.step()) {
                std::string existing = d.text(0);
                d.reset();
                return SubmitOutcome{*selectJob(db, existing), false};
            }
        }
        Statement& s = db.prepare(
            "INSERT INTO jobs (id, plugin, plugin_version, params, dedup_key, original_id, state, priority, "
            "max_attempts, run_after, created_at, callback_url, batch_id) "
            "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)");
        s.bind(1, job.id).bind(2, job.plugin).bind(3, job.pluginVersion).bind(4, job.params).bind(5, job.dedupKey);
        s.bind(6, o.id).bind(7, job.priority).bind(8, job.maxAttempts).bind(9, job.createdAt).bind(10, job.createdAt);
        s.bind(11, job.callbackUrl);
        if (job.batchId.empty()) s.bindNull(12);
        else s.bind(12, job.batchId);
        s.run();
        db.prepare("UPDATE originals SET used = 1 WHERE id = ? AND used = 0").bind(1, o.id).run();

        // Build the answer from what we know rather than reading it back.
        Job j;
        j.seq = db.lastInsertRowId();
        j.id = job.id;
        j.plugin = job.plugin;
        j.pluginVersion = job.pluginVersion;
        j.params = job.params;
        j.dedupKey = job.dedupKey;
        j.originalId = o.id;
        j.state = JobState::Queued;
        j.priority = job.priority;
        j.maxAttempts = job.maxAttempts;
        j.runAfter = job.createdAt;
        j.createdAt = job.createdAt;
        j.callbackUrl = job.callbackUrl;
        j.batchId = job.batchId;
        j.original = std::move(o);
        return SubmitOutcome{std::move(j), true};
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
    for (Job& j : page.jobs) loadOutputs(*db, j);
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
        int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
        const char* where = " WHERE id = ? AND attempts = ? AND state = 'running'";
        int64_t changed = 0;
        switch (result.outcome) {
            case O::Succeeded: {
                Statement& s = db.prepare(std::string("UPDATE jobs SET state = 'succeeded', finished_at = ?1, "
                                                      "duration_seconds = ?2, lease_until = 0, error_code = NULL, "
                                                      "error_message = NULL, progress_done = progress_total") +
                                          " WHERE id = ?3 AND attempts = ?4 AND state = 'running'");
                s.bind(1, now).bind(2, result.durationSeconds).bind(3, jobId).bind(4, attempt).run();
                changed = db.changes();
                break;
            }
            case O::Failed:
            case O::Canceled: {
                Statement& s = db.prepare(std::string("UPDATE jobs SET state = ?1, finished_at = ?2, lease_until = 0, "
                                                      "error_code = ?3, error_message = ?4") +
                                          " WHERE id = ?5 AND attempts = ?6 AND state = 'running'");
                s.bind(1, result.outcome == O::Failed ? "failed" : "canceled").bind(2, now);
                if (result.outcome == O::Failed) s.bind(3, result.error.code).bind(4, result.error.message);
                s.bind(5, jobId).bind(6, attempt).run();
                changed = db.changes();
                if (changed) db.prepare("DELETE FROM outputs WHERE job_id = ?").bind(1, jobId).run();
                break;
            }
            case O::Retry: {
                Statement& s = db.prepare(std::string("UPDATE jobs SET state = 'queued', run_after = ?, lease_until = 0, "
                                                      "error_code = ?, error_message = ?") +
                                          where);
                s.bind(1, result.retryAt).bind(2, result.error.code).bind(3, result.error.message);
                s.bind(4, jobId).bind(5, attempt).run();
                changed = db.changes();
                if (changed) db.prepare("DELETE FROM outputs WHERE job_id = ?").bind(1, jobId).run();
                break;
            }
        }
        return changed > 0;
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
        return selectJob(db, id);
    });
}

std::optional<Job> SqliteJobStore::retry(std::string_view id, int64_t now) {
    return write([&](Connection& db) -> std::optional<Job> {
        auto job = selectJob(db, id);
        if (!job) return std::nullopt;
        if (job->state != JobState::Failed && job->state != JobState::Canceled)
            throw ApiError::conflict("conflict", "only failed or canceled jobs can be retried; job " + job->id +
                                                     " is " + std::string(toString(job->state)));
        db.prepare(
              "UPDATE jobs SET state = 'queued', attempts = 0, run_after = ?, lease_until = 0, error_code = NULL, "
              "error_message = NULL, started_at = NULL, finished_at = NULL, duration_seconds = NULL, "
              "progress_done = 0, progress_total = 0 WHERE id = ?")
            .bind(1, now)
            .bind(2, job->id)
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
        Statement& s = db.prepare(
            "UPDATE jobs SET state = 'queued', run_after = ?1, lease_until = 0 "
            "WHERE state = 'running' AND (?2 OR lease_until < ?1)");
        s.bind(1, now).bind(2, all ? 1 : 0).run();
        return static_cast<int>(db.changes());
    });
}

StateCounts SqliteJobStore::countByState() {
    StateCounts counts{{JobState::Queued, 0}, {JobState::Running, 0}, {JobState::Succeeded, 0},
                       {JobState::Failed, 0}, {JobState::Canceled, 0}};
    auto db = reader();
    Statement& s = db->prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state");
    Reset r(s);
    while (s.step())
        if (auto st = parseJobState(s.text(0))) counts[*st] = static_cast<uint64_t>(s.i64(1));
    return counts;
}

uint64_t SqliteJobStore::countOriginals() {
    auto db = reader();
    Statement& s = db->prepare("SELECT COUNT(*) FROM originals");
    Reset r(s);
    return s.step() ? static_cast<uint64_t>(s.i64(0)) : 0;
}

uint64_t SqliteJobStore::countQueued() {
    auto db = reader();
    Statement& s = db->prepare("SELECT COUNT(*) FROM jobs WHERE state = 'queued'");
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

bool SqliteJobStore::isBlobReferenced(const std::string& sha256) {
    auto db = reader();
    Statement& s = db->prepare(
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM outputs WHERE sha256 = ?1) "
        "OR EXISTS (SELECT 1 FROM originals WHERE sha256 = ?1)");
    Reset r(s);
    s.bind(1, sha256);
    return s.step();
}

}  // namespace pixelmill
