// Several daemons on one PostgreSQL and one blob folder (--store postgres://…,
// --blob-dir): every accepted job is done exactly once while daemons are
// killed with -9 and while the database restarts. A real PostgreSQL from
// Debian runs in a temp folder on a loopback port (support/postgres).
#include "support/daemon.h"
#include "support/images.h"
#include "support/postgres.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// --heartbeat-interval and --node-timeout short enough for a test to see a rescue.
std::vector<std::string> clusterArgs(const std::string& uri, const TempDir& blobs) {
    return {"--store", uri, "--blob-dir", (blobs / "blobs").string(), "--heartbeat-interval", "0.3",
            "--node-timeout", "3"};
}

// The attempts of a job that ended succeeded: exactly one may have.
int succeededAttempts(HttpClient& http, const std::string& id) {
    json attempts = http.get("/v1/jobs/" + id + "/attempts").json();
    int n = 0;
    for (const auto& a : attempts["attempts"])
        if (a.value("outcome", "") == "succeeded") ++n;
    return n;
}

json status(Daemon& d) { return d.http().get("/v1/status").json(); }

// The value of an unlabelled sample in /metrics text; -1 if there is none.
double sample(const std::string& metrics, const std::string& name) {
    size_t at = metrics.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(metrics.substr(at + name.size() + 2));
}

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (condition()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return condition();
}

// Every id ended succeeded, with one output and one succeeded attempt, seen through `d`.
void requireAllSucceededOnce(Daemon& d, const std::map<std::string, std::string>& jobs) {
    for (const auto& [what, id] : jobs) {
        INFO(what << " job " << id);
        json job = d.waitForJob(id, {"succeeded", "failed", "canceled"}, 120s);
        REQUIRE(job["state"] == "succeeded");
        CHECK(job["outputs"].size() == 1);
        CHECK(succeededAttempts(d.http(), id) == 1);
    }
}

}  // namespace

TEST_CASE("three daemons on one PostgreSQL: 1000 jobs submitted round-robin succeed once, a daemon killed with -9 mid-run loses none") {
    if (std::string why = PostgresServer::unavailableReason(); !why.empty()) {
        WARN("SKIPPED: PostgreSQL is not installed here: " << why);
        return;
    }
    constexpr int kJobs = 1000;
    constexpr int kSlow = 12;
    initVips();
    TempDir files, blobs;
    for (int i = 0; i < kJobs; ++i) makePng(files / ("s" + std::to_string(i) + ".png"), 40 + i % 24, 32, false, i);
    std::string uri = sharedPostgres().createDatabase();
    std::vector<std::unique_ptr<Daemon>> nodes;
    for (int i = 0; i < 3; ++i) nodes.push_back(std::make_unique<Daemon>(DaemonOptions{.args = clusterArgs(uri, blobs), .workers = 2}));
    REQUIRE(waitFor([&] { return status(*nodes[0])["nodes"].size() == 3; }, 10s));

    // Slow jobs first, so that every worker of every daemon holds one when a daemon dies.
    std::map<std::string, std::string> accepted;  // what → job id
    for (int i = 0; i < kSlow; ++i) {
        Response r = nodes[static_cast<size_t>(i % 3)]->http().postForm(
            "/v1/jobs", {{"plugin", "slow", "", ""}, {"ms", "4000", "", ""},
                         {"file", "slow job " + std::to_string(i), "slow.txt", "text/plain"}});
        REQUIRE(r.status == 202);
        accepted["slow " + std::to_string(i)] = r.json()["id"];
    }
    REQUIRE(waitFor([&] { return status(*nodes[0])["jobs"]["running"] == 6; }, 10s));
    // Two rounds of slow jobs keep every worker busy for 8 s from here: the
    // kill below falls inside them however slowly the submits go (sanitizers).
    auto slowStarted = std::chrono::steady_clock::now();

    // Three clients, one per daemon; a client whose daemon is gone moves on to the next one.
    std::mutex mu;
    std::atomic<bool> nodeOneDead{false};
    std::atomic<int> acceptedCount{0};
    auto client = [&](int first) {
        std::vector<std::unique_ptr<HttpClient>> https;
        for (auto& n : nodes) https.push_back(std::make_unique<HttpClient>(n->base()));
        for (int i = first; i < kJobs; i += 3) {
            for (int tries = 0;; ++tries) {
                REQUIRE(tries < 30);
                size_t target = static_cast<size_t>(first + tries) % 3;
                if (target == 1 && nodeOneDead) continue;
                try {
                    Response r = https[target]->postFile("/v1/jobs", "file", (files / ("s" + std::to_string(i) + ".png")).string(),
                                                         {{"plugin", "thumbnail", "", ""}, {"size", "16", "", ""}});
                    if (r.status != 202) continue;
                    std::lock_guard lock(mu);
                    accepted["file " + std::to_string(i)] = r.json()["id"];
                    ++acceptedCount;
                    break;
                } catch (const std::exception&) {
                    // The daemon died under the request: not accepted, sent elsewhere.
                }
            }
        }
    };
    std::vector<std::thread> clients;
    for (int c = 0; c < 3; ++c) clients.emplace_back(client, c);
    waitFor([&] { return acceptedCount >= 300; },
            std::chrono::duration_cast<std::chrono::milliseconds>(slowStarted + 6s - std::chrono::steady_clock::now()));
    REQUIRE(acceptedCount > 0);
    nodeOneDead = true;
    nodes[1]->kill9();
    for (auto& t : clients) t.join();
    REQUIRE(accepted.size() == static_cast<size_t>(kJobs + kSlow));

    // The survivors put the dead daemon's jobs back in the queue after --node-timeout.
    REQUIRE(waitFor([&] { return nodes[0]->log().find("event=jobs_rescued") != std::string::npos ||
                                 nodes[2]->log().find("event=jobs_rescued") != std::string::npos; }, 20s));
    nodes[1]->start();  // a new node id; it joins the others

    requireAllSucceededOnce(*nodes[0], accepted);
    int retried = 0;
    for (int i = 0; i < kSlow; ++i) {
        json job = nodes[2]->http().get("/v1/jobs/" + accepted["slow " + std::to_string(i)]).json();
        if (job["attempts"].get<int>() > 1) ++retried;
    }
    CHECK(retried >= 1);  // the dead daemon's slow jobs ran again elsewhere

    // Every daemon sees the same cluster-wide counts and the three live daemons.
    for (auto& n : nodes) {
        json s = status(*n);
        CHECK(s["jobs"]["succeeded"] == kJobs + kSlow);
        CHECK(s["jobs"]["queued"] == 0);
        CHECK(s["jobs"]["running"] == 0);
        int alive = 0;
        for (const auto& node : s["nodes"]) alive += node["alive"].get<bool>() ? 1 : 0;
        CHECK(alive == 3);
        // Gauges read from the store are the same on every node (dashboards take max()).
        std::string metrics = n->http().get("/metrics").body;
        CHECK(metrics.find("pixelmill_jobs{state=\"succeeded\"} " + std::to_string(kJobs + kSlow) + "\n") != std::string::npos);
        CHECK(metrics.find("pixelmill_cluster_nodes{state=\"alive\"} 3\n") != std::string::npos);
    }
    // The daemons that ran jobs throughout wrote their outputs and ends many to a commit.
    for (Daemon* n : {nodes[0].get(), nodes[2].get()}) {
        std::string metrics = n->http().get("/metrics").body;
        double commits = sample(metrics, "pixelmill_postgres_commits_total");
        double writes = sample(metrics, "pixelmill_postgres_writes_total");
        CHECK(commits > 0);
        CHECK(writes > commits);
    }
    // Outputs are on the shared blob folder: any daemon serves any job's output.
    std::string id = accepted["file 7"];
    for (auto& n : nodes) CHECK(n->http().get("/v1/jobs/" + id + "/outputs/0").status == 200);
}

TEST_CASE("PostgreSQL restarting under two daemons: submits during the outage get 503 with Retry-After, every accepted job finishes after") {
    if (std::string why = PostgresServer::unavailableReason(); !why.empty()) {
        WARN("SKIPPED: PostgreSQL is not installed here: " << why);
        return;
    }
    initVips();
    TempDir files, blobs;
    constexpr int kJobs = 300;
    for (int i = 0; i < kJobs; ++i) makePng(files / ("p" + std::to_string(i) + ".png"), 33 + i % 20, 30, false, 5000 + i);
    PostgresServer pg;  // its own server: this test stops it
    std::string uri = pg.createDatabase();
    Daemon a(DaemonOptions{.args = clusterArgs(uri, blobs), .workers = 2});
    Daemon b(DaemonOptions{.args = clusterArgs(uri, blobs), .workers = 2});

    std::map<std::string, std::string> accepted;
    std::set<long> refusals;
    json refusal;
    std::string retryAfter;
    auto submit = [&](Daemon& d, int i) {
        Response r = d.http().postFile("/v1/jobs", "file", (files / ("p" + std::to_string(i) + ".png")).string(),
                                       {{"plugin", "thumbnail", "", ""}, {"size", "16", "", ""}});
        if (r.status == 202) accepted["file " + std::to_string(i)] = r.json()["id"];
        else {
            refusals.insert(r.status);
            refusal = r.json();
            retryAfter = r.header("retry-after");
        }
        return r.status;
    };
    int i = 0;
    for (; i < 100; ++i) REQUIRE(submit(i % 2 ? a : b, i) == 202);
    pg.stop();
    for (int k = 0; k < 20; ++k, ++i) submit(i % 2 ? a : b, i);
    CHECK(refusals == std::set<long>{503});
    CHECK(refusal["error"]["code"] == "store_unavailable");
    CHECK(!retryAfter.empty());
    CHECK(a.running());
    CHECK(b.running());
    pg.start();
    // Both daemons reconnect by themselves; what was refused is sent again.
    REQUIRE(waitFor([&] { return a.http().get("/v1/status").status == 200 && b.http().get("/v1/status").status == 200; }, 30s));
    for (int k = 0; k < kJobs; ++k)
        if (!accepted.count("file " + std::to_string(k))) REQUIRE(submit(k % 2 ? a : b, k) == 202);
    REQUIRE(accepted.size() == static_cast<size_t>(kJobs));
    requireAllSucceededOnce(b, accepted);
    CHECK(status(a)["jobs"]["succeeded"] == kJobs);
}
