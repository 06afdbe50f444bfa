#pragma once

// Row mapping and the statements the PostgresJobStore's files share. Every
// function takes the connection it runs on, inside the caller's transaction
// when it has one.
#include "store/job_store.h"
#include "store/postgres/pg.h"

#include "common/log.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill::pg {

extern const std::string kOriginalColumns;  // o.id … o.seq, as readOriginal reads them
extern const std::string kSelectJob;        // jobs j joined with their original o
// Appended to a FROM with jobs j: its job_states row s (state, finish, hits
// and the indexes on them; migrations/008_job_states.sql).
extern const std::string kJoinStates;
extern const std::string kSelectOriginal;   // originals o
extern const std::string kDeliveryColumns;  // as readDelivery reads them

// The channel a transaction that makes jobs ready notifies (payload: the node).
inline constexpr const char* kWorkChannel = "pixelmill_jobs";

// The claim's candidates, best first, locked (skipping those another daemon
// is claiming): what the queue table (job_queue, migration 006) and its
// index exist for. Each candidate's jobs row is looked up by its seq, one at
// a time (LATERAL … OFFSET 0 keeps the planner from joining otherwise): a
// join that reads jobs by state would walk an entry for every job claimed
// since jobs was last vacuumed. The state test matters when another claim
// moved the row meanwhile. $1 now, $2 how many.
inline constexpr const char* kClaimCandidates =
    "SELECT j.seq FROM job_queue q, "
    "LATERAL (SELECT seq FROM jobs WHERE seq = q.seq AND state = 'queued' OFFSET 0) j "
    "WHERE q.run_after <= $1 ORDER BY q.priority DESC, q.seq LIMIT $2 FOR UPDATE OF j SKIP LOCKED";


Original readOriginal(const Row& row, int firstColumn);
Job readJob(const Row& row);
Delivery readDelivery(const Row& row, int firstColumn);

// Fills outputs and deliveries; with history, the attempts too. Three statements for any number of jobs.
void loadChildren(Connection& c, std::vector<Job>& jobs, bool history);
std::optional<Job> selectJob(Connection& c, std::string_view id, bool history = true);
std::optional<Original> selectOriginal(Connection& c, std::string_view id);

// Stores the originals whose content is new, fills in metadata a first, less
// informed store could not read, and revives purged content; returns each
// (by position). Created ones carry the id that was proposed.
std::vector<Original> upsertOriginals(Connection& c, const std::vector<const Original*>& originals);

// What enqueue did with one item.
struct Enqueued {
    std::string jobId;
    int64_t seq = 0;
    bool created = false;  // false: an equal job existed (dedup)
    Original original;
};

// Stores each item's original and, unless a job with the same dedup key is
// queued, running or succeeded (or came earlier in `items`), its job; then
// notifies kWorkChannel if a job was created. Equal submissions from other
// daemons wait on an advisory lock of the key, so that exactly one creates.
std::vector<Enqueued> enqueue(Connection& c, const std::vector<const BatchItem*>& items, const std::string& nodeId);

// The database's clock, unix ms: heartbeats, leases and rescue are judged by
// it, never by one daemon's clock.
inline constexpr const char* kDbNow = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

// Every row count (row_counts + the deltas not folded yet, 003_row_counts.sql): name, n.
inline constexpr const char* kRowCounts =
    "SELECT name, sum(n)::bigint FROM (SELECT name, n FROM row_counts UNION ALL "
    "SELECT name, n FROM row_count_deltas) c GROUP BY name";

// `time`, a reading of the caller's clock taken when that clock read `local`
// (both SQL parameters), on the database's clock.
inline std::string onDbClock(const std::string& time, const std::string& local) {
    return "(" + time + "::bigint - " + local + "::bigint + " + kDbNow + ")";
}

// Upkeep that may fail without harm (another daemon doing the same, a lock
// not granted): fn's failure is logged at debug as `event` and dropped, but
// a lost connection is rethrown for the pool to handle.
template <class Fn>
void bestEffort(const char* event, Fn&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        if (e.connectionLost()) throw;
        log::debug(event, {{"error", e.what()}});
    }
}

// One statement that ends the attempts of orphaned running jobs: after the
// CTEs `with` (may be empty; each followed by a comma), the running jobs j
// matching `orphan` go back to the queue at `now` (an SQL expression: the
// caller's time, as run_after and finished_at are everywhere), or,
// with no attempt left, fail with `node_lost` and get their notifications.
// Their open attempts end as `retry` or `failed`, with `node_lost` and
// `why`. Answers one row: requeued, failed.
std::string endOrphansStatement(const std::string& with, const std::string& orphan, const std::string& now,
                                const std::string& why);

// Wakes the daemons LISTENing (at commit).
void notifyWork(Connection& c, const std::string& nodeId);

// True if a kept original or a non-evicted output refers to the blob.
bool blobReferenced(Connection& c, const std::string& sha256);

// The advisory lock key of a blob: its first 16 hex digits.
int64_t blobLockKey(const std::string& sha256);

// Applies migrations/NNN_*.sql that schema_migrations does not list. Runs
// inside the caller's transaction, under an advisory lock that a second
// daemon starting at the same time waits on (it then finds them applied).
void applyMigrations(Connection& c);

}  // namespace pixelmill::pg
