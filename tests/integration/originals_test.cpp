// Upload now, process later: originals, batches, and jobs from stored originals.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <future>

using namespace pixelmill::test;

TEST_CASE("originals: the same bytes give the same original, with metadata, pending until a job uses it") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "a.jpg", 640, 400, 6);  // displayed 400x640
    Response first = d.http().postFile("/v1/originals", "file", (files / "a.jpg").string());
    REQUIRE(first.status == 201);
    auto o = first.json();
    CHECK(first.header("location") == "/v1/originals/" + o["id"].get<std::string>());
    CHECK(o["media_type"] == "image/jpeg");
    CHECK(o["filename"] == "a.jpg");
    CHECK(o["width"] == 400);
    CHECK(o["height"] == 640);
    CHECK(o["size_bytes"] == readFile(files / "a.jpg").size());

    Response again = d.http().post("/v1/originals", readFile(files / "a.jpg"), "application/octet-stream");
    CHECK(again.status == 200);
    CHECK(again.json()["id"] == o["id"]);

    CHECK(d.http().get("/v1/originals/" + o["id"].get<std::string>()).json()["sha256"] == o["sha256"]);
    Response content = d.http().get("/v1/originals/" + o["id"].get<std::string>() + "/content");
    CHECK(content.body == readFile(files / "a.jpg"));
    CHECK(content.header("content-type") == "image/jpeg");

    auto pending = d.http().get("/v1/originals?pending=true").json()["originals"];
    REQUIRE(pending.size() == 1);
    CHECK(pending[0]["id"] == o["id"]);

    Response job = d.http().post("/v1/jobs?wait=20",
                                 R"({"plugin": "thumbnail", "params": {"size": 64}, "original_id": ")" +
                                     o["id"].get<std::string>() + "\"}",
                                 "application/json");
    REQUIRE(job.status == 202);
    CHECK(job.json()["state"] == "succeeded");
    CHECK(job.json()["original"]["id"] == o["id"]);
    CHECK(d.http().get("/v1/originals?pending=true").json()["originals"].empty());
    CHECK(d.http().get("/v1/originals").json()["originals"].size() == 1);

    SECTION("a file no plugin accepts is refused with 415") {
        writeFile(files / "n.zip", std::string("PK\x03\x04", 4) + "not really a zip");
        Response r = d.http().postFile("/v1/originals", "file", (files / "n.zip").string());
        CHECK(r.status == 415);
        CHECK(r.json()["error"]["message"].get<std::string>().find("application/zip") != std::string::npos);
    }
    SECTION("unknown ids") {
        CHECK(d.http().get("/v1/originals/00000000-0000-4000-8000-000000000000").status == 404);
        Response r = d.http().post("/v1/jobs", R"({"plugin":"thumbnail","original_id":"00000000-0000-4000-8000-000000000000"})",
                                   "application/json");
        CHECK(r.status == 404);
    }
    SECTION("a deleted original's content is gone, its jobs remain") {
        CHECK(d.http().del("/v1/originals/" + o["id"].get<std::string>()).status == 204);
        CHECK(d.http().get("/v1/originals/" + o["id"].get<std::string>() + "/content").status == 404);
        CHECK(d.http().get("/v1/jobs/" + job.json()["id"].get<std::string>()).status == 200);
        Response r = d.http().post("/v1/jobs", R"({"plugin":"thumbnail","original_id":")" + o["id"].get<std::string>() + "\"}",
                                   "application/json");
        CHECK(r.status == 404);
    }
}

TEST_CASE("batches: all or nothing, then counts per state") {
    Daemon d;
    TempDir files;
    std::vector<std::string> ids;
    for (int i = 0; i < 4; ++i) {
        makePng(files / ("p" + std::to_string(i) + ".png"), 200 + i, 150, false, i);
        ids.push_back(d.http().postFile("/v1/originals", "file", (files / ("p" + std::to_string(i) + ".png")).string()).json()["id"]);
    }
    auto body = [&](const std::vector<std::string>& list) {
        nlohmann::json b = {{"plugin", "thumbnail"}, {"params", {{"size", 32}}}, {"original_ids", list}};
        return b.dump();
    };

    SECTION("an unknown id fails the whole request, naming it") {
        std::vector<std::string> withBad = ids;
        withBad.push_back("00000000-0000-4000-8000-00000000beef");
        Response r = d.http().post("/v1/batches", body(withBad), "application/json");
        REQUIRE(r.status == 404);
        CHECK(r.json()["error"]["message"].get<std::string>().find("00000000-0000-4000-8000-00000000beef") !=
              std::string::npos);
        CHECK(d.http().get("/v1/jobs").json()["jobs"].empty());
    }
    SECTION("bad params fail it too") {
        nlohmann::json b = {{"plugin", "thumbnail"}, {"params", {{"size", 0}}}, {"original_ids", ids}};
        Response r = d.http().post("/v1/batches", b.dump(), "application/json");
        CHECK(r.status == 400);
        CHECK(r.json()["error"]["field"] == "size");
        CHECK(d.http().get("/v1/jobs").json()["jobs"].empty());
    }
    SECTION("a good batch queues one job per original, in order") {
        Response r = d.http().post("/v1/batches", body(ids), "application/json");
        REQUIRE(r.status == 202);
        auto batch = r.json();
        REQUIRE(batch["jobs"].size() == 4);
        for (size_t i = 0; i < 4; ++i) CHECK(batch["jobs"][i]["original"]["id"] == ids[i]);
        std::string bid = batch["id"];
        for (const auto& j : batch["jobs"]) d.waitForJob(j["id"]);
        auto done = d.http().get("/v1/batches/" + bid).json();
        CHECK(done["counts"]["succeeded"] == 4);
        CHECK(done["counts"]["queued"] == 0);
        CHECK(d.http().get("/v1/originals?pending=true").json()["originals"].empty());
        CHECK(d.http().get("/v1/batches/00000000-0000-4000-8000-000000000000").status == 404);
    }
}

TEST_CASE("concurrent identical submissions create one job") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "same.jpg", 800, 600);
    std::string bytes = readFile(files / "same.jpg");
    std::vector<std::future<std::string>> results;
    for (int i = 0; i < 12; ++i)
        results.push_back(std::async(std::launch::async, [&] {
            HttpClient c(d.base());
            Response r = c.post("/v1/jobs?plugin=thumbnail&size=99", bytes);
            return r.json()["id"].get<std::string>();
        }));
    std::set<std::string> ids;
    for (auto& f : results) ids.insert(f.get());
    CHECK(ids.size() == 1);
    CHECK(d.http().get("/v1/jobs").json()["jobs"].size() == 1);
}

TEST_CASE("listing filters by original and creation time, and a job shows its attempts") {
    Daemon d(DaemonOptions{.args = {"--retry-base", "0.05"}});
    TempDir files;
    writeFile(files / "x.txt", "x");
    std::string id = d.submit((files / "x.txt").string(), "flaky", {{"fail_times", "1"}}).json()["id"];
    auto job = d.waitForJob(id);
    REQUIRE(job["state"] == "succeeded");
    std::string original = job["original"]["id"];
    CHECK(d.http().get("/v1/jobs?original=" + original).json()["jobs"].size() == 1);
    CHECK(d.http().get("/v1/jobs?created_after=2000-01-01T00:00:00Z").json()["jobs"].size() == 1);
    CHECK(d.http().get("/v1/jobs?created_before=2000-01-01T00:00:00Z").json()["jobs"].empty());
    CHECK(d.http().get("/v1/jobs?created_after=yesterday").status == 400);

    auto attempts = d.http().get("/v1/jobs/" + id + "/attempts").json()["attempts"];
    REQUIRE(attempts.size() == 2);
    CHECK(attempts[0]["outcome"] == "retry");
    CHECK(attempts[0]["error"]["code"] == "transient");
    CHECK(attempts[1]["outcome"] == "succeeded");
}

TEST_CASE("originals: deleting one that a queued or running job needs is refused with 409 naming the jobs") {
    Daemon d(DaemonOptions{.workers = 1});
    Response stored = d.http().post("/v1/originals", "a source the slow fixture reads\n", "text/plain");
    REQUIRE(stored.status == 201);
    std::string id = stored.json()["id"];
    auto submit = [&](int ms) {
        Response r = d.http().post("/v1/jobs",
                                   R"({"plugin": "slow", "params": {"ms": )" + std::to_string(ms) +
                                       R"(}, "original_id": ")" + id + "\"}",
                                   "application/json");
        REQUIRE(r.status == 202);
        return r.json()["id"].get<std::string>();
    };
    std::string running = submit(600'000);
    d.waitForJob(running, {"running"}, std::chrono::seconds(30));
    std::string queued = submit(599'999);  // the one worker is busy

    Response refused = d.http().del("/v1/originals/" + id);
    REQUIRE(refused.status == 409);
    auto error = refused.json()["error"];
    CHECK(error["code"] == "conflict");
    std::string message = error["message"];
    CHECK(message.find(running) != std::string::npos);
    CHECK(message.find(queued) != std::string::npos);
    CHECK(error["jobs"] == nlohmann::json::array({running, queued}));
    // Nothing was removed: the content is there and the jobs go on.
    CHECK(d.http().get("/v1/originals/" + id + "/content").status == 200);
    CHECK(d.http().get("/v1/jobs/" + running).json()["state"] == "running");

    CHECK(d.http().post("/v1/jobs/" + queued + "/cancel", "").status == 202);
    refused = d.http().del("/v1/originals/" + id);
    REQUIRE(refused.status == 409);
    CHECK(refused.json()["error"]["jobs"] == nlohmann::json::array({running}));

    CHECK(d.http().post("/v1/jobs/" + running + "/cancel", "").status == 202);
    d.waitForJob(running, {"canceled"});
    CHECK(d.http().del("/v1/originals/" + id).status == 204);
    CHECK(d.http().get("/v1/originals/" + id + "/content").status == 404);
}
