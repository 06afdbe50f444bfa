// PostgresJobStore alone: several daemons on one database. Migrations at a
// common start, claims and submissions racing between daemons, fencing of a
// daemon presumed dead, heartbeats, wake-ups, blob pins, and an outage of the
// server. What every store does is in job_store_test.cpp.
#include "common/embedded.h"
#include "store/migrations.h"
#include "store/postgres/pg.h"
#include "store/postgres/rows.h"
#include "store_fixture.h"

#include "common/clock.h"
#include "common/error.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace pixelmill {
namespace {

using namespace test;
using namespace std::chrono_literals;

// Threads that start their work at the same moment.
class StartLine {
public:
    explicit StartLine(int runners) : waiting_(runners) {}
    void arrive() {
        std::unique_lock lock(mutex_);
        if (--waiting_ == 0) go_.notify_all();
        go_.wait(lock, [&] { return waiting_ == 0; });
    }

private:
    std::mutex mutex_;
    std::condition_variable go_;
    int waiting_;
};

NodeStatus nodeStatus(const std::string& id, int64_t startedAt, int64_t heartbeatAt) {
    NodeStatus n;
    n.id = id;
    n.address = "127.0.0.1:" + std::to_string(8000 + id.size());
    n.version = "0.1.0";
    n.startedAt = startedAt;
    n.heartbeatAt = heartbeatAt;
    n.busy = 1;
    n.workers = 4;
    return n;
}

int64_t count(const std::string& uri, const std::string& sql) {
    pg::Connection c(uri);
    return c.queryOnce(sql).front().i64(0);
}

// `count` queued thumbnail jobs, each on an original of its own, in one batch.
void submitBatch(JobStore& store, const std::string& prefix, int count, int64_t t) {
    Batch batch{newId(), "thumbnail", "{}", t, {}};
    std::vector<BatchItem> items;
    for (int i = 0; i < count; ++i)
        items.push_back({makeOriginal(prefix + std::to_string(i), t), makeJob(prefix + std::to_string(i), t)});
    store.createBatch(batch, items);
}

// Expects `call` to throw the store's 503.
template <class Fn>
void expectUnavailable(Fn&& call) {
    try {
        call();
        FAIL_CHECK("expected ApiError 503");
    } catch (const ApiError& e) {
        CHECK(e.status() == 503);
        CHECK(e.code() == "store_unavailable");
        CHECK(e.retryAfterSeconds() == 5);
    }
}

}  // namespace

TEST_CASE("postgres store: migrations are applied once, even by daemons starting at the same moment",
          "[store][postgres]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    const int latest = pendingMigrations(postgresMigrations(), 0).back().version;  // the newest number
    const int files = static_cast<int>(postgresMigrations().size());
    CHECK(latest >= 1);
    CHECK(f.store().schemaVersion() == latest);

    // Four more daemons at once on the database: none applies anything again (001 would fail on CREATE TABLE).
    constexpr int kDaemons = 4;
    StartLine line(kDaemons);
    std::vector<std::future<int>> started;
    for (int i = 0; i < kDaemons; ++i)
        started.push_back(std::async(std::launch::async, [&, i] {
            line.arrive();
            return f.open("node-" + std::to_string(i))->schemaVersion();
        }));
    for (auto& s : started) CHECK(s.get() == latest);
    CHECK(count(f.location(), "SELECT count(*) FROM schema_migrations") == files);

    // And on a fresh database, daemons starting together apply them exactly once.
    std::string fresh = sharedPostgres().createDatabase();
    StartLine together(kDaemons);
    std::vector<std::future<int>> first;
    for (int i = 0; i < kDaemons; ++i)
        first.push_back(std::async(std::launch::async, [&, i] {
            together.arrive();
            return PostgresStore::open(fresh, "node-" + std::to_string(i))->schemaVersion();
        }));
    for (auto& s : first) CHECK(s.get() == latest);
    CHECK(count(fresh, "SELECT count(*) FROM schema_migrations") == files);
}

TEST_CASE("postgres store: two daemons claiming from 8 threads never get the same job and together get all",
          "[store][postgres][concurrency]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    auto other = f.open("node-b");
    constexpr int kJobs = 400;
    int64_t t = nowMs();
    Batch batch{newId(), "thumbnail", "{}", t, {}};
    std::vector<BatchItem> items;
    for (int i = 0; i < kJobs; ++i)
        items.push_back(
            {makeOriginal("claim-" + std::to_string(i), t), makeJob("claim-" + std::to_string(i), t, i % 3)});
    REQUIRE(f.store().createBatch(batch, items).jobIds.size() == kJobs);

    constexpr int kThreads = 8;
    StartLine line(kThreads);
    std::vector<std::vector<ClaimedJob>> got(kThreads);
    std::vector<std::string> errors(kThreads);
    {
        std::vector<std::thread> threads;
        for (int th = 0; th < kThreads; ++th)
            threads.emplace_back([&, th] {
                JobStore& store = th % 2 == 0 ? static_cast<JobStore&>(f.store()) : *other;
                line.arrive();
                try {
                    while (true) {
                        auto claimed = store.claim(3, nowMs(), kLeaseMs);
                        if (claimed.empty()) break;
                        got[th].insert(got[th].end(), claimed.begin(), claimed.end());
                    }
                } catch (const std::exception& e) {
                    errors[th] = e.what();
                }
            });
        for (auto& th : threads) th.join();
    }
    for (const auto& e : errors) CHECK(e.empty());

    std::set<std::string> ids;
    size_t total = 0, byA = 0;
    for (int th = 0; th < kThreads; ++th) {
        total += got[th].size();
        if (th % 2 == 0) byA += got[th].size();
        for (const ClaimedJob& c : got[th]) {
            ids.insert(c.id);
            CHECK(c.attempt == 1);
        }
    }
    CHECK(total == kJobs);       // nothing claimed twice …
    CHECK(ids.size() == kJobs);  // … and nothing left behind
    CHECK(byA > 0);
    CHECK(byA < kJobs);
    CHECK(f.store().countQueued() == 0);
    CHECK(f.store().countByState()[JobState::Running] == kJobs);

    // Each job belongs to the daemon that claimed it: only that one may record its output.
    // (A thread that lost every race claimed nothing: take any thread of that daemon that did.)
    for (int daemon = 0; daemon < 2; ++daemon) {
        const ClaimedJob* claimed = nullptr;
        for (int th = daemon; th < kThreads && !claimed; th += 2)
            if (!got[th].empty()) claimed = &got[th].front();
        REQUIRE(claimed);
        const ClaimedJob& c = *claimed;
        JobStore& owner = daemon == 0 ? static_cast<JobStore&>(f.store()) : *other;
        JobStore& stranger = daemon == 0 ? *other : static_cast<JobStore&>(f.store());
        CHECK_FALSE(stranger.putOutput(c.id, c.attempt, makeOutput(0, "x.jpg", "x")));
        CHECK(owner.putOutput(c.id, c.attempt, makeOutput(0, "x.jpg", "x")));
    }
}

TEST_CASE("postgres store: the claim finds its candidates in the queue table, which holds the queued jobs only",
          "[store][postgres]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    int64_t t = nowMs();
    submitBatch(f.store(), "plan-", 5000, t);

    // A day's history: most jobs have ended, a few wait. The planner knows (ANALYZE).
    pg::Connection c(f.location());
    c.exec("UPDATE jobs SET state = 'succeeded', finished_at = created_at WHERE seq % 50 <> 0");
    c.exec("ANALYZE jobs");
    auto queueRows = [&] { return c.queryOnce("SELECT count(*) FROM job_queue").front().i64(0); };
    CHECK(queueRows() == 100);  // the trigger took the 4,900 ended jobs out
    // Whether or not the queue table has been analyzed yet, jobs is read a
    // row at a time by seq: never joined whole.
    for (bool analyzed : {false, true}) {
        if (analyzed) c.exec("ANALYZE job_queue");
        std::string plan;
        for (pg::Row r : c.queryOnce("EXPLAIN " + std::string(pg::kClaimCandidates), {t + 1000, 4}))
            plan += r.text(0) + "\n";
        INFO(plan);
        CHECK(plan.find("on job_queue") != std::string::npos);
        CHECK(plan.find("Nested Loop") != std::string::npos);
        CHECK(plan.find("Seq Scan on jobs") == std::string::npos);
        CHECK(plan.find("Hash") == std::string::npos);
    }

    // And the claim follows it: the oldest waiting jobs first.
    JobFilter queued;
    queued.state = JobState::Queued;
    queued.limit = 1000;
    auto waiting = f.store().listJobs(queued).jobs;  // newest first
    REQUIRE(waiting.size() == 100);
    auto claimed = f.store().claim(2, t + 1000, kLeaseMs);
    REQUIRE(claimed.size() == 2);
    CHECK(claimed[0].id == waiting[99].id);
    CHECK(claimed[1].id == waiting[98].id);
    CHECK(queueRows() == 98);

    // Every way in and out of the queue keeps the table in step: a retry
    // after a transient failure, a cancel, a delete.
    AttemptResult again;
    again.outcome = AttemptResult::Outcome::Retry;
    again.retryAt = t + 5000;
    again.error = {"transient", "again"};
    REQUIRE(f.store().finishAttempt(claimed[0].id, claimed[0].attempt, again));
    CHECK(queueRows() == 99);
    CHECK(f.store().nextRunAfter() == t);
    f.store().cancel(waiting[0].id, t);
    f.store().remove(waiting[1].id);
    CHECK(queueRows() == 97);
    CHECK(c.queryOnce("SELECT count(*) FROM jobs WHERE state = 'queued'").front().i64(0) == 97);
}

TEST_CASE("postgres store: a job's claim and end rewrite its jobs row on the same page, without index entries, "
          "and job_states follows every change",
          "[store][postgres]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    int64_t t = nowMs();
    submitBatch(f.store(), "hot-", 400, t);

    pg::Connection c(f.location());
    auto updates = [&] {
        pg::Result r = c.queryOnce("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                                   "WHERE relname = 'jobs' AND schemaname = current_schema()");
        return std::pair{r.front().i64(0), r.front().i64(1)};
    };
    const auto before = updates();

    // Every way a job's state changes: claims, a success with its outputs'
    // downloads, a failure, a retry after a transient error, a cancel, a
    // retry of the failed job, an eviction, a delete.
    // Claimed a few at a time, as workers do: one statement that rewrote
    // every row of a page would fill the page before its old versions could go.
    std::vector<ClaimedJob> claimed;
    while (claimed.size() < 400) {
        auto some = f.store().claim(4, t, kLeaseMs);
        REQUIRE(some.size() == 4);
        claimed.insert(claimed.end(), some.begin(), some.end());
    }
    for (size_t i = 0; i < claimed.size(); ++i) {
        AttemptResult r;
        r.endedAt = t + 10;
        r.durationSeconds = 0.25;
        if (i % 10 == 1) {
            r.outcome = AttemptResult::Outcome::Failed;
            r.error = {"bad_input", "no"};
        } else if (i % 10 == 2) {
            r.outcome = AttemptResult::Outcome::Retry;
            r.retryAt = t + 5000;
            r.error = {"transient", "again"};
        }
        if (i % 10 != 3) REQUIRE(f.store().finishAttempt(claimed[i].id, claimed[i].attempt, r));
    }
    f.store().recordHit(claimed[0].id);
    f.store().recordHit(claimed[0].id);
    f.store().cancel(claimed[3].id, t + 20);
    f.store().retry(claimed[1].id, t + 30, 1);
    c.exec("UPDATE jobs SET evicted = true WHERE id = '" + claimed[4].id + "'");
    f.store().remove(claimed[5].id);

    // The mirror holds exactly what jobs holds, both ways.
    const std::string columns = "seq, state, plugin, finished_at, duration_seconds, error_code, hits, evicted";
    for (const char* sql : {"SELECT count(*) FROM (SELECT {c} FROM jobs EXCEPT SELECT {c} FROM job_states) d",
                            "SELECT count(*) FROM (SELECT {c} FROM job_states EXCEPT SELECT {c} FROM jobs) d"}) {
        std::string q = sql;
        for (size_t at; (at = q.find("{c}")) != std::string::npos;) q.replace(at, 3, columns);
        INFO(q);
        CHECK(c.queryOnce(q).front().i64(0) == 0);
    }
    CHECK(c.queryOnce("SELECT count(*) FROM job_states").front().i64(0) == 399);
    CHECK(c.queryOnce("SELECT s.hits FROM job_states s JOIN jobs j USING (seq) WHERE j.id = $1", {claimed[0].id})
              .front()
              .i64(0) == 2);
    JobFilter failed;
    failed.state = JobState::Failed;
    failed.limit = 1000;
    CHECK(f.store().listJobs(failed).jobs.size() == 39);  // 40 failed, one of them retried

    // Statistics reach pg_stat_user_tables within seconds of each backend's
    // commit. Nearly every update was heap-only (before migration 008, none
    // was: state was in seven indexes of jobs).
    auto after = updates();
    // 400 claims, 360 ends, 2 hits, a cancel, a retry, an eviction.
    for (int i = 0; i < 150 && after.first - before.first < 765; ++i) {
        std::this_thread::sleep_for(100ms);
        after = updates();
    }
    const int64_t all = after.first - before.first, hot = after.second - before.second;
    INFO("updates " << all << ", heap-only " << hot);
    REQUIRE(all >= 765);
    CHECK(hot >= all * 9 / 10);
}

TEST_CASE("postgres store: identical submissions through two daemons at once create one job",
          "[store][postgres][concurrency]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    auto other = f.open("node-b");
    int64_t t = nowMs();

    SECTION("single submissions") {
        constexpr int kRounds = 40;
        for (int round = 0; round < kRounds; ++round) {
            std::string name = "same-" + std::to_string(round);
            StartLine line(2);
            auto submitVia = [&](JobStore& store) {
                Original o = makeOriginal(name, t);
                NewJob j = makeJob("dedup-" + name, t);
                line.arrive();
                return store.submit(o, j);
            };
            auto a = std::async(std::launch::async, [&] { return submitVia(f.store()); });
            auto b = std::async(std::launch::async, [&] { return submitVia(*other); });
            SubmitOutcome ra = a.get(), rb = b.get();
            CHECK(ra.created != rb.created);  // exactly one created it
            CHECK(ra.job.id == rb.job.id);
            CHECK(ra.job.originalId == rb.job.originalId);
        }
        CHECK(f.store().countQueued() == kRounds);
        CHECK(f.store().countOriginals() == kRounds);
    }
    SECTION("a batch and single submissions of the same jobs") {
        constexpr int kJobs = 60;
        Batch batch{newId(), "thumbnail", "{}", t, {}};
        std::vector<BatchItem> items;
        for (int i = 0; i < kJobs; ++i)
            items.push_back({makeOriginal("mixed-" + std::to_string(i), t), makeJob("mixed-" + std::to_string(i), t)});
        StartLine line(2);
        auto batched = std::async(std::launch::async, [&] {
            line.arrive();
            return f.store().createBatch(batch, items);
        });
        std::vector<std::string> single;
        line.arrive();
        for (int i = kJobs - 1; i >= 0; --i)  // the other way round: the two meet in the middle
            single.push_back(other->submit(items[i].original, makeJob(items[i].job.dedupKey, t)).job.id);
        Batch stored = batched.get();
        REQUIRE(stored.jobIds.size() == kJobs);
        for (int i = 0; i < kJobs; ++i) CHECK(stored.jobIds[i] == single[kJobs - 1 - i]);
        CHECK(f.store().countQueued() == kJobs);
        CHECK(count(f.location(), "SELECT count(DISTINCT dedup_key) - count(*) FROM jobs") == 0);
    }
}

TEST_CASE("postgres store: after a rescue the daemon presumed dead records nothing and another finishes the job",
          "[store][postgres]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    PostgresJobStore& a = f.store();
    auto b = f.open("node-b");
    int64_t t = nowMs();
    std::string id = submitJob(a, "fenced", t);

    a.heartbeat(nodeStatus("node-a", t, t), t + kLeaseMs);
    ClaimedJob first = claimOne(a, t + 1);
    a.setProgress(id, first.attempt, 1, 4);
    REQUIRE(a.putOutput(id, first.attempt, makeOutput(0, "stale.jpg", "stale")));

    // node-a falls silent; node-b beats on and, a timeout later, takes its jobs back.
    b->heartbeat(nodeStatus("node-b", t, t + 20'000), t + 20'000 + kLeaseMs);
    CHECK(b->rescueDeadNodes(t + 15'000, t + 20'000) == 1);
    CHECK(b->rescueDeadNodes(t + 15'000, t + 20'000) == 0);  // once
    auto rescued = b->getJob(id);
    REQUIRE(rescued);
    CHECK(rescued->state == JobState::Queued);
    CHECK(rescued->attempts == 1);  // the attempt counts
    REQUIRE(rescued->history.size() == 1);
    CHECK(rescued->history[0].outcome == "retry");
    REQUIRE(rescued->history[0].error);
    CHECK(rescued->history[0].error->code == "node_lost");
    auto alive = b->nodes(0);
    REQUIRE(alive.size() == 1);  // node-a is forgotten
    CHECK(alive[0].id == "node-b");

    // node-a wakes up: whatever it reports is refused, before and after the job is claimed again.
    CHECK_FALSE(a.finishAttempt(id, first.attempt, succeeded()));
    ClaimedJob second = claimOne(*b, t + 20'001);
    CHECK(second.attempt == 2);
    CHECK(b->getJob(id)->outputs.empty());  // node-a's output went with its attempt
    CHECK_FALSE(a.putOutput(id, first.attempt, makeOutput(1, "late.jpg", "late")));
    CHECK_FALSE(a.putOutput(id, second.attempt, makeOutput(1, "late.jpg", "late")));  // nor with the new number
    a.setProgress(id, second.attempt, 3, 4);
    CHECK_FALSE(a.finishAttempt(id, second.attempt, ended(Outcome::Failed, "internal", "late")));
    CHECK(b->getJob(id)->progressDone == 0);

    REQUIRE(b->putOutput(id, second.attempt, makeOutput(0, "thumb.jpg", "fresh")));
    REQUIRE(b->finishAttempt(id, second.attempt, succeeded()));
    auto job = a.getJob(id);
    REQUIRE(job);
    CHECK(job->state == JobState::Succeeded);
    REQUIRE(job->outputs.size() == 1);
    CHECK(job->outputs[0].name == "thumb.jpg");
    REQUIRE(job->history.size() == 2);
    CHECK(job->history[1].outcome == "succeeded");
    CHECK(job->deliveries.size() == 1);  // one webhook, from node-b's end of the job
}

TEST_CASE("postgres store: heartbeats extend a live daemon's leases and keep its jobs from rescue",
          "[store][postgres]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    PostgresJobStore& a = f.store();
    auto b = f.open("node-b");
    auto c = f.open("node-c");  // claims, but never sends a heartbeat
    int64_t t = nowMs();
    std::string live = submitJob(a, "live", t, 2);
    std::string orphan = submitJob(a, "orphan", t + 1, 1);

    a.heartbeat(nodeStatus("node-a", t, t), t + 1'000);
    REQUIRE(a.claim(1, t + 10, 1'000).front().id == live);  // lease until t + 1010
    REQUIRE(c->claim(1, t + 10, kLeaseMs).front().id == orphan);

    a.heartbeat(nodeStatus("node-a", t, t + 900), t + 900 + kLeaseMs);
    auto job = a.getJob(live);
    REQUIRE(job);
    // Kept on the database's clock: node-a's reading plus the round trip.
    CHECK(job->leaseUntil >= t + 900 + kLeaseMs);
    CHECK(job->leaseUntil < t + 900 + kLeaseMs + 1'000);
    // With most of the lease left, the next beat leaves the row alone.
    a.heartbeat(nodeStatus("node-a", t, t + 950), t + 950 + kLeaseMs);
    CHECK(a.getJob(live)->leaseUntil == job->leaseUntil);

    // Past the lease node-a was first given, node-a still beats: its job stays. node-c's has no owner alive.
    b->heartbeat(nodeStatus("node-b", t + 5, t + 2'000), t + 2'000 + kLeaseMs);
    CHECK(b->rescueDeadNodes(t + 500, t + 2'000) == 1);
    CHECK(stateOf(*b, live) == JobState::Running);
    CHECK(stateOf(*b, orphan) == JobState::Queued);

    auto listed = b->nodes(t + 100);
    REQUIRE(listed.size() == 2);
    CHECK(listed[0].id == "node-a");  // oldest start first
    CHECK(listed[1].id == "node-b");
    CHECK(listed[0].heartbeatAt >= t + 900);
    CHECK(listed[0].heartbeatAt < t + 1'500);
    CHECK(listed[0].workers == 4);
    CHECK(listed[0].busy == 1);
    CHECK(b->nodes(t + 1'500).size() == 1);  // node-a not heard from since

    // What /v1/status reads in one statement: the same daemons and the counts.
    auto snapshot = b->statusSnapshot(t + 100);
    REQUIRE(snapshot.nodes.size() == 2);
    CHECK(snapshot.nodes[0].id == "node-a");
    CHECK(snapshot.nodes[0].heartbeatAt == listed[0].heartbeatAt);
    CHECK(snapshot.nodes[0].startedAt == t);
    CHECK(snapshot.nodes[0].address == listed[0].address);
    CHECK(snapshot.nodes[0].version == "0.1.0");
    CHECK(snapshot.nodes[1].id == "node-b");
    CHECK(snapshot.counts.jobs.at(JobState::Running) == 1);
    CHECK(snapshot.counts.jobs.at(JobState::Queued) == 1);
    CHECK(snapshot.counts.originals == 2);
    CHECK(b->statusSnapshot(t + 1'500).nodes.size() == 1);

    // requeueExpired with `all` takes back the caller's own jobs, never another daemon's.
    CHECK(b->requeueExpired(t + 2'001, true) == 0);
    CHECK(a.requeueExpired(t + 2'001, true) == 1);
    CHECK(stateOf(*b, live) == JobState::Queued);
}

TEST_CASE("postgres store: a job whose daemon dies on its last attempt is failed node_lost by the rescue, not requeued",
          "[store][postgres]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    PostgresJobStore& a = f.store();
    auto b = f.open("node-b");
    int64_t t = nowMs();
    NewJob nj = makeJob("dedup-node-killer", t);
    nj.maxAttempts = 1;
    std::string id = a.submit(makeOriginal("source-node-killer", t), nj).job.id;
    std::string other = submitJob(a, "bystander", t + 1);

    a.heartbeat(nodeStatus("node-a", t, t), t + kLeaseMs);
    REQUIRE(a.claim(2, t + 2, kLeaseMs).size() == 2);

    // node-a dies with both; node-b takes them back: the bystander has attempts left, the other none.
    b->heartbeat(nodeStatus("node-b", t, t + 20'000), t + 20'000 + kLeaseMs);
    CHECK(b->rescueDeadNodes(t + 15'000, t + 20'000) == 1);
    CHECK(stateOf(*b, other) == JobState::Queued);
    auto job = b->getJob(id);
    REQUIRE(job);
    CHECK(job->state == JobState::Failed);
    REQUIRE(job->error);
    CHECK(job->error->code == "node_lost");
    CHECK(job->finishedAt == t + 20'000);
    REQUIRE(job->history.size() == 1);
    CHECK(job->history[0].outcome == "failed");
    REQUIRE(job->deliveries.size() == 1);  // the webhook, as for any failure
    CHECK(job->deliveries[0].state == "pending");
    CHECK(b->rescueDeadNodes(t + 15'000, t + 20'000) == 0);
    CHECK(b->claim(5, t + 20'001, kLeaseMs).size() == 1);  // the bystander only
}

TEST_CASE("postgres store: heartbeats, leases and rescue go by the database's clock, not the daemons' own",
          "[store][postgres]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    constexpr int64_t kSkew = 10 * 60'000;  // ten minutes
    auto skewed = [&](const std::string& node, int64_t offset) {
        PostgresJobStore::Options options;
        options.nodeId = node;
        options.clock = [offset] { return nowMs() + offset; };
        return std::make_unique<PostgresJobStore>(f.location(), options);
    };
    PostgresJobStore& right = f.store();  // node-a, a clock that is right
    auto slow = skewed("node-slow", -kSkew);
    auto fast = skewed("node-fast", kSkew);
    // Each daemon submits, beats and claims with the readings of its own clock.
    int64_t t = nowMs();
    int64_t s = t - kSkew;
    std::string slowJob = submitJob(*slow, "slow", s, 2);
    std::string rightJob = submitJob(right, "right", t, 1);
    slow->heartbeat(nodeStatus("node-slow", s, s), s + kLeaseMs);
    REQUIRE(slow->claim(1, s, kLeaseMs).front().id == slowJob);
    right.heartbeat(nodeStatus("node-a", t, t), t + kLeaseMs);
    REQUIRE(right.claim(1, t, kLeaseMs).front().id == rightJob);
    int64_t u = t + kSkew;
    fast->heartbeat(nodeStatus("node-fast", u, u), u + kLeaseMs);

    // With a timeout of 30 s everyone is alive, whoever judges.
    for (int round = 0; round < 2; ++round) {
        int64_t now = nowMs();
        CHECK(right.rescueDeadNodes(now - 30'000, now) == 0);
        CHECK(fast->rescueDeadNodes(now + kSkew - 30'000, now + kSkew) == 0);
        CHECK(slow->rescueDeadNodes(now - kSkew - 30'000, now - kSkew) == 0);
        CHECK(right.requeueExpired(now, false) == 0);
        CHECK(fast->requeueExpired(now + kSkew, false) == 0);
        CHECK(stateOf(right, slowJob) == JobState::Running);
        CHECK(stateOf(right, rightJob) == JobState::Running);
        CHECK(right.nodes(now - 30'000).size() == 3);
        CHECK(slow->nodes(now - kSkew - 30'000).size() == 3);
        CHECK(fast->nodes(now + kSkew - 30'000).size() == 3);
    }
    // The lease a slow clock gave is the database's now plus the lease.
    auto job = right.getJob(slowJob);
    REQUIRE(job);
    CHECK(job->leaseUntil > nowMs() + kLeaseMs - 5'000);
    CHECK(job->leaseUntil < nowMs() + kLeaseMs + 1'000);

    // A silent daemon is still found out: a judge whose window ends after every
    // other heartbeat finds node-slow and node-a dead, on its skewed clock too.
    int64_t now = nowMs() + kSkew;
    CHECK(fast->rescueDeadNodes(now + 1'000, now) == 2);
    CHECK(stateOf(right, slowJob) == JobState::Queued);
    CHECK(stateOf(right, rightJob) == JobState::Queued);
}

TEST_CASE("postgres store: a job queued through one daemon wakes the workers of another at once",
          "[store][postgres]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    auto b = f.open("node-b");
    std::mutex mutex;
    std::condition_variable woken;
    int wakes = 0;
    b->watchForWork([&] {
        std::lock_guard lock(mutex);
        ++wakes;
        woken.notify_all();
    });
    auto waitForWake = [&](std::chrono::milliseconds within) {
        std::unique_lock lock(mutex);
        bool got = woken.wait_for(lock, within, [&] { return wakes > 0; });
        wakes = 0;
        return got;
    };

    // The watcher starts listening in a moment: submit until it hears one, then time one.
    int64_t t = nowMs();
    bool listening = false;
    for (int i = 0; i < 50 && !listening; ++i) {
        submitJob(f.store(), "warm-up-" + std::to_string(i), t);
        listening = waitForWake(100ms);
    }
    REQUIRE(listening);
    auto start = std::chrono::steady_clock::now();
    submitJob(f.store(), "timed", t);
    REQUIRE(waitForWake(1s));
    auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    WARN("wake-up latency from a submit on another daemon: " << latency.count() << " ms");
    CHECK(latency < 1s);

    // Its own submissions wake nobody: its job service knows already.
    submitJob(*b, "own", t);
    CHECK_FALSE(waitForWake(300ms));
}

TEST_CASE("postgres store: a blob pinned by one daemon is not removed by another until every pin is released",
          "[store][postgres]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    auto b = f.open("node-b");
    auto c = f.open("node-c");
    const std::string sha = Sha256::hex("pinned bytes");
    int removals = 0;
    auto remove = [&] { ++removals; };

    auto pin = f.store().pinBlob(sha);
    REQUIRE(pin);
    auto secondPin = c->pinBlob(sha);
    CHECK_FALSE(b->removeBlobIfUnreferenced(sha, remove));
    pin.reset();
    CHECK_FALSE(b->removeBlobIfUnreferenced(sha, remove));  // node-c still pins it
    secondPin.reset();
    CHECK(removals == 0);
    CHECK(b->removeBlobIfUnreferenced(sha, remove));
    CHECK(removals == 1);

    // Pins of other blobs do not stand in the way; a reference does, pinned or not.
    auto unrelated = c->pinBlob(Sha256::hex("other bytes"));
    submitJob(f.store(), "referenced", nowMs());
    const std::string source = Sha256::hex("source-referenced");
    CHECK_FALSE(b->removeBlobIfUnreferenced(source, remove));
    CHECK(b->removeBlobIfUnreferenced(Sha256::hex("unknown bytes"), remove));
    CHECK(removals == 2);
}

TEST_CASE("postgres store: while the database is down calls fail with 503, and the same store works once it is back",
          "[store][postgres][outage]") {
    if (std::string why = PostgresServer::unavailableReason(); !why.empty()) {
        WARN("SKIPPED: PostgreSQL is not available here: " << why);
        return;
    }
    log::init(log::Level::Error);
    PostgresServer server;  // its own: this test stops it
    std::string uri = server.createDatabase();
    auto store = PostgresStore::open(uri, "node-a");
    int64_t t = nowMs();
    std::string before = submitJob(*store, "before", t);
    auto pin = store->pinBlob(Sha256::hex("held across the outage"));
    std::atomic<int> wakes{0};
    store->watchForWork([&] { ++wakes; });

    server.stop();
    auto failedAt = std::chrono::steady_clock::now();
    expectUnavailable([&] { store->getJob(before); });
    expectUnavailable([&] { store->submit(makeOriginal("during", t), makeJob("during", t)); });
    expectUnavailable([&] { store->claim(1, t, kLeaseMs); });
    CHECK(std::chrono::steady_clock::now() - failedAt < 10s);  // failing is quick, not a hang
    pin.reset();  // its connection died: releasing it must not throw

    server.start();
    std::optional<Job> job;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!job && std::chrono::steady_clock::now() < deadline) {
        try {
            job = store->getJob(before);
        } catch (const ApiError& e) {
            REQUIRE(e.status() == 503);
            std::this_thread::sleep_for(100ms);
        }
    }
    REQUIRE(job);
    CHECK(job->state == JobState::Queued);
    // Notifications sent during the outage are lost: the watcher, back, wakes the workers once to look.
    for (int i = 0; i < 100 && wakes == 0; ++i) std::this_thread::sleep_for(100ms);
    CHECK(wakes == 1);
    CHECK(store->submit(makeOriginal("after", t), makeJob("after", t)).created);
    CHECK(store->countQueued() == 2);

    // A database that cannot be reached at all: the store does not open.
    expectUnavailable([&] { PostgresStore::open("postgres://pixelmill@127.0.0.1:1/none?connect_timeout=2", "x"); });
}

}  // namespace pixelmill
