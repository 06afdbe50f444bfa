// SqliteJobStore: the attempts of running jobs (claim, outputs, progress,
// their end, and claims given back unstarted), synchronous and posted to the
// writer without waiting. Every change to a running job is conditional on the
// attempt.
#include "store/sqlite/sqlite_job_store.h"

#include "store/sqlite/rows.h"

#include "common/clock.h"
#include "common/error.h"

#include <algorithm>

namespace pixelmill {

using namespace sqlite;

namespace {

bool putOutputIn(Connection& db, const std::string& jobId, int attempt, const Output& output) {
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
}

void setProgressIn(Connection& db, const std::string& jobId, int attempt, uint32_t done, uint32_t total) {
    db.prepare("UPDATE jobs SET progress_done = ?, progress_total = ? WHERE id = ? AND attempts = ? AND state = 'running'")
        .bind(1, done)
        .bind(2, total)
        .bind(3, jobId)
        .bind(4, attempt)
        .run();
}

bool finishAttemptIn(Connection& db, const std::string& jobId, int attempt, const AttemptResult& result) {
    using O = AttemptResult::Outcome;
    int64_t now = result.endedAt ? result.endedAt : unixMs();
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
}

// What the synchronous forms would have thrown: a full disk as ApiError 507.
std::exception_ptr translated(std::exception_ptr error) {
    if (!error) return error;
    try {
        translating([&] { std::rethrow_exception(error); });
    } catch (...) {
        return std::current_exception();
    }
    return error;
}

}  // namespace

std::vector<ClaimedJob> SqliteJobStore::claim(int max, int64_t now, int64_t leaseMs) {
    return write([&](Connection& db) {
        std::vector<ClaimedJob> out;
        std::vector<std::string> originals;
        {
            Statement& s = db.prepare(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = ?1, started_at = ?2, "
                "progress_done = 0, progress_total = 0, steps_progress = NULL, begun = 0 "
                "WHERE seq IN (SELECT seq FROM jobs WHERE state = 'queued' AND run_after <= ?2 "
                "ORDER BY priority DESC, seq LIMIT ?3) "
                "RETURNING id, plugin, plugin_version, params, attempts, max_attempts, created_at, run_after, "
                "original_id, priority, seq, steps");
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
                if (!s.isNull(11)) c.steps = s.text(11);
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
            Statement& o = db.prepare("SELECT sha256, media_type, filename FROM originals WHERE id = ?");
            Reset r(o);
            o.bind(1, originals[i]);
            if (o.step()) {
                out[i].sourceSha256 = o.text(0);
                out[i].sourceMediaType = o.text(1);
                out[i].sourceFilename = o.text(2);
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
    return write([&](Connection& db) { return putOutputIn(db, jobId, attempt, output); });
}

void SqliteJobStore::setProgress(const std::string& jobId, int attempt, uint32_t done, uint32_t total) {
    write([&](Connection& db) { setProgressIn(db, jobId, attempt, done, total); });
}

bool SqliteJobStore::finishAttempt(const std::string& jobId, int attempt, const AttemptResult& result) {
    lostOutputs_.forget(jobId, attempt);
    return write([&](Connection& db) { return finishAttemptIn(db, jobId, attempt, result); });
}

int SqliteJobStore::releaseClaims(const std::vector<ClaimedJob>& claimed) {
    if (claimed.empty()) return 0;
    return write([&](Connection& db) {
        int released = 0;
        for (const ClaimedJob& c : claimed) {
            // started_at goes back to the start of the attempt before, if there was one.
            db.prepare(
                  "UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_until = 0, begun = 1, "
                  "started_at = (SELECT started_at FROM job_attempts WHERE job_id = ?1 AND attempt = ?2 - 1) "
                  "WHERE id = ?1 AND attempts = ?2 AND state = 'running'")
                .bind(1, c.id)
                .bind(2, c.attempt)
                .run();
            if (db.changes() == 0) continue;
            ++released;
            db.prepare("DELETE FROM job_attempts WHERE job_id = ? AND attempt = ?").bind(1, c.id).bind(2, c.attempt).run();
        }
        return released;
    });
}

void SqliteJobStore::beginAttemptAsync(const std::string& jobId, int attempt, WriteDone done) {
    writer_->post(
        [jobId, attempt](Connection& db) {
            db.prepare("UPDATE jobs SET begun = 1 WHERE id = ? AND attempts = ? AND state = 'running'")
                .bind(1, jobId)
                .bind(2, attempt)
                .run();
        },
        [done = std::move(done)](std::exception_ptr error) {
            if (done) done(!error, translated(error));
        });
}

void SqliteJobStore::putOutputAsync(const std::string& jobId, int attempt, const Output& output, WriteDone done) {
    auto owned = std::make_shared<bool>(false);
    writer_->post(
        [this, jobId, attempt, output, owned](Connection& db) {
            try {
                *owned = putOutputIn(db, jobId, attempt, output);
            } catch (...) {
                lostOutputs_.mark(jobId, attempt);  // the end, later in this transaction, must see it
                throw;
            }
        },
        [this, jobId, attempt, owned, done = std::move(done)](std::exception_ptr error) {
            if (error) lostOutputs_.mark(jobId, attempt);  // the commit failed: the end may come in a later one
            if (done) done(*owned && !error, translated(error));
        });
}

void SqliteJobStore::setProgressAsync(const std::string& jobId, int attempt, uint32_t done, uint32_t total,
                                      WriteDone written) {
    writer_->post([jobId, attempt, done, total](Connection& db) { setProgressIn(db, jobId, attempt, done, total); },
                  [written = std::move(written)](std::exception_ptr error) {
                      if (written) written(!error, translated(error));
                  });
}

void SqliteJobStore::finishAttemptAsync(const std::string& jobId, int attempt, const AttemptResult& result,
                                        WriteDone done) {
    auto owned = std::make_shared<bool>(false);
    writer_->post(
        [this, jobId, attempt, result, owned](Connection& db) {
            if (lostOutputs_.forget(jobId, attempt) && result.outcome == AttemptResult::Outcome::Succeeded)
                throw ApiError::insufficientStorage("an output of job " + jobId + " attempt " +
                                                    std::to_string(attempt) + " could not be recorded");
            *owned = finishAttemptIn(db, jobId, attempt, result);
        },
        [owned, done = std::move(done)](std::exception_ptr error) {
            if (done) done(*owned && !error, translated(error));
        });
}

}  // namespace pixelmill
