// PostgresJobStore: what several daemons on one database need — heartbeats,
// rescuing the jobs of silent daemons, wake-ups, and blob pins.
#include "store/postgres/postgres_job_store.h"

#include "store/postgres/rows.h"
#include "store/postgres/work_watcher.h"

#include "common/log.h"

#include <algorithm>
#include <tuple>

namespace pixelmill {

using namespace pg;

namespace {

// Holds a shared advisory lock on a blob's key, on a connection of its own,
// until destroyed.
class PostgresBlobPin final : public BlobPin {
public:
    PostgresBlobPin(Pool::Lease lease, int64_t key) : lease_(std::move(lease)), key_(key) {}
    ~PostgresBlobPin() override {
        try {
            lease_->query("SELECT pg_advisory_unlock_shared($1)", {key_});
        } catch (const Error&) {
            lease_.discard();  // closing the session releases it
        }
    }

private:
    Pool::Lease lease_;
    int64_t key_;
};

}  // namespace

void PostgresJobStore::heartbeat(const NodeStatus& self, int64_t leaseUntil) {
    const int64_t local = localNow();
    pool_.transaction([&](Connection& c) {
        c.query("INSERT INTO nodes (id, address, version, started_at, heartbeat_at, busy, workers) "
                "VALUES ($1, $2, $3, $4, " + onDbClock("$5", "$8") + ", $6, $7) "
                "ON CONFLICT (id) DO UPDATE SET address = excluded.address, "
                "version = excluded.version, heartbeat_at = excluded.heartbeat_at, busy = excluded.busy, "
                "workers = excluded.workers",
                {nodeId_, self.address, self.version, self.startedAt, self.heartbeatAt, self.busy, self.workers,
                 local});
        // Only leases with less than three quarters of their length left: each
        // extension writes a new version of the job's row, and a job shorter
        // than a quarter lease is never extended. The running jobs are found
        // through job_states (jobs has no index on state).
        const std::string until = onDbClock("$2", "$3");
        const int64_t lease = leaseUntil - self.heartbeatAt;
        const int64_t slack = self.heartbeatAt > 0 && lease > 0 ? lease / 4 : 0;
        c.query("UPDATE jobs SET lease_until = " + until + " WHERE seq IN (SELECT seq FROM job_states "
                "WHERE state = 'running') AND state = 'running' AND lease_owner = $1 "
                "AND lease_until < " + until + " - $4::bigint",
                {nodeId_, leaseUntil, local, slack});
    });
    // Keeps row_count_deltas small even when nobody reads the counts, and the queue's tables lean.
    pool_.run([&](Connection& c) {
        foldCounts(c);
        vacuumChurningTables(c);
        analyzeGrowingTables(c);
    });
}

// A table that grows from nothing is planned from the statistics of its
// first rows until autovacuum analyzes it, up to a minute later: a lookup
// by dedup key planned on an empty table stays a sequential scan of the
// whole table while it grows. Until a table is past 200,000 rows it is
// analyzed here when its changes since the last analyze outnumber three
// times its rows (a job is written about three times: the table has about
// doubled), a handful of times in all; past that, autovacuum's thresholds
// (migration 005) keep up.
void PostgresJobStore::analyzeGrowingTables(Connection& c) {
    bestEffort("analyze_skipped", [&] {
        Result due = c.query(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
            "AND relname IN ('jobs', 'job_states', 'originals', 'job_attempts') "
            "AND n_live_tup < 200000 AND n_mod_since_analyze >= greatest(3000, n_live_tup * 3)");
        for (Row r : due) c.exec("ANALYZE " + std::string(r.text(0)));
    });
}

// Two small tables take a dead row per job change: job_queue (each claim)
// and row_count_deltas (each fold), tens of thousands a minute under load.
// Autovacuum visits at most once a minute, while each claim walks the queue's
// dead index entries and each count read scans the deltas whole; a vacuum of
// both every 2 s keeps them a few pages long, which takes a few ms. Freed
// space is reused (TRUNCATE false: truncating waits up to 5 s for an
// exclusive lock that every claim and count contends for); SKIP_LOCKED: if
// another daemon is at it, that one does.
void PostgresJobStore::vacuumChurningTables(Connection& c) {
    const int64_t now = nowMs();
    if (now - lastVacuumMs_ < 2'000) return;
    lastVacuumMs_ = now;
    bestEffort("vacuum_skipped",
               [&] { c.exec("VACUUM (SKIP_LOCKED, TRUNCATE false) job_queue, row_count_deltas"); });
}

int PostgresJobStore::rescueDeadNodes(int64_t deadBefore, int64_t now) {
    const int64_t local = localNow();
    return pool_.transaction([&](Connection& c) {
        // Orphans: owned by a silent daemon, by one already forgotten, or by
        // nobody, or past their lease. Never this daemon's live jobs. Every
        // time is judged on the database's clock; the times written are the caller's.
        const std::string dbNow = onDbClock("$2", "$4");
        Result result =
            c.query(endOrphansStatement(
                        "dead AS (SELECT id FROM nodes WHERE heartbeat_at < " + onDbClock("$1", "$4") +
                            " AND id <> $3), "
                            "due AS ("
                            " UPDATE deliveries SET lease_until = 0, lease_owner = NULL"
                            " WHERE state = 'pending' AND lease_owner IN (SELECT id FROM dead)), "
                            "forgotten AS (DELETE FROM nodes WHERE id IN (SELECT id FROM dead) AND heartbeat_at < " +
                            onDbClock("$1", "$4") + "), ",
                        "j.lease_until < " + dbNow + " OR (j.lease_owner IS DISTINCT FROM $3 AND ("
                            " j.lease_owner IS NULL OR j.lease_owner IN (SELECT id FROM dead)"
                            " OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = j.lease_owner)))",
                        "$2::bigint", "the daemon running it stopped sending heartbeats"),
                    {deadBefore, now, nodeId_, local});
        Row counts = result.front();
        int rescued = counts.i32(0);
        if (counts.i32(1) > 0)
            log::warn("jobs_node_lost", {{"jobs", counts.i32(1)}, {"reason", "no attempt left after their daemon died"}});
        if (rescued > 0) notifyWork(c, nodeId_);
        return rescued;
    });
}

namespace {

const std::string kNodeColumns = "id, address, version, started_at, heartbeat_at, busy, workers";

// The daemons that beat after $1 (this node's clock, read at $2).
std::string nodesAfter() { return "FROM nodes WHERE heartbeat_at > " + onDbClock("$1", "$2"); }

// A row of kNodeColumns, from column `at` on.
NodeStatus readNode(const Row& r, int at) {
    NodeStatus n;
    n.id = r.text(at);
    n.address = r.text(at + 1);
    n.version = r.text(at + 2);
    n.startedAt = r.i64(at + 3);
    n.heartbeatAt = r.i64(at + 4);
    n.busy = r.i32(at + 5);
    n.workers = r.i32(at + 6);
    return n;
}

}  // namespace

std::vector<NodeStatus> PostgresJobStore::nodes(int64_t since) {
    return pool_.run([&](Connection& c) {
        std::vector<NodeStatus> out;
        for (Row r : c.query("SELECT " + kNodeColumns + " " + nodesAfter() + " ORDER BY started_at, id",
                             {since, localNow()}))
            out.push_back(readNode(r, 0));
        return out;
    });
}

JobStore::StatusSnapshot PostgresJobStore::statusSnapshot(int64_t nodesSince) {
    return pool_.run([&](Connection& c) {
        foldCountsIfIdle(c);
        // One statement: rows of kind 'c' are counts (name, n), rows of kind 'n' daemons.
        StatusSnapshot out;
        for (Row r : c.query("SELECT 'c', name, n, NULL, NULL, NULL, NULL::bigint, NULL::bigint, NULL::int, "
                             "NULL::int FROM (" + std::string(kRowCounts) + ") counts(name, n) "
                             "UNION ALL SELECT 'n', NULL, NULL, " + kNodeColumns + " " + nodesAfter(),
                             {nodesSince, localNow()})) {
            if (r.text(0) == "c") out.counts.add(r.text(1), r.i64(2));
            else out.nodes.push_back(readNode(r, 3));
        }
        std::sort(out.nodes.begin(), out.nodes.end(), [](const NodeStatus& a, const NodeStatus& b) {
            return std::tie(a.startedAt, a.id) < std::tie(b.startedAt, b.id);
        });
        return out;
    });
}

void PostgresJobStore::watchForWork(std::function<void()> wake) {
    std::lock_guard lock(watcherMutex_);
    watcher_.reset();
    watcher_ = std::make_unique<WorkWatcher>(conninfo_, kWorkChannel, nodeId_, std::move(wake));
}

std::unique_ptr<BlobPin> PostgresJobStore::pinBlob(const std::string& sha256) {
    int64_t key = blobLockKey(sha256);
    return pool_.runLeased([&](Pool::Lease& lease) -> std::unique_ptr<BlobPin> {
        lease->query("SELECT pg_advisory_lock_shared($1)", {key});
        return std::make_unique<PostgresBlobPin>(std::move(lease), key);
    });
}

bool PostgresJobStore::removeBlobIfUnreferenced(const std::string& sha256, const std::function<void()>& remove) {
    int64_t key = blobLockKey(sha256);
    return pool_.runLeased([&](Pool::Lease& lease) {
        // Pinned by a submission somewhere: it is about to be referenced.
        if (!lease->query("SELECT pg_try_advisory_lock($1)", {key}).front().boolean(0)) return false;
        struct Unlock {
            Pool::Lease& lease;
            int64_t key;
            ~Unlock() {
                try {
                    lease->query("SELECT pg_advisory_unlock($1)", {key});
                } catch (const Error&) {
                    lease.discard();  // never back in the pool with the lock held
                }
            }
        } unlock{lease, key};
        if (blobReferenced(*lease, sha256)) return false;
        remove();
        return true;
    });
}

}  // namespace pixelmill
