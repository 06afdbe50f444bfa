// PostgresJobStore: the queue and the state machine (claim, attempts, cancel,
// retry, lease expiry). Every change to a running job is conditional on the
// attempt and on this node owning the lease.
#include "store/postgres/postgres_job_store.h"

#include "store/postgres/rows.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

namespace pixelmill {

using namespace pg;

namespace {

// One statement: the candidates locked (skipping those another daemon is
// claiming), moved to running under this node's lease, the outputs of
// earlier attempts dropped, the attempt recorded; with each job's source.
// $1 now, $2 how many, $3 lease until, $4 this node, $5 this node's clock
// when it read $1 (the lease is kept on the database's clock).
const std::string kClaim =
    std::string("WITH claimed AS ("
                " UPDATE jobs SET state = 'running', attempts = attempts + 1,"
    "                 lease_until = $3::bigint - $5::bigint + " + std::string(kDbNow) + ", lease_owner = $4,"
                "                 started_at = $1, progress_done = 0, progress_total = 0, steps_progress = NULL"
                " WHERE seq IN (") +
    kClaimCandidates +
    ")"
    " RETURNING id, plugin, plugin_version, params, attempts, max_attempts, created_at, run_after, original_id,"
    "           priority, seq, steps), "
    "earlier AS (DELETE FROM outputs WHERE job_id IN (SELECT id FROM claimed)), "
    "history AS ("
    " INSERT INTO job_attempts (job_id, attempt, started_at) SELECT id, attempts, $1::bigint FROM claimed"
    " ON CONFLICT (job_id, attempt) DO UPDATE SET started_at = excluded.started_at, finished_at = NULL,"
    "   outcome = NULL, error_code = NULL, error_message = NULL, duration_seconds = NULL) "
    "SELECT c.id, c.plugin, c.plugin_version, c.params, c.attempts, c.max_attempts, c.created_at, c.run_after,"
    "       o.sha256, o.media_type, o.filename, c.steps "
    "FROM claimed c JOIN originals o ON o.id = c.original_id ORDER BY c.priority DESC, c.seq";

// The running attempt this node owns: $1 job, $2 attempt, $3 node.
const std::string kOwned = "id = $1 AND attempts = $2 AND state = 'running' AND lease_owner = $3";

const char* outcomeName(AttemptResult::Outcome o) {
    using O = AttemptResult::Outcome;
    return o == O::Succeeded ? "succeeded" : o == O::Failed ? "failed" : o == O::Retry ? "retry" : "canceled";
}

// The job's state, locked until the transaction ends; nullopt if unknown.
std::optional<JobState> lockJob(Connection& c, std::string_view id) {
    Result r = c.query("SELECT state FROM jobs WHERE id = $1 FOR UPDATE", {id});
    if (r.empty()) return std::nullopt;
    return parseJobState(r.front().text(0));
}

}  // namespace

std::vector<ClaimedJob> PostgresJobStore::claim(int max, int64_t now, int64_t leaseMs) {
    if (max <= 0) return {};
    const int64_t local = localNow();
    return pool_.run([&](Connection& c) {
        std::vector<ClaimedJob> out;
        for (Row r : c.query(kClaim, {now, max, now + leaseMs, nodeId_, local})) {
            ClaimedJob j;
            j.id = r.text(0);
            j.plugin = r.text(1);
            j.pluginVersion = r.text(2);
            j.params = r.text(3);
            j.attempt = r.i32(4);
            j.maxAttempts = r.i32(5);
            j.createdAt = r.i64(6);
            j.runAfter = r.i64(7);
            j.sourceSha256 = r.text(8);
            j.sourceMediaType = r.text(9);
            j.sourceFilename = r.text(10);
            if (!r.isNull(11)) j.steps = r.text(11);
            out.push_back(std::move(j));
        }
        return out;
    });
}

bool PostgresJobStore::putOutput(const std::string& jobId, int attempt, const Output& output) {
    return pool_.run([&](Connection& c) { return putOutputIn(c, jobId, attempt, output); });
}

bool PostgresJobStore::putOutputIn(Connection& c, const std::string& jobId, int attempt, const Output& output) {
    // FOR SHARE: a rescue waits until the output is in, so the next claim drops it.
    Result r = c.query(
        "WITH owned AS (SELECT id FROM jobs WHERE " + kOwned + " FOR SHARE) "
        "INSERT INTO outputs (job_id, idx, name, media_type, sha256, size_bytes, width, height) "
        "SELECT id, $4::int, $5, $6, $7, $8::bigint, $9::int, $10::int FROM owned "
        "ON CONFLICT (job_id, idx) DO UPDATE SET name = excluded.name, media_type = excluded.media_type, "
        "sha256 = excluded.sha256, size_bytes = excluded.size_bytes, width = excluded.width, "
        "height = excluded.height",
        {jobId, attempt, nodeId_, output.index, output.name, output.mediaType, output.sha256, output.sizeBytes,
         output.width, output.height});
    return r.affected() > 0;
}

void PostgresJobStore::setProgress(const std::string& jobId, int attempt, uint32_t done, uint32_t total) {
    pool_.run([&](Connection& c) { setProgressIn(c, jobId, attempt, done, total); });
}

void PostgresJobStore::setProgressIn(Connection& c, const std::string& jobId, int attempt, uint32_t done,
                                     uint32_t total) {
    c.query("UPDATE jobs SET progress_done = $4, progress_total = $5 WHERE " + kOwned,
            {jobId, attempt, nodeId_, done, total});
}

bool PostgresJobStore::finishAttempt(const std::string& jobId, int attempt, const AttemptResult& result) {
    return pool_.transaction([&](Connection& c) { return finishAttemptIn(c, jobId, attempt, result); });
}

bool PostgresJobStore::finishAttemptIn(Connection& c, const std::string& jobId, int attempt,
                                       const AttemptResult& result) {
    using O = AttemptResult::Outcome;
    const int64_t now = result.endedAt ? result.endedAt : nowMs();
    const bool failed = result.outcome == O::Failed || result.outcome == O::Retry;
    const char* outcome = outcomeName(result.outcome);
    std::optional<std::string> code, message;
    if (failed) {
        code = result.error.code;
        message = result.error.message;
    }
    const std::string ended = "lease_until = 0, lease_owner = NULL WHERE " + kOwned;
    Result update = [&] {
        switch (result.outcome) {
            case O::Succeeded:
                return c.query("UPDATE jobs SET state = 'succeeded', finished_at = $4, duration_seconds = $5, "
                               "error_code = NULL, error_message = NULL, progress_done = progress_total, " + ended,
                               {jobId, attempt, nodeId_, now, result.durationSeconds});
            case O::Retry:
                return c.query("UPDATE jobs SET state = 'queued', run_after = $4, error_code = $5, "
                               "error_message = $6, " + ended,
                               {jobId, attempt, nodeId_, result.retryAt, code, message});
            case O::Failed:
            case O::Canceled:
                break;
        }
        return c.query("UPDATE jobs SET state = $4, finished_at = $5, error_code = $6, error_message = $7, " +
                           ended,
                       {jobId, attempt, nodeId_, outcome, now, code, message});
    }();
    if (update.affected() == 0) return false;

    std::optional<double> duration;
    if (result.outcome == O::Succeeded) duration = result.durationSeconds;
    c.query("UPDATE job_attempts SET finished_at = $3, outcome = $4, error_code = $5, error_message = $6, "
            "duration_seconds = $7 WHERE job_id = $1 AND attempt = $2",
            {jobId, attempt, now, outcome, code, message, duration});
    if (result.outcome != O::Succeeded) c.query("DELETE FROM outputs WHERE job_id = $1", {jobId});
    if (result.outcome == O::Succeeded || result.outcome == O::Failed) {
        // The notifications are born with the job's end: a crash cannot lose them.
        c.query("INSERT INTO deliveries (job_id, kind, target, next_attempt_at, created_at, updated_at) "
                "SELECT id, 'webhook', callback_url, $1::bigint, $1::bigint, $1::bigint FROM jobs "
                "WHERE id = $2 AND callback_url <> '' "
                "UNION ALL "
                "SELECT id, 'email', callback_email, $1::bigint, $1::bigint, $1::bigint FROM jobs "
                "WHERE id = $2 AND callback_email <> '' "
                "UNION ALL "
                "SELECT job_id, kind, target, $1::bigint, $1::bigint, $1::bigint FROM job_subscribers "
                "WHERE job_id = $2",
                {now, jobId});
    }
    return true;
}

void PostgresJobStore::putOutputAsync(const std::string& jobId, int attempt, const Output& output, WriteDone done) {
    auto owned = std::make_shared<bool>(false);
    writes_.post(
        [this, jobId, attempt, output, owned](Connection& c) { *owned = putOutputIn(c, jobId, attempt, output); },
        [this, jobId, attempt, owned, done = std::move(done)](std::exception_ptr error) {
            if (error) lostOutputs_.mark(jobId, attempt);  // the end, posted later, must see it
            if (done) done(*owned && !error, error);
        });
}

void PostgresJobStore::setProgressAsync(const std::string& jobId, int attempt, uint32_t done, uint32_t total,
                                        WriteDone written) {
    writes_.post(
        [this, jobId, attempt, done, total](Connection& c) { setProgressIn(c, jobId, attempt, done, total); },
        [written = std::move(written)](std::exception_ptr error) {
            if (written) written(!error, error);
        });
}

void PostgresJobStore::finishAttemptAsync(const std::string& jobId, int attempt, const AttemptResult& result,
                                          WriteDone done) {
    auto owned = std::make_shared<bool>(false);
    writes_.post(
        [this, jobId, attempt, result, owned](Connection& c) {
            // Not forgotten here: a batch that fails runs this again.
            if (result.outcome == AttemptResult::Outcome::Succeeded && lostOutputs_.contains(jobId, attempt))
                throw ApiError::insufficientStorage("an output of job " + jobId + " attempt " +
                                                    std::to_string(attempt) + " could not be recorded");
            *owned = finishAttemptIn(c, jobId, attempt, result);
        },
        [this, jobId, attempt, owned, done = std::move(done)](std::exception_ptr error) {
            lostOutputs_.forget(jobId, attempt);
            if (done) done(*owned && !error, error);
        });
}

int PostgresJobStore::releaseClaims(const std::vector<ClaimedJob>& claimed) {
    if (claimed.empty()) return 0;
    return pool_.transaction([&](Connection& c) {
        int released = 0;
        for (const ClaimedJob& j : claimed) {
            // started_at goes back to the start of the attempt before, if there was one.
            Result r = c.query("UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_until = 0, "
                               "lease_owner = NULL, started_at = (SELECT a.started_at FROM job_attempts a "
                               "WHERE a.job_id = $1 AND a.attempt = $2::int - 1) WHERE " + kOwned,
                               {j.id, j.attempt, nodeId_});
            if (r.affected() == 0) continue;
            ++released;
            c.query("DELETE FROM job_attempts WHERE job_id = $1 AND attempt = $2", {j.id, j.attempt});
        }
        if (released > 0) notifyWork(c, nodeId_);  // another daemon may run them now
        return released;
    });
}

std::optional<Job> PostgresJobStore::cancel(std::string_view id, int64_t now) {
    return pool_.transaction([&](Connection& c) -> std::optional<Job> {
        auto state = lockJob(c, id);
        if (!state) return std::nullopt;
        if (isFinal(*state))
            throw ApiError::conflict("conflict", "job " + std::string(id) + " has already ended (" +
                                                     std::string(toString(*state)) + ")");
        c.query("UPDATE jobs SET state = 'canceled', finished_at = $2, lease_until = 0, lease_owner = NULL "
                "WHERE id = $1",
                {id, now});
        c.query("DELETE FROM outputs WHERE job_id = $1", {id});
        c.query("UPDATE job_attempts SET finished_at = $2, outcome = 'canceled' "
                "WHERE job_id = $1 AND finished_at IS NULL",
                {id, now});
        return selectJob(c, id);
    });
}

std::optional<Job> PostgresJobStore::retry(std::string_view id, int64_t now, int attemptBudget) {
    return pool_.transaction([&](Connection& c) -> std::optional<Job> {
        auto state = lockJob(c, id);
        if (!state) return std::nullopt;
        if (*state != JobState::Failed && *state != JobState::Canceled)
            throw ApiError::conflict("conflict", "only failed or canceled jobs can be retried; job " + std::string(id) +
                                                     " is " + std::string(toString(*state)));
        c.query("UPDATE jobs SET state = 'queued', max_attempts = attempts + $2, run_after = $3, lease_until = 0, "
                "lease_owner = NULL, error_code = NULL, error_message = NULL, started_at = NULL, finished_at = NULL, "
                "duration_seconds = NULL, progress_done = 0, progress_total = 0 WHERE id = $1",
                {id, attemptBudget, now});
        // A notification of the earlier end would report the new run's state: drop it.
        c.query("UPDATE deliveries SET state = 'failed', last_error = 'superseded: the job was retried' "
                "WHERE job_id = $1 AND state = 'pending'",
                {id});
        notifyWork(c, nodeId_);
        return selectJob(c, id);
    });
}

bool PostgresJobStore::remove(std::string_view id) {
    // Outputs, deliveries and attempts go with it (ON DELETE CASCADE).
    return pool_.run([&](Connection& c) { return c.query("DELETE FROM jobs WHERE id = $1", {id}).affected() > 0; });
}

int PostgresJobStore::requeueExpired(int64_t now, bool all) {
    const int64_t local = localNow();
    return pool_.transaction([&](Connection& c) {
        // $2: this node's own jobs too (see the header); never another live node's.
        // Job leases are kept on the database's clock (see claim).
        const std::string expired = "(lease_until < " + onDbClock("$1", "$4") + " OR ($2 AND lease_owner = $3))";
        Result result = c.query(endOrphansStatement({}, expired, "$1::bigint", "the daemon running it stopped"),
                                {now, all, nodeId_, local});
        Row counts = result.front();
        int requeued = counts.i32(0);
        if (counts.i32(1) > 0)
            log::warn("jobs_node_lost", {{"jobs", counts.i32(1)}, {"reason", "no attempt left after their daemon died"}});
        // Notifications a dead process had claimed are due again too.
        c.query("UPDATE deliveries SET lease_until = 0, lease_owner = NULL "
                "WHERE state = 'pending' AND lease_until <> 0 AND (lease_until < $1 OR ($2 AND lease_owner = $3))",
                {now, all, nodeId_});
        if (requeued > 0) notifyWork(c, nodeId_);
        return requeued;
    });
}

}  // namespace pixelmill
