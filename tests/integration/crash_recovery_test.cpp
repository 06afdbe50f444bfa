// Nothing accepted is lost: 2,000 jobs submitted by 8 clients at once (so
// that many submits share each group commit) while the daemon is killed with
// SIGKILL at random moments, five times over; every accepted job ends
// succeeded exactly once, with one output, and no source becomes two jobs.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

using namespace pixelmill::test;
using namespace std::chrono_literals;

TEST_CASE("kill -9 at random moments during a 2,000-job run from 8 clients, five times: all succeed once, with one output each") {
    constexpr int kJobs = 2000;
    constexpr int kClients = 8;
    TempDir files;
    initVips();
    for (int i = 0; i < kJobs; ++i) makePng(files / ("s" + std::to_string(i) + ".png"), 48 + i % 16, 40, false, i);
    Daemon d(DaemonOptions{.workers = 2});

    std::mutex mu;
    std::map<int, std::string> accepted;  // file index → job id answered 202/200
    std::mt19937 random(std::random_device{}());

    // Client `client` submits its share of the files not yet accepted, until
    // told to stop or the daemon dies under it.
    auto submitter = [&](std::string base, std::atomic<bool>& stop, int client) {
        HttpClient http(base);
        for (int i = client; i < kJobs && !stop; i += kClients) {
            {
                std::lock_guard lock(mu);
                if (accepted.count(i)) continue;
            }
            try {
                Response r = http.postFile("/v1/jobs", "file", (files / ("s" + std::to_string(i) + ".png")).string(),
                                           {{"plugin", "thumbnail", "", ""}, {"size", "16", "", ""}});
                if (r.status == 202 || r.status == 200) {
                    std::lock_guard lock(mu);
                    accepted[i] = r.json()["id"].get<std::string>();
                }
            } catch (const std::exception&) {
                // The daemon died mid-request: not accepted, submitted again after the restart.
            }
        }
    };

    for (int round = 0; round < 5; ++round) {
        std::atomic<bool> stop{false};
        std::vector<std::thread> clients;
        for (int c = 0; c < kClients; ++c) clients.emplace_back(submitter, d.base(), std::ref(stop), c);
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(150, 900)(random)));
        d.kill9();
        stop = true;
        for (auto& t : clients) t.join();
        d.start();
    }
    std::atomic<bool> never{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) clients.emplace_back(submitter, d.base(), std::ref(never), c);
    for (auto& t : clients) t.join();
    REQUIRE(accepted.size() == static_cast<size_t>(kJobs));

    std::set<std::string> ids;
    for (const auto& [i, id] : accepted) {
        INFO("file " << i << " job " << id);
        auto job = d.waitForJob(id, {"succeeded", "failed", "canceled"}, 120s);
        CHECK(job["state"] == "succeeded");
        CHECK(job["outputs"].size() == 1);
        ids.insert(id);
    }
    CHECK(ids.size() == static_cast<size_t>(kJobs));  // no two sources share a job, none was lost
    auto status = d.http().get("/v1/status").json();
    CHECK(status["jobs"]["succeeded"] == kJobs);  // and no job was made twice for one source
    CHECK(status["jobs"]["queued"] == 0);
    CHECK(status["jobs"]["running"] == 0);
    INFO(d.log());
    CHECK(d.log().find("recovered_jobs=") != std::string::npos);
}
