// The life of jobs across cancel, retry, delete, timeouts, a kill -9 and a
// graceful drain, against the real daemon and its real SQLite file.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <set>
#include <sstream>
#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;

namespace {

std::string submitText(Daemon& d, TempDir& files, const std::string& name, const std::string& plugin,
                       const std::map<std::string, std::string>& fields) {
    writeFile(files / name, "content of " + name);
    Response r = d.submit((files / name).string(), plugin, fields);
    INFO(r.body);
    REQUIRE(r.status == 202);
    return r.json()["id"];
}

}  // namespace

TEST_CASE("cancel, retry and delete follow the state machine") {
    Daemon d(DaemonOptions{.args = {"--retry-base", "0.05"}});
    TempDir files;

    SECTION("a running job is canceled and stops; canceling again is a conflict") {
        std::string id = submitText(d, files, "a.txt", "slow", {{"ms", "20000"}});
        d.waitForJob(id, {"running"});
        Response c = d.http().post("/v1/jobs/" + id + "/cancel", "");
        REQUIRE(c.status == 202);
        CHECK(c.json()["state"] == "canceled");
        // The worker is free again soon: a quick job behind it finishes.
        std::string next = submitText(d, files, "b.txt", "slow", {{"ms", "0"}});
        CHECK(d.waitForJob(next, {"succeeded"}, 5000ms)["state"] == "succeeded");
        Response again = d.http().post("/v1/jobs/" + id + "/cancel", "");
        CHECK(again.status == 409);
        CHECK(again.json()["error"]["code"] == "conflict");
        CHECK(d.http().get("/v1/jobs/" + id).json()["state"] == "canceled");
    }
    SECTION("a failed job can be retried; a succeeded one cannot") {
        std::string id = submitText(d, files, "c.txt", "flaky", {{"permanent", "true"}});
        auto job = d.waitForJob(id);
        CHECK(job["state"] == "failed");
        CHECK(job["error"]["code"] == "unprocessable");
        Response r = d.http().post("/v1/jobs/" + id + "/retry", "");
        REQUIRE(r.status == 202);
        CHECK(r.json()["state"] == "queued");
        CHECK(d.waitForJob(id)["state"] == "failed");

        std::string ok = submitText(d, files, "d.txt", "slow", {{"ms", "0"}});
        d.waitForJob(ok);
        Response no = d.http().post("/v1/jobs/" + ok + "/retry", "");
        CHECK(no.status == 409);
    }
    SECTION("transient failures are retried with backoff until they succeed") {
        std::string id = submitText(d, files, "e.txt", "flaky", {{"fail_times", "2"}});
        auto job = d.waitForJob(id);
        CHECK(job["state"] == "succeeded");
        CHECK(job["attempts"] == 3);
    }
    SECTION("attempts run out: failed with the last error") {
        std::string id = submitText(d, files, "f.txt", "flaky", {{"fail_times", "10"}});
        auto job = d.waitForJob(id);
        CHECK(job["state"] == "failed");
        CHECK(job["attempts"] == 3);
        CHECK(job["error"]["code"] == "transient");
    }
    SECTION("delete removes a job, running or not, and its outputs") {
        std::string done = submitText(d, files, "g.txt", "slow", {{"ms", "0"}});
        d.waitForJob(done);
        Response del = d.http().del("/v1/jobs/" + done);
        CHECK(del.status == 204);
        CHECK(d.http().get("/v1/jobs/" + done).status == 404);
        CHECK(d.http().get("/v1/jobs/" + done + "/outputs/0").status == 404);
        CHECK(d.http().del("/v1/jobs/" + done).status == 404);

        std::string running = submitText(d, files, "h.txt", "slow", {{"ms", "20000"}});
        d.waitForJob(running, {"running"});
        CHECK(d.http().del("/v1/jobs/" + running).status == 204);
        CHECK(d.http().get("/v1/jobs/" + running).status == 404);
        std::string next = submitText(d, files, "i.txt", "slow", {{"ms", "0"}});
        CHECK(d.waitForJob(next, {"succeeded"}, 5000ms)["state"] == "succeeded");
    }
}

TEST_CASE("a submit past --queue-limit gets 429 queue_full, one job less and it is accepted") {
    Daemon d(DaemonOptions{.args = {"--queue-limit", "3"}, .workers = 1});
    TempDir files;
    d.waitForJob(submitText(d, files, "busy.txt", "slow", {{"ms", "20000"}}), {"running"});
    std::vector<std::string> queued;
    for (int i = 0; i < 3; ++i)
        queued.push_back(submitText(d, files, "q" + std::to_string(i) + ".txt", "slow", {{"ms", "0"}}));

    writeFile(files / "over.txt", "one too many");
    Response over = d.submit((files / "over.txt").string(), "slow", {{"ms", "0"}});
    INFO(over.body);
    CHECK(over.status == 429);
    CHECK(over.json()["error"]["code"] == "queue_full");
    CHECK(over.header("retry-after") == "5");

    REQUIRE(d.http().post("/v1/jobs/" + queued[0] + "/cancel", "").status == 202);
    CHECK(d.submit((files / "over.txt").string(), "slow", {{"ms", "0"}}).status == 202);
}

TEST_CASE("a job that runs past --job-timeout is stopped and fails with timeout") {
    Daemon d(DaemonOptions{.args = {"--job-timeout", "1"}});
    TempDir files;
    auto started = std::chrono::steady_clock::now();
    std::string id = submitText(d, files, "t.txt", "slow", {{"ms", "30000"}});
    auto job = d.waitForJob(id, {"succeeded", "failed", "canceled"}, 10s);
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(job["state"] == "failed");
    CHECK(job["error"]["code"] == "timeout");
    CHECK(took < 5s);
    // The worker is free: the next job runs.
    std::string next = submitText(d, files, "u.txt", "slow", {{"ms", "0"}});
    CHECK(d.waitForJob(next, {"succeeded"}, 5s)["state"] == "succeeded");
}

TEST_CASE("kill -9 with jobs in flight: after a restart every accepted job finishes once, with one set of outputs") {
    Daemon d(DaemonOptions{.workers = 2});
    TempDir files;
    std::vector<std::string> ids;
    for (int i = 0; i < 12; ++i) ids.push_back(submitText(d, files, "k" + std::to_string(i) + ".txt", "slow", {{"ms", "400"}}));
    for (int i = 0; i < 6; ++i) {
        makeJpeg(files / ("k" + std::to_string(i) + ".jpg"), 1200, 800, 1, i);
        Response r = d.submit((files / ("k" + std::to_string(i) + ".jpg")).string(), "thumbnail", {{"size", "128"}});
        REQUIRE(r.status == 202);
        ids.push_back(r.json()["id"]);
    }
    // Let some finish and some be mid-flight.
    d.waitForJob(ids[0], {"succeeded"});
    d.waitForJob(ids[2], {"running", "succeeded"});
    d.kill9();

    d.start();
    std::set<std::string> blobs;
    for (const auto& id : ids) {
        auto job = d.waitForJob(id, {"succeeded", "failed", "canceled"}, 60s);
        INFO(job.dump());
        CHECK(job["state"] == "succeeded");
        REQUIRE(job["outputs"].size() == 1);
        CHECK(job["outputs"][0]["index"] == 0);
        Response out = d.http().get(job["outputs"][0]["url"].get<std::string>());
        CHECK(out.status == 200);
        CHECK(out.header("content-length") == std::to_string(job["outputs"][0]["size_bytes"].get<long>()));
    }
    CHECK(d.log().find("recovered_jobs=") != std::string::npos);
    // Nothing was lost or doubled: exactly the accepted jobs exist.
    auto listed = d.http().get("/v1/jobs?limit=100").json()["jobs"];
    CHECK(listed.size() == ids.size());
    auto status = d.http().get("/v1/status").json();
    CHECK(status["jobs"]["succeeded"] == ids.size());
    CHECK(status["jobs"]["running"] == 0);
    CHECK(status["jobs"]["queued"] == 0);
}

TEST_CASE("SIGTERM drains: no new jobs, running jobs finish, exit 0") {
    Daemon d;
    TempDir files;
    std::string id = submitText(d, files, "s.txt", "slow", {{"ms", "1500"}});
    d.waitForJob(id, {"running"});

    std::thread term([&] { CHECK(d.terminate(30s) == 0); });
    // While it drains, submits are refused and readiness is off.
    bool refused = false;
    for (int i = 0; i < 100 && !refused; ++i) {
        try {
            writeFile(files / "late.txt", "late");
            Response r = d.submit((files / "late.txt").string(), "slow", {{"ms", "0"}});
            if (r.status == 503) {
                refused = true;
                CHECK(r.json()["error"]["code"] == "shutting_down");
                CHECK_FALSE(r.header("retry-after").empty());
                CHECK(d.http().get("/readyz").status == 503);
            }
        } catch (const std::exception&) {
            break;  // already closed
        }
        std::this_thread::sleep_for(10ms);
    }
    term.join();
    CHECK(refused);
    CHECK(d.log().find("event=stopped") != std::string::npos);

    d.start();
    auto job = d.waitForJob(id);
    CHECK(job["state"] == "succeeded");
    CHECK(job["attempts"] == 1);  // finished during the drain, not run again
}

TEST_CASE("past --drain-timeout a running job goes back to the queue and runs after the restart") {
    Daemon d(DaemonOptions{.args = {"--drain-timeout", "0.5"}});
    TempDir files;
    std::string id = submitText(d, files, "long.txt", "slow", {{"ms", "60000"}});
    d.waitForJob(id, {"running"});
    auto started = std::chrono::steady_clock::now();
    CHECK(d.terminate(30s) == 0);
    CHECK(std::chrono::steady_clock::now() - started < 10s);

    d.start();
    auto job = d.http().get("/v1/jobs/" + id).json();
    CHECK((job["state"] == "queued" || job["state"] == "running"));
    // Cancel it rather than wait a minute: it is a live job of the new process.
    CHECK(d.http().post("/v1/jobs/" + id + "/cancel", "").status == 202);
}

TEST_CASE("log format json: every line the daemon and its workers write is one JSON object") {
    DaemonOptions options;
    options.args = {"--log-format", "json", "--log-level", "debug"};
    Daemon d(options);
    TempDir files;
    makePng(files / "a.png", 64, 48);
    auto r = d.http().post("/v1/jobs?plugin=thumbnail&size=16", readFile(files / "a.png"), "application/octet-stream");
    REQUIRE(r.status == 202);
    std::string id = r.json()["id"];
    REQUIRE(d.waitForJob(id)["state"] == "succeeded");
    REQUIRE(d.terminate() == 0);

    std::set<std::string> events;
    bool jobLine = false;
    std::istringstream lines(d.log());
    int count = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.empty()) continue;
        INFO(line);
        ++count;
        nlohmann::json j = nlohmann::json::parse(line);  // throws on anything else
        REQUIRE(j.is_object());
        CHECK(j["ts"].is_string());
        CHECK((j["level"] == "debug" || j["level"] == "info" || j["level"] == "warn" || j["level"] == "error"));
        events.insert(j["event"].get<std::string>());
        if (j["event"] == "job_attempt_ended" && j.value("job", "") == id) {
            jobLine = true;
            CHECK(j["attempt"] == 1);  // a number, not a string
        }
    }
    CHECK(count > 3);
    CHECK(events.count("listening") == 1);
    CHECK(events.count("stopped") == 1);
    CHECK(jobLine);
}
