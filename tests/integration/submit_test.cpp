// Submitting, polling and downloading through the real daemon on loopback.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

using namespace pixelmill::test;

TEST_CASE("multipart submit answers 202 with the job and a Location, then the thumbnail downloads") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "photo.jpg", 1920, 1080);

    Response r = d.submit((files / "photo.jpg").string(), "thumbnail", {{"size", "256"}});
    REQUIRE(r.status == 202);
    auto job = r.json();
    std::string id = job["id"];
    CHECK(r.header("location") == "/v1/jobs/" + id);
    CHECK(r.header("content-type").find("application/json") == 0);
    CHECK(job["plugin"] == "thumbnail");
    CHECK(job["params"]["size"] == 256);
    CHECK(job["original"]["filename"] == "photo.jpg");
    CHECK(job["original"]["media_type"] == "image/jpeg");
    CHECK(job["original"]["width"] == 1920);
    CHECK(job["original"]["height"] == 1080);

    job = d.waitForJob(id);
    REQUIRE(job["state"] == "succeeded");
    REQUIRE(job["outputs"].size() == 1);
    CHECK(job["attempts"] == 1);
    CHECK(job["duration_seconds"].get<double>() > 0);
    CHECK(job["error"].is_null());

    Response out = d.http().get(job["outputs"][0]["url"].get<std::string>());
    REQUIRE(out.status == 200);
    CHECK(out.header("content-type") == "image/jpeg");
    CHECK(out.header("content-length") == std::to_string(out.body.size()));
    CHECK_FALSE(out.header("etag").empty());
    // An output never changes: any cache may keep it for a year.
    CHECK(out.header("cache-control") == "public, max-age=31536000, immutable");
    ImageInfo info = decodeImage(out.body);
    CHECK(info.width == 256);
    CHECK(info.height == 144);
    CHECK(job["outputs"][0]["width"] == 256);
    CHECK(job["outputs"][0]["height"] == 144);

    SECTION("the same ETag gives 304") {
        Response again = d.http().get(job["outputs"][0]["url"].get<std::string>(),
                                      {"If-None-Match: " + out.header("etag")});
        CHECK(again.status == 304);
        CHECK(again.header("cache-control") == "public, max-age=31536000, immutable");
    }
    SECTION("the original comes back byte for byte") {
        Response orig = d.http().get("/v1/jobs/" + id + "/original");
        CHECK(orig.status == 200);
        CHECK(orig.body == readFile(files / "photo.jpg"));
        CHECK(orig.header("content-type") == "image/jpeg");
        // An original can be deleted: revalidated on every use.
        CHECK(orig.header("cache-control") == "public, no-cache");
    }
}

TEST_CASE("raw-body submit takes the plugin and parameters from the query string") {
    Daemon d;
    TempDir files;
    makePng(files / "a.png", 640, 480, true);
    Response r = d.http().post("/v1/jobs?plugin=thumbnail&size=100&crop=centre", readFile(files / "a.png"),
                               "application/octet-stream");
    REQUIRE(r.status == 202);
    auto job = d.waitForJob(r.json()["id"]);
    REQUIRE(job["state"] == "succeeded");
    Response out = d.http().get(job["outputs"][0]["url"].get<std::string>());
    // Alpha in the source: PNG by default, and crop=centre fills the box exactly.
    CHECK(out.header("content-type") == "image/png");
    ImageInfo info = decodeImage(out.body);
    CHECK(info.width == 100);
    CHECK(info.height == 100);
    CHECK(info.bands == 4);
}

TEST_CASE("EXIF orientation is applied: a landscape JPEG tagged orientation 6 comes out portrait") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "rotated.jpg", 800, 400, 6);
    Response r = d.submit((files / "rotated.jpg").string(), "thumbnail", {{"size", "200"}});
    REQUIRE(r.status == 202);
    // The original's metadata is as displayed, too.
    CHECK(r.json()["original"]["width"] == 400);
    CHECK(r.json()["original"]["height"] == 800);
    auto job = d.waitForJob(r.json()["id"]);
    REQUIRE(job["state"] == "succeeded");
    ImageInfo info = decodeImage(d.http().get(job["outputs"][0]["url"].get<std::string>()).body);
    CHECK(info.width == 100);
    CHECK(info.height == 200);
}

TEST_CASE("the same bytes, plugin and parameters answer 200 with the finished job instead of running again") {
    Daemon d;
    TempDir files;
    makeJpeg(files / "p.jpg", 640, 480);
    Response first = d.submit((files / "p.jpg").string(), "thumbnail", {{"size", "64"}});
    REQUIRE(first.status == 202);
    std::string id = first.json()["id"];
    d.waitForJob(id);

    Response second = d.submit((files / "p.jpg").string(), "thumbnail", {{"size", "64"}});
    CHECK(second.status == 200);
    CHECK(second.json()["id"] == id);
    CHECK(second.json()["state"] == "succeeded");

    // Equal parameters written differently are the same job; other parameters are not.
    Response spelled = d.http().post("/v1/jobs?plugin=thumbnail&size=064&crop=none", readFile(files / "p.jpg"));
    CHECK(spelled.status == 200);
    CHECK(spelled.json()["id"] == id);
    Response other = d.submit((files / "p.jpg").string(), "thumbnail", {{"size", "65"}});
    CHECK(other.status == 202);
    CHECK(other.json()["id"] != id);
}

TEST_CASE("higher priority runs first") {
    Daemon d(DaemonOptions{.workers = 1});
    TempDir files;
    writeFile(files / "block.txt", "block");
    // Occupy the only worker, then queue low before high.
    Response blocker = d.submit((files / "block.txt").string(), "slow", {{"ms", "800"}});
    REQUIRE(blocker.status == 202);
    d.waitForJob(blocker.json()["id"], {"running"});
    writeFile(files / "low.txt", "low");
    writeFile(files / "high.txt", "high");
    std::string low = d.submit((files / "low.txt").string(), "slow", {{"ms", "0"}, {"priority", "-5"}}).json()["id"];
    std::string high = d.submit((files / "high.txt").string(), "slow", {{"ms", "0"}, {"priority", "10"}}).json()["id"];
    auto lowJob = d.waitForJob(low);
    auto highJob = d.waitForJob(high);
    CHECK(highJob["priority"] == 10);
    CHECK(highJob["started_at"].get<std::string>() <= lowJob["started_at"].get<std::string>());
    CHECK(highJob["finished_at"].get<std::string>() <= lowJob["started_at"].get<std::string>());
}

TEST_CASE("listing pages newest first with a cursor and filters by state and plugin") {
    Daemon d;
    TempDir files;
    std::vector<std::string> ids;
    for (int i = 0; i < 7; ++i) {
        writeFile(files / ("f" + std::to_string(i) + ".txt"), "file " + std::to_string(i));
        ids.push_back(d.submit((files / ("f" + std::to_string(i) + ".txt")).string(), "slow", {{"ms", "0"}}).json()["id"]);
    }
    for (const auto& id : ids) d.waitForJob(id);

    std::vector<std::string> seen;
    std::string cursor;
    int pages = 0;
    do {
        Response r = d.http().get("/v1/jobs?plugin=slow&state=succeeded&limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor));
        REQUIRE(r.status == 200);
        auto body = r.json();
        for (const auto& j : body["jobs"]) seen.push_back(j["id"]);
        cursor = body["next_cursor"].is_null() ? "" : body["next_cursor"].get<std::string>();
        ++pages;
    } while (!cursor.empty() && pages < 10);
    CHECK(pages == 3);
    std::vector<std::string> expected(ids.rbegin(), ids.rend());
    CHECK(seen == expected);

    CHECK(d.http().get("/v1/jobs?plugin=thumbnail").json()["jobs"].empty());
    CHECK(d.http().get("/v1/jobs?state=failed").json()["jobs"].empty());
    Response bad = d.http().get("/v1/jobs?state=nonsense");
    CHECK(bad.status == 400);
    CHECK(bad.json()["error"]["field"] == "state");
}
