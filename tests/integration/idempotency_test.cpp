// Idempotency-Key through the real daemon: a retried submit answers with the
// job the first one made, another request under the key is 422, keys belong
// to their client, and concurrent retries make one job.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <future>
#include <set>
#include <string>
#include <vector>

using namespace pixelmill::test;

namespace {

// A raw-body submit of `bytes` (a thumbnail of `size`) with extra headers.
Response submitRaw(HttpClient& http, const std::string& bytes, int size, const std::vector<std::string>& headers) {
    return http.post("/v1/jobs?plugin=thumbnail&size=" + std::to_string(size), bytes, "image/jpeg", headers);
}

size_t jobCount(Daemon& d) {
    Response r = d.http().get("/v1/jobs?limit=1000");
    REQUIRE(r.status == 200);
    return r.json()["jobs"].size();
}

}  // namespace

TEST_CASE("Idempotency-Key: a retry answers with the first job and status, another request under it is 422") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "a.jpg", 640, 480);
    const std::string bytes = readFile(files / "a.jpg");

    Response first = submitRaw(d.http(), bytes, 64, {"Idempotency-Key: order-17"});
    REQUIRE(first.status == 202);
    std::string id = first.json()["id"];
    d.waitForJob(id);

    // The job has succeeded meanwhile (a plain resubmit would be a 200 dedup hit): the first answer is repeated.
    Response retry = submitRaw(d.http(), bytes, 64, {"Idempotency-Key: order-17"});
    CHECK(retry.status == 202);
    CHECK(retry.json()["id"] == id);
    CHECK(retry.header("location") == "/v1/jobs/" + id);
    CHECK(jobCount(d) == 1);

    Response other = submitRaw(d.http(), bytes, 128, {"Idempotency-Key: order-17"});
    CHECK(other.status == 422);
    CHECK(other.json()["error"]["code"] == "idempotency_conflict");
    CHECK(other.json()["error"]["field"] == "idempotency_key");
    CHECK(jobCount(d) == 1);

    // The reserved query name is the same key.
    Response byQuery = d.http().post("/v1/jobs?plugin=thumbnail&size=64&idempotency_key=order-17", bytes, "image/jpeg");
    CHECK(byQuery.status == 202);
    CHECK(byQuery.json()["id"] == id);
}

TEST_CASE("Idempotency-Key: the multipart field works as the header does, and a malformed key is 400") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "b.jpg", 320, 240);

    const std::string file = (files / "b.jpg").string();
    Response first = d.submit(file, "thumbnail", {{"size", "96"}, {"idempotency_key", "upload-1"}});
    REQUIRE(first.status == 202);
    Response again = d.submit(file, "thumbnail", {{"size", "96"}, {"idempotency_key", "upload-1"}});
    CHECK(again.status == 202);
    CHECK(again.json()["id"] == first.json()["id"]);
    Response changed =
        d.submit(file, "thumbnail", {{"size", "96"}, {"priority", "5"}, {"idempotency_key", "upload-1"}});
    CHECK(changed.status == 422);
    CHECK(changed.json()["error"]["code"] == "idempotency_conflict");
    CHECK(jobCount(d) == 1);

    for (const std::string& bad :
         {std::string(256, 'k'), std::string("tab\there"), std::string("caf\xc3\xa9"), std::string()}) {
        Response r = d.submit(file, "thumbnail", {{"size", "96"}, {"idempotency_key", bad}});
        CHECK(r.status == 400);
        CHECK(r.json()["error"]["code"] == "invalid_param");
        CHECK(r.json()["error"]["field"] == "idempotency_key");
    }
    Response longest = d.submit(file, "thumbnail", {{"size", "97"}, {"idempotency_key", std::string(255, 'k')}});
    CHECK(longest.status == 202);
}

TEST_CASE("Idempotency-Key: two clients (two tokens) with one key make two jobs") {
    TempDir dir;
    std::string alice = makeToken(dir / "tokens", "alice", "read,submit");
    std::string bob = makeToken(dir / "tokens", "bob", "read,submit");
    Daemon d(DaemonOptions{.args = {"--token-file", (dir / "tokens").string()}});
    TempDir files;
    makeJpeg(files / "c.jpg", 320, 240);
    makeJpeg(files / "d.jpg", 320, 240, 1, 7);

    const std::vector<std::string> asAlice{"Authorization: Bearer " + alice, "Idempotency-Key: same"};
    const std::vector<std::string> asBob{"Authorization: Bearer " + bob, "Idempotency-Key: same"};
    Response a = submitRaw(d.http(), readFile(files / "c.jpg"), 64, asAlice);
    Response b = submitRaw(d.http(), readFile(files / "d.jpg"), 64, asBob);
    REQUIRE(a.status == 202);
    REQUIRE(b.status == 202);
    CHECK(a.json()["id"] != b.json()["id"]);
    // Each client's retry still finds its own job.
    Response again = submitRaw(d.http(), readFile(files / "d.jpg"), 64, asBob);
    CHECK(again.json()["id"] == b.json()["id"]);
    Response list = d.http().get("/v1/jobs", {"Authorization: Bearer " + alice});
    CHECK(list.json()["jobs"].size() == 2);
}

TEST_CASE("Idempotency-Key: concurrent submits with one key make one job, a different request among them is 422") {
    Daemon d(DaemonOptions{.workers = 1});
    TempDir files;
    makeJpeg(files / "e.jpg", 800, 600);
    const std::string bytes = readFile(files / "e.jpg");
    constexpr int kThreads = 8;
    std::vector<std::future<Response>> answers;
    for (int i = 0; i < kThreads; ++i)
        answers.push_back(std::async(std::launch::async, [&, i] {
            HttpClient http(d.base());
            // Two of them ask for another size under the same key.
            return submitRaw(http, bytes, i < 6 ? 64 : 128, {"Idempotency-Key: burst"});
        }));
    std::set<std::string> ids;
    int accepted = 0, conflicts = 0;
    for (auto& f : answers) {
        Response r = f.get();
        INFO(r.body);
        if (r.status == 202) {
            ++accepted;
            ids.insert(r.json()["id"].get<std::string>());
        } else {
            CHECK(r.status == 422);
            CHECK(r.json()["error"]["code"] == "idempotency_conflict");
            ++conflicts;
        }
    }
    CHECK(ids.size() == 1);
    CHECK(jobCount(d) == 1);
    // Whichever request came first made the job; every answer to the other one is a conflict.
    CHECK(((accepted == 6 && conflicts == 2) || (accepted == 2 && conflicts == 6)));
}
