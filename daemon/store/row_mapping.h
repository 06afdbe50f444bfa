#pragma once

// Reading the store's rows into the model, the same for both stores: a Row
// is SQLite's Statement or PostgreSQL's Row, which read a column by index
// alike (text, i64, i32, boolean, optInt, optI64, optReal, isNull). The
// column lists say the order these functions read.
#include "store/job_store.h"

#include <string>

namespace pixelmill::rows {

// The columns of jobs j before the original's, as readJob reads them.
inline constexpr const char* kJobColumns =
    "j.seq, j.id, j.plugin, j.plugin_version, j.params, j.dedup_key, j.original_id, j.state, "
    "j.priority, j.attempts, j.max_attempts, j.run_after, j.lease_until, j.error_code, j.error_message, "
    "j.progress_done, j.progress_total, j.created_at, j.started_at, j.finished_at, j.duration_seconds, "
    "j.callback_url, j.callback_email, j.hits, j.evicted, j.request_id, j.preset, j.steps, j.steps_progress, ";
// The columns of originals o but the last, its sequence (rowid or seq).
inline constexpr const char* kOriginalColumnsButSeq =
    "o.id, o.sha256, o.filename, o.media_type, o.size_bytes, o.width, o.height, o.pages, o.created_at, "
    "o.purged_at, ";
inline constexpr const char* kDeliveryColumns =
    "id, job_id, kind, target, state, attempts, next_attempt_at, last_status, last_error";
inline constexpr const char* kOutputColumns = "idx, name, media_type, sha256, size_bytes, width, height";
inline constexpr const char* kPresetColumns = "name, plugin, params, updated_at";
inline constexpr const char* kAttemptColumns =
    "attempt, started_at, finished_at, outcome, error_code, error_message, duration_seconds";

template <class Row>
Original readOriginal(const Row& r, int c) {
    Original o;
    o.id = r.text(c);
    o.sha256 = r.text(c + 1);
    o.filename = r.text(c + 2);
    o.mediaType = r.text(c + 3);
    o.sizeBytes = static_cast<uint64_t>(r.i64(c + 4));
    o.width = r.optInt(c + 5);
    o.height = r.optInt(c + 6);
    o.pages = r.optInt(c + 7);
    o.createdAt = r.i64(c + 8);
    o.purgedAt = r.optI64(c + 9);
    o.seq = r.i64(c + 10);
    return o;
}

// kJobColumns, then the original's columns.
template <class Row>
Job readJob(const Row& r) {
    Job j;
    j.seq = r.i64(0);
    j.id = r.text(1);
    j.plugin = r.text(2);
    j.pluginVersion = r.text(3);
    j.params = r.text(4);
    j.dedupKey = r.text(5);
    j.originalId = r.text(6);
    j.state = parseJobState(r.text(7)).value_or(JobState::Queued);
    j.priority = r.i32(8);
    j.attempts = r.i32(9);
    j.maxAttempts = r.i32(10);
    j.runAfter = r.i64(11);
    j.leaseUntil = r.i64(12);
    if (!r.isNull(13)) j.error = JobError{r.text(13), r.text(14)};
    j.progressDone = static_cast<uint32_t>(r.i64(15));
    j.progressTotal = static_cast<uint32_t>(r.i64(16));
    j.createdAt = r.i64(17);
    j.startedAt = r.optI64(18);
    j.finishedAt = r.optI64(19);
    j.durationSeconds = r.optReal(20);
    j.callbackUrl = r.text(21);
    j.callbackEmail = r.text(22);
    j.hits = r.i64(23);
    j.evicted = r.boolean(24);
    if (!r.isNull(25)) j.requestId = r.text(25);
    if (!r.isNull(26)) j.preset = r.text(26);
    if (!r.isNull(27)) j.steps = r.text(27);
    if (!r.isNull(28)) j.stepsProgress = r.text(28);
    j.original = readOriginal(r, 29);
    return j;
}

template <class Row>
Delivery readDelivery(const Row& r, int c) {
    Delivery d;
    d.id = r.i64(c);
    d.jobId = r.text(c + 1);
    d.kind = r.text(c + 2);
    d.target = r.text(c + 3);
    d.state = r.text(c + 4);
    d.attempts = r.i32(c + 5);
    d.nextAttemptAt = r.i64(c + 6);
    d.lastStatus = r.optInt(c + 7);
    d.lastError = r.text(c + 8);
    return d;
}

template <class Row>
Output readOutput(const Row& r, int c) {
    Output o;
    o.index = static_cast<uint32_t>(r.i64(c));
    o.name = r.text(c + 1);
    o.mediaType = r.text(c + 2);
    o.sha256 = r.text(c + 3);
    o.sizeBytes = static_cast<uint64_t>(r.i64(c + 4));
    o.width = r.optInt(c + 5);
    o.height = r.optInt(c + 6);
    return o;
}

template <class Row>
AttemptRecord readAttempt(const Row& r, int c) {
    AttemptRecord a;
    a.attempt = r.i32(c);
    a.startedAt = r.i64(c + 1);
    a.finishedAt = r.optI64(c + 2);
    a.outcome = r.text(c + 3);
    if (!r.isNull(c + 4)) a.error = JobError{r.text(c + 4), r.text(c + 5)};
    a.durationSeconds = r.optReal(c + 6);
    return a;
}

// kPresetColumns; parameters that are not a JSON object read as none.
template <class Row>
Preset readPreset(const Row& r, int c) {
    Preset p;
    p.name = r.text(c);
    p.plugin = r.text(c + 1);
    p.params = nlohmann::json::parse(r.text(c + 2), nullptr, false);
    if (!p.params.is_object()) p.params = nlohmann::json::object();
    p.updatedAt = r.i64(c + 3);
    return p;
}

}  // namespace pixelmill::rows
