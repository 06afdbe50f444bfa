// Several derivatives of one upload (`jobs` on submit) against the real
// daemon: the original stored once, one job per entry in order, all or
// nothing, dedup per entry.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

using namespace pixelmill::test;
using nlohmann::json;

namespace {

const json kFive = json::array({
    {{"plugin", "thumbnail"}, {"params", {{"size", 64}}}},
    {{"plugin", "thumbnail"}, {"params", {{"size", 128}, {"format", "webp"}}}},
    {{"plugin", "resize"}, {"params", {{"width", 200}}}},
    {{"plugin", "resize"}, {"params", {{"width", 100}, {"height", 100}, {"fit", "cover"}}}},
    {{"plugin", "ascii"}, {"params", {{"width", 40}}}},
});

Response submitJobs(Daemon& d, const std::string& file, const json& jobs) {
    return d.http().postFile("/v1/jobs", "file", file, {{"jobs", jobs.dump(), "", ""}});
}

int count(Daemon& d, const std::string& what) {
    return static_cast<int>(d.http().get("/v1/" + what + "?limit=1000").json()[what].size());
}

void requireError(const Response& r, long status, const std::string& field) {
    INFO(r.body);
    REQUIRE(r.status == status);
    CHECK(r.json()["error"]["field"] == field);
}

}  // namespace

TEST_CASE("one upload, five derivatives: one original, the jobs in order, each done once") {
    TempDir dir;
    makeJpeg(dir / "photo.jpg", 640, 480);
    Daemon d;
    Response r = submitJobs(d, (dir / "photo.jpg").string(), kFive);
    INFO(r.body);
    REQUIRE(r.status == 202);
    json body = r.json();
    REQUIRE(body["jobs"].size() == 5);
    std::string original = body["original"]["id"];
    for (size_t i = 0; i < 5; ++i) {
        CHECK(body["jobs"][i]["plugin"] == kFive[i]["plugin"]);
        CHECK(body["jobs"][i]["original"]["id"] == original);
        CHECK(d.waitForJob(body["jobs"][i]["id"])["state"] == "succeeded");
    }
    CHECK(body["jobs"][0]["params"]["size"] == 64);
    CHECK(body["jobs"][3]["params"]["fit"] == "cover");
    CHECK(count(d, "originals") == 1);
    CHECK(count(d, "jobs") == 5);

    // The same again: every entry is an equal job that has succeeded.
    Response again = submitJobs(d, (dir / "photo.jpg").string(), kFive);
    REQUIRE(again.status == 200);
    for (size_t i = 0; i < 5; ++i) CHECK(again.json()["jobs"][i]["id"] == body["jobs"][i]["id"]);
    CHECK(count(d, "jobs") == 5);

    // The JSON form, of the stored original; two equal entries make one job.
    json twice = json::array({kFive[0], {{"plugin", "thumbnail"}, {"params", {{"size", 32}}}},
                              {{"plugin", "thumbnail"}, {"params", {{"size", 32}}}}});
    Response json_ = d.http().post("/v1/jobs", json{{"jobs", twice}, {"original_id", original}}.dump(),
                                   "application/json");
    INFO(json_.body);
    REQUIRE(json_.status == 202);
    CHECK(json_.json()["jobs"][1]["id"] == json_.json()["jobs"][2]["id"]);
    CHECK(json_.json()["jobs"][0]["id"] == body["jobs"][0]["id"]);
    CHECK(count(d, "jobs") == 6);
}

TEST_CASE("one wrong entry refuses the whole submit, naming it, and stores nothing") {
    TempDir dir;
    makeJpeg(dir / "photo.jpg", 320, 240);
    std::string photo = (dir / "photo.jpg").string();
    Daemon d;
    // The five entries with one changed: the answer names that entry.
    auto withEntry = [](size_t i, const json& pointer, const json& value) {
        json jobs = kFive;
        jobs[i][json::json_pointer(pointer.get<std::string>())] = value;
        return jobs;
    };
    requireError(submitJobs(d, photo, withEntry(2, "/params/width", 0)), 400, "jobs[2].params.width");
    requireError(submitJobs(d, photo, withEntry(1, "/plugin", "sharpen")), 404, "jobs[1].plugin");
    json bad = kFive;
    bad[4] = {{"preset", "nope"}};
    requireError(submitJobs(d, photo, bad), 404, "jobs[4].preset");
    requireError(submitJobs(d, photo, withEntry(0, "/colour", "red")), 400, "jobs[0].colour");
    // pdf2png does not take a JPEG: 415, and the message names the entry.
    bad = kFive;
    bad[3] = {{"plugin", "pdf2png"}};
    Response type = submitJobs(d, photo, bad);
    CHECK(type.status == 415);
    CHECK(type.json()["error"]["message"].get<std::string>().rfind("jobs[3]", 0) == 0);

    requireError(submitJobs(d, photo, json::array()), 400, "jobs");
    requireError(submitJobs(d, photo, json("not an array")), 400, "jobs");
    json many = json::array();
    for (int i = 0; i < 40; ++i) many.push_back({{"plugin", "thumbnail"}, {"params", {{"size", 10 + i}}}});
    requireError(submitJobs(d, photo, many), 400, "jobs");
    requireError(d.http().postFile("/v1/jobs", "file", photo,
                                   {{"jobs", kFive.dump(), "", ""}, {"plugin", "thumbnail", "", ""}}),
                 400, "jobs");
    requireError(d.http().postFile("/v1/jobs", "file", photo, {{"jobs", kFive.dump(), "", ""}, {"size", "9", "", ""}}),
                 400, "size");
    requireError(d.http().postFile("/v1/jobs", "file", photo, {{"jobs", "[{", "", ""}}), 400, "jobs");

    CHECK(count(d, "jobs") == 0);
    CHECK(count(d, "originals") == 0);
}
