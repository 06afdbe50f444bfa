#pragma once

// Row mapping and small queries shared by the SqliteJobStore's files. Every
// function takes the connection it runs on: the writer's inside a write
// task, or a reader's.
#include "common/error.h"
#include "store/job_store.h"
#include "store/sqlite/db.h"

#include <optional>
#include <string>
#include <string_view>

namespace pixelmill::sqlite {

extern const std::string kSelectJob;       // jobs joined with their original
extern const std::string kSelectOriginal;  // originals with their rowid

Original readOriginal(const Statement& s, int firstColumn);
Job readJob(const Statement& s);

// Fills outputs and deliveries; with history, the attempts too.
void loadChildren(Connection& db, Job& job, bool history);
std::optional<Job> selectJob(Connection& db, std::string_view id, bool history = true);
std::optional<Original> selectOriginalBy(Connection& db, std::string_view column, std::string_view value);

// Stores the original unless its content is known; fills in metadata a
// first, less informed store could not read, and revives purged content.
Original upsertOriginal(Connection& db, const Original& n, bool& created);

// The job equal to `dedupKey` that is queued, running or succeeded (not evicted).
std::optional<std::string> findEqualJob(Connection& db, const std::string& dedupKey);
// Inserts a queued job for `original` and returns it as stored.
Job insertJob(Connection& db, const NewJob& job, const Original& original);
// A submission answered with the equal job `jobId`: its callbacks are
// notified when that job ends (at once if it has ended), unless they are the
// job's own.
void subscribe(Connection& db, const std::string& jobId, const NewJob& submission);
// The known job of an Idempotency-Key recorded at or after `since`, as
// JobStore::submit answers with it (replayed); nullopt when the key is not
// kept or its job is gone. Throws idempotencyConflict() for another fingerprint.
std::optional<SubmitOutcome> replayIdempotencyKey(Connection& db, const IdempotencyKey& key, int64_t since);
// Records (or takes over) the key for the outcome of its first submission.
void recordIdempotencyKey(Connection& db, const IdempotencyKey& key, const SubmitOutcome& outcome, int64_t now);
// The INSERT … SELECT of every notification of job ?2 (its own callbacks and
// its subscribers'), due at ?1.
extern const char* const kInsertDeliveries;

void applyMigrations(Connection& db);
int64_t unixMs();

}  // namespace pixelmill::sqlite
