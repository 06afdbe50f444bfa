// The counts every status call shows are maintained, not counted: they stay
// right through every change of state, and read in milliseconds over 200,000
// jobs (through the store, and through a real daemon's HTTP for SQLite).
#include "store_fixture.h"

#include "store/postgres/pg.h"
#include "store/sqlite/db.h"

#include "common/clock.h"
#include "support/http_client.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>
#include <vector>

namespace pixelmill {
namespace {

using namespace test;

constexpr int kSeeded = 200'000;

// The median of `n` timed calls, after one to warm caches up.
double medianSeconds(int n, const std::function<double()>& timedCall) {
    timedCall();
    std::vector<double> s;
    for (int i = 0; i < n; ++i) s.push_back(timedCall());
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
}

double timeOf(const std::function<void()>& fn) {
    double start = monotonicSeconds();
    fn();
    return monotonicSeconds() - start;
}

// 200,000 jobs over the last 30 days, each with its own original: every 50th
// failed, every 97th canceled, the newest 100 queued, the rest succeeded.
// The same expressions in both dialects; `series` yields i = 1..kSeeded.
std::string seedJobsSql(const std::string& series, int64_t now, const std::string& text) {
    std::string t = "(" + std::to_string(now) + " - (" + std::to_string(kSeeded) + " - i) * 13000)";
    return "INSERT INTO jobs (id, plugin, plugin_version, params, dedup_key, original_id, state, attempts, "
           "max_attempts, run_after, created_at, started_at, finished_at, duration_seconds, error_code) "
           "SELECT 'job-' || " + text + ", 'thumbnail', '1.0.0', '{}', 'key-' || " + text + ", 'orig-' || " + text +
           ", CASE WHEN i > " + std::to_string(kSeeded - 100) + " THEN 'queued' WHEN i % 50 = 0 THEN 'failed' "
           "WHEN i % 97 = 0 THEN 'canceled' ELSE 'succeeded' END, 1, 3, "
           // queued jobs wait a day, so a daemon opened on the seed leaves the counts as seeded
           "CASE WHEN i > " + std::to_string(kSeeded - 100) + " THEN " + std::to_string(now + 86'400'000) +
           " ELSE " + t + " END, " + t + ", " + t + ", " + t +
           " + 100, 0.1, CASE WHEN i % 50 = 0 THEN 'unprocessable' END FROM " + series;
}

std::string seedOriginalsSql(const std::string& series, int64_t now, const std::string& text) {
    return "INSERT INTO originals (id, sha256, filename, media_type, size_bytes, width, height, created_at) "
           "SELECT 'orig-' || " + text + ", 'sha-' || " + text + ", 'photo-' || " + text + " || '.png', 'image/png', "
           "1000, 64, 48, " + std::to_string(now - 31LL * 86'400'000) + " + i FROM " + series;
}

// What the seeding above leaves, counted the slow way.
StateCounts expectedCounts() {
    StateCounts c{{JobState::Queued, 0}, {JobState::Running, 0}, {JobState::Succeeded, 0},
                  {JobState::Failed, 0}, {JobState::Canceled, 0}};
    for (int i = 1; i <= kSeeded; ++i) {
        JobState s = i > kSeeded - 100 ? JobState::Queued
                     : i % 50 == 0     ? JobState::Failed
                     : i % 97 == 0     ? JobState::Canceled
                                       : JobState::Succeeded;
        ++c[s];
    }
    return c;
}

}  // namespace

TEMPLATE_TEST_CASE("store: state counts follow every change of state", "[store][counts]", SqliteStore,
                   PostgresStore) {
    StoreFixture<TestType> f;
    if (!f) return;
    auto& store = f.store();
    int64_t t = nowMs();
    std::string a = submitJob(store, "a", t);
    std::string b = submitJob(store, "b", t);
    std::string c = submitJob(store, "c", t);
    std::string d = submitJob(store, "d", t);
    CHECK(store.countByState()[JobState::Queued] == 4);
    CHECK(store.countQueued() == 4);
    CHECK(store.countOriginals() == 4);

    auto claimed = store.claim(3, t, kLeaseMs);
    REQUIRE(claimed.size() == 3);
    CHECK(store.finishAttempt(claimed[0].id, claimed[0].attempt, succeeded()));
    CHECK(store.finishAttempt(claimed[1].id, claimed[1].attempt, ended(Outcome::Failed, "unprocessable", "bad")));
    store.setProgress(claimed[2].id, claimed[2].attempt, 1, 2);  // an update that leaves the state alone
    store.cancel(d, t);

    auto counts = store.countByState();
    CHECK(counts[JobState::Queued] == 0);
    CHECK(counts[JobState::Running] == 1);
    CHECK(counts[JobState::Succeeded] == 1);
    CHECK(counts[JobState::Failed] == 1);
    CHECK(counts[JobState::Canceled] == 1);

    store.retry(claimed[1].id, t, 3);
    CHECK(store.remove(claimed[0].id));
    CHECK(store.requeueExpired(t, true) == 1);
    counts = store.countByState();
    CHECK(counts[JobState::Queued] == 2);
    CHECK(counts[JobState::Running] == 0);
    CHECK(counts[JobState::Succeeded] == 0);
    CHECK(counts[JobState::Canceled] == 1);
    CHECK(store.countQueued() == 2);

    // Reopened (for PostgreSQL: after the deltas were folded), the counts are the same.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    CHECK(store.countByState() == counts);
    f.reopen();
    CHECK(f.store().countByState() == counts);
    CHECK(f.store().countOriginals() == 4);
    (void)a, (void)b, (void)c;
}

TEST_CASE("sqlite store: /v1/status, the dashboard and /metrics answer in < 20 ms over 200,000 jobs",
          "[store][sqlite][counts]") {
    log::init(log::Level::Error);
    TempDir dir("pixelmill-counts");
    auto dataDir = dir / "data";
    std::filesystem::create_directories(dataDir);
    const std::string path = (dataDir / "pixelmill.db").string();
    SqliteJobStore::Options options;
    options.fsync = false;
    std::make_unique<SqliteJobStore>(path, options).reset();  // the schema
    {
        sqlite::Connection db(path, false);
        const std::string series =
            "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " + std::to_string(kSeeded) +
            ") SELECT i FROM n)";
        const std::string text = "printf('%06d', i)";
        int64_t now = nowMs();
        db.exec("BEGIN");
        db.exec(seedOriginalsSql(series, now, text));
        db.exec(seedJobsSql(series, now, text));
        db.exec("COMMIT");
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }

    DaemonOptions daemonOptions;
    daemonOptions.dataDir = dataDir;
    Daemon daemon(daemonOptions);
    HttpClient& http = daemon.http();

    StateCounts expected = expectedCounts();
    auto status = http.get("/v1/status");
    REQUIRE(status.status == 200);
    auto jobs = status.json()["jobs"];
    CHECK(jobs["queued"] == expected[JobState::Queued]);
    CHECK(jobs["succeeded"] == expected[JobState::Succeeded]);
    CHECK(jobs["failed"] == expected[JobState::Failed]);
    CHECK(jobs["canceled"] == expected[JobState::Canceled]);
    CHECK(status.json()["uploaded_count"] == kSeeded);
    auto metrics = http.get("/metrics");
    CHECK(metrics.body.find("pixelmill_jobs{state=\"failed\"} " + std::to_string(expected[JobState::Failed])) !=
          std::string::npos);

    auto timedGet = [&](const std::string& route) {
        return [&http, route] {
            auto r = http.get(route);
            CHECK(r.status == 200);
            return r.seconds;
        };
    };
    double statusSeconds = medianSeconds(15, timedGet("/v1/status"));
    double dashboardSeconds = medianSeconds(15, timedGet("/dashboard"));
    double metricsSeconds = medianSeconds(15, timedGet("/metrics"));
    INFO("/v1/status " << statusSeconds * 1000 << " ms, /dashboard " << dashboardSeconds * 1000 << " ms, /metrics "
                       << metricsSeconds * 1000 << " ms");
    // Under a sanitizer the daemon runs several times slower; the bound there
    // still tells counters from a scan, and the plain build holds the 20 ms.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    constexpr double kLimit = 0.150;
#else
    constexpr double kLimit = 0.020;
#endif
    CHECK(statusSeconds < kLimit);
    CHECK(dashboardSeconds < kLimit);
    CHECK(metricsSeconds < kLimit);
}

TEST_CASE("postgres store: the counts read in < 20 ms over 200,000 jobs", "[store][postgres][counts]") {
    StoreFixture<PostgresStore> f;
    if (!f) return;
    {
        pg::Connection db(f.location());
        const std::string series = "generate_series(1::bigint, " + std::to_string(kSeeded) + ") AS n (i)";
        const std::string text = "lpad(i::text, 6, '0')";
        int64_t now = nowMs();
        db.exec("BEGIN");
        db.exec(seedOriginalsSql(series, now, text));
        db.exec(seedJobsSql(series, now, text));
        db.exec("COMMIT");
        db.exec("VACUUM ANALYZE");
    }
    auto& store = f.store();
    StateCounts expected = expectedCounts();
    CHECK(store.countByState() == expected);
    CHECK(store.countOriginals() == static_cast<uint64_t>(kSeeded));
    double countSeconds = medianSeconds(9, [&] { return timeOf([&] { store.countByState(); }); });
    double originalsSeconds = medianSeconds(9, [&] { return timeOf([&] { store.countOriginals(); }); });
    INFO("countByState " << countSeconds * 1000 << " ms, countOriginals " << originalsSeconds * 1000 << " ms");
    CHECK(countSeconds < 0.020);
    CHECK(originalsSeconds < 0.020);

    // What reads by state, finish or error code, through job_states' indexes
    // (jobs has none on what changes): a page of each in milliseconds too.
    JobFilter failed;
    failed.state = JobState::Failed;
    failed.plugin = "thumbnail";
    failed.limit = 50;
    JobStore::DashboardJobQuery canceled;
    canceled.state = JobState::Canceled;
    const int64_t hourAgo = nowMs() - 3'600'000;
    CHECK(store.listJobs(failed).jobs.size() == 50);
    CHECK(store.dashboardJobs(canceled).jobs.size() == 50);
    CHECK(store.failuresByCode().size() == 1);
    const std::map<std::string, std::function<void()>> reads{
        {"listJobs(state, plugin)", [&] { store.listJobs(failed); }},
        {"dashboardJobs(state)", [&] { store.dashboardJobs(canceled); }},
        {"latestFailures", [&] { store.latestFailures(10); }},
        {"finishedSince(an hour)", [&] { store.finishedSince(hourAgo); }},
    };
    for (const auto& [name, read] : reads) {
        double seconds = medianSeconds(9, [&] { return timeOf(read); });
        INFO(name << " " << seconds * 1000 << " ms");
        CHECK(seconds < 0.020);
    }
}

}  // namespace pixelmill
