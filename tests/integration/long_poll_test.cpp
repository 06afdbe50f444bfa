// ?wait=SECONDS holds an answer until the job ends (or time is up) without
// holding a thread: a client gets its result in one round trip.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;

TEST_CASE("submit with ?wait answers once the job has ended, with its outputs") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "p.jpg", 1600, 900);
    Response r = d.http().postFile("/v1/jobs?wait=20", "file", (files / "p.jpg").string(),
                                   {{"plugin", "thumbnail", "", ""}, {"size", "160", "", ""}});
    REQUIRE(r.status == 202);
    auto job = r.json();
    CHECK(job["state"] == "succeeded");
    REQUIRE(job["outputs"].size() == 1);
    CHECK(decodeImage(d.http().get(job["outputs"][0]["url"].get<std::string>()).body).width == 160);

    // A dedup hit is 200, at once.
    Response again = d.http().postFile("/v1/jobs?wait=20", "file", (files / "p.jpg").string(),
                                       {{"plugin", "thumbnail", "", ""}, {"size", "160", "", ""}});
    CHECK(again.status == 200);
    CHECK(again.json()["id"] == job["id"]);
}

TEST_CASE("GET with ?wait returns when time is up if the job is still running") {
    Daemon d;
    TempDir files;
    writeFile(files / "a.txt", "a");
    std::string id = d.submit((files / "a.txt").string(), "slow", {{"ms", "3000"}}).json()["id"];
    Response r = d.http().get("/v1/jobs/" + id + "?wait=0.3");
    CHECK(r.status == 200);
    CHECK(r.json()["state"] != "succeeded");
    CHECK(r.seconds >= 0.25);
    CHECK(r.seconds < 2.0);

    Response done = d.http().get("/v1/jobs/" + id + "?wait=30");
    CHECK(done.json()["state"] == "succeeded");

    Response bad = d.http().get("/v1/jobs/" + id + "?wait=61");
    CHECK(bad.status == 400);
    CHECK(bad.json()["error"]["field"] == "wait");
}

TEST_CASE("long-polls hold no thread: 40 parked waits, and the daemon still answers at once") {
    Daemon d(DaemonOptions{.args = {"--http-threads", "2"}});
    TempDir files;
    std::vector<std::string> ids;
    for (int i = 0; i < 40; ++i) {
        writeFile(files / ("w" + std::to_string(i)), "wait " + std::to_string(i));
        ids.push_back(d.submit((files / ("w" + std::to_string(i))).string(), "slow", {{"ms", "20000"}}).json()["id"]);
    }
    std::vector<std::future<Response>> waits;
    for (const auto& id : ids)
        waits.push_back(std::async(std::launch::async, [&d, id] {
            HttpClient c(d.base());
            return c.get("/v1/jobs/" + id + "?wait=30");
        }));
    std::this_thread::sleep_for(300ms);
    Response health = d.http().get("/healthz");
    CHECK(health.status == 200);
    CHECK(health.seconds < 0.5);

    // Ending the jobs wakes their waiters: cancel one, delete another, cancel the rest.
    CHECK(d.http().del("/v1/jobs/" + ids[0]).status == 204);
    for (size_t i = 1; i < ids.size(); ++i) d.http().post("/v1/jobs/" + ids[i] + "/cancel", "");
    Response deleted = waits[0].get();
    CHECK(deleted.status == 404);
    for (size_t i = 1; i < waits.size(); ++i) {
        Response r = waits[i].get();
        CHECK(r.status == 200);
        CHECK(r.json()["state"] == "canceled");
        CHECK(r.seconds < 15);
    }
}

TEST_CASE("long-polls beyond --max-long-polls are 503 too_many_waiters with Retry-After") {
    TempDir dir;
    Daemon d(DaemonOptions{.args = {"--max-long-polls", "2"}});
    HttpClient& http = d.http();
    Response job = http.post("/v1/jobs?plugin=slow&ms=20000", "x", "application/octet-stream");
    REQUIRE(job.status == 202);
    std::string id = job.json()["id"];
    std::vector<std::thread> waiting;
    std::atomic<int> answered{0};
    for (int i = 0; i < 2; ++i)
        waiting.emplace_back([&] {
            HttpClient mine(http.base());
            Response r = mine.get("/v1/jobs/" + id + "?wait=3");
            if (r.status == 200) ++answered;
        });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    Response third = http.get("/v1/jobs/" + id + "?wait=3");
    CHECK(third.status == 503);
    CHECK(third.json()["error"]["code"] == "too_many_waiters");
    CHECK(third.header("retry-after") == "1");
    CHECK(http.get("/v1/jobs/" + id).status == 200);  // without ?wait it answers at once
    for (auto& t : waiting) t.join();
    CHECK(answered == 2);
    CHECK(http.get("/v1/jobs/" + id + "?wait=0.2").status == 200);  // room again
    http.post("/v1/jobs/" + id + "/cancel", "");
}


TEST_CASE("pipelined requests are answered in the order they came, behind a long-poll and a pooled POST") {
    Daemon d;
    TempDir files;
    writeFile(files / "a.txt", "pipelined");
    std::string id = d.submit((files / "a.txt").string(), "slow", {{"ms", "1500"}}).json()["id"];
    const std::string host = "Host: 127.0.0.1\r\n";
    const std::string json = R"({"plugin":"no-such-plugin","original_id":"00000000-0000-0000-0000-000000000000"})";
    std::string bytes = "GET /v1/jobs/" + id + "?wait=20 HTTP/1.1\r\n" + host + "\r\n" +  // answered when the job ends
                        "GET /healthz HTTP/1.1\r\n" + host + "\r\n" +                   // answered on the reactor
                        "POST /v1/jobs HTTP/1.1\r\n" + host + "Content-Type: application/json\r\nContent-Length: " +
                        std::to_string(json.size()) + "\r\n\r\n" + json +                  // answered from the intake pool
                        "GET /v1/jobs/" + id + " HTTP/1.1\r\n" + host + "\r\n";
    auto answers = rawAnswers(d.port(), bytes, 4);
    REQUIRE(answers.size() == 4);
    CHECK(answers[0].status == 200);
    CHECK(nlohmann::json::parse(answers[0].body)["state"] == "succeeded");
    CHECK(answers[1].status == 200);
    CHECK(answers[1].body == "ok\n");
    CHECK(answers[2].status >= 400);
    CHECK(nlohmann::json::parse(answers[2].body).contains("error"));
    CHECK(answers[3].status == 200);
    CHECK(nlohmann::json::parse(answers[3].body)["id"] == id);

    // The daemon keeps answering on fresh connections as before.
    CHECK(d.http().get("/healthz").status == 200);
}

TEST_CASE("pipelined input past 256 KiB behind an owed answer is refused after that answer") {
    Daemon d;
    TempDir files;
    writeFile(files / "b.txt", "pipelined, too long");
    std::string id = d.submit((files / "b.txt").string(), "slow", {{"ms", "800"}}).json()["id"];
    std::string bytes = "GET /v1/jobs/" + id + "?wait=20 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    while (bytes.size() < 300 * 1024) bytes += "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    auto answers = rawAnswers(d.port(), bytes, 2);
    REQUIRE(answers.size() == 2);
    CHECK(answers[0].status == 200);
    CHECK(nlohmann::json::parse(answers[0].body)["state"] == "succeeded");
    CHECK(answers[1].status == 400);
    CHECK(nlohmann::json::parse(answers[1].body)["error"]["code"] == "pipeline_too_long");
    CHECK(d.http().get("/healthz").status == 200);
}

TEST_CASE("an upload sent the moment the answer before it arrives is served, not cut short as a pipeline") {
    // The answer reaches the client while the thread that sent it is still
    // returning from the send; the next request's body (past 256 KiB) may
    // arrive meanwhile. It is this request's body, not a pipeline.
    Daemon d;
    HttpClient& http = d.http();
    for (int i = 0; i < 40; ++i) {
        Response small = http.post("/v1/originals", "a small one " + std::to_string(i));
        REQUIRE(small.status == 201);
        Response big = http.post("/v1/originals", std::string(400 * 1024, 'a') + std::to_string(i));
        INFO("upload " << i << ": " << big.body);
        REQUIRE(big.status == 201);
    }
}
