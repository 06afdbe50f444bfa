// Chains (`steps` on submit) against the real daemon and plugins: a PDF's
// pages each thumbnailed in one job, outputs named after their pages, steps
// shown with their state and progress, a chain that cannot work refused
// naming the step, a step's result reused by another chain, and a chain
// finished once after a kill -9.
#include "support/daemon.h"
#include "support/images.h"
#include "support/jobs.h"
#include "support/pdf_writer.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <thread>

using namespace pixelmill::test;
using pixelmill::pdf2png::test::makePdf;
using pixelmill::pdf2png::test::PageSpec;
using nlohmann::json;

namespace {

Response submitSteps(Daemon& d, const std::string& file, const json& steps) {
    return d.http().postFile("/v1/jobs", "file", file, {{"steps", steps.dump(), "", ""}});
}

void requireError(const Response& r, long status, const std::string& field) {
    INFO(r.body);
    REQUIRE(r.status == status);
    CHECK(r.json()["error"]["field"] == field);
}

// The `reused` count the daemon last logged for step `step` of job `job`; -1 if none.
int reusedAt(Daemon& d, const std::string& job, int step) {
    std::regex line("event=chain_step_done job=" + job + " step=" + std::to_string(step) + " [^\n]*reused=([0-9]+)");
    std::string log = d.log();
    int last = -1;
    for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it)
        last = std::stoi((*it)[1]);
    return last;
}

const json kPagesToThumbnails = json::array({{{"plugin", "pdf2png"}, {"params", {{"dpi", 72}}}},
                                             {{"plugin", "thumbnail"}, {"params", {{"size", 64}}}}});

}  // namespace

TEST_CASE("a PDF's pages, each thumbnailed, in one job: outputs named after their pages, steps with their progress") {
    TempDir files;
    writeFile(files / "report.pdf", makePdf({PageSpec{.width = 200, .height = 100},
                                             PageSpec{.width = 300, .height = 400, .fill = {0, 1, 0}},
                                             PageSpec{.width = 100, .height = 150, .fill = {0, 0, 1}}}));
    Daemon d;
    Response r = submitSteps(d, (files / "report.pdf").string(), kPagesToThumbnails);
    CHECK(r.json()["steps"].size() == 2);
    CHECK(r.json()["steps"][0]["state"] == "queued");
    json job = succeededJob(d, r, 3);
    const int sides[3][2] = {{64, 32}, {48, 64}, {43, 64}};
    for (int i = 0; i < 3; ++i) {
        const json& o = job["outputs"][i];
        CHECK(o["name"] == "page-" + std::to_string(i + 1) + ".jpg");
        CHECK(o["media_type"] == "image/jpeg");
        ImageInfo image = decodeImage(downloadOutput(d, job, i).body);
        CHECK(image.width == sides[i][0]);
        CHECK(image.height == sides[i][1]);
    }
    const json& steps = job["steps"];
    REQUIRE(steps.size() == 2);
    CHECK(steps[0]["plugin"] == "pdf2png");
    CHECK(steps[0]["params"]["dpi"] == 72);
    CHECK(steps[1]["params"]["size"] == 64);
    for (const json& step : steps) CHECK(step["state"] == "succeeded");
    CHECK(steps[0]["progress"] == json{{"done", 1}, {"total", 1}});  // one PDF
    CHECK(steps[1]["progress"] == json{{"done", 3}, {"total", 3}});  // three pages
    CHECK(job["progress"] == json{{"done", 4}, {"total", 4}});

    // The same chain on the same bytes is the same job.
    Response again = submitSteps(d, (files / "report.pdf").string(), kPagesToThumbnails);
    CHECK(again.status == 200);
    CHECK(again.json()["id"] == job["id"]);
    // A single job of the chain's first plugin is not it.
    Response single = d.submit((files / "report.pdf").string(), "pdf2png", {{"dpi", "72"}});
    CHECK(single.json()["id"] != job["id"]);
    CHECK(single.json()["steps"].is_null());
}

TEST_CASE("a chain on one image: the source's name with the last step's extension, and of a stored original") {
    TempDir files;
    makeJpeg(files / "photo.jpg", 640, 480);
    Daemon d;
    json steps = json::array({{{"plugin", "thumbnail"}, {"params", {{"size", 200}, {"format", "png"}}}},
                              {{"plugin", "ascii"}, {"params", {{"width", 20}}}}});
    json job = succeededJob(d, submitSteps(d, (files / "photo.jpg").string(), steps), 1);
    CHECK(job["outputs"][0]["name"] == "photo.txt");
    CHECK(job["outputs"][0]["media_type"] == "text/plain");
    std::string art = downloadOutput(d, job).body;
    CHECK(art.substr(0, art.find('\n')).size() == 20);

    // Of the stored original, as JSON: the thumbnail step is found again, not run again.
    json resized = json::array({steps[0], {{"plugin", "ascii"}, {"params", {{"width", 30}}}}});
    Response fromOriginal = d.http().post(
        "/v1/jobs", json{{"steps", resized}, {"original_id", job["original"]["id"]}}.dump(), "application/json");
    INFO(fromOriginal.body);
    REQUIRE(fromOriginal.status == 202);
    json second = d.waitForJob(fromOriginal.json()["id"]);
    REQUIRE(second["state"] == "succeeded");
    std::string id = second["id"];
    CHECK(reusedAt(d, id, 0) == 1);
    CHECK(reusedAt(d, id, 1) == 0);
}

TEST_CASE("a chain that cannot work is refused naming the step, and nothing is stored") {
    TempDir files;
    makeJpeg(files / "photo.jpg", 320, 240);
    std::string photo = (files / "photo.jpg").string();
    Daemon d;
    auto step = [](const std::string& plugin, json params = json::object()) {
        return json{{"plugin", plugin}, {"params", std::move(params)}};
    };
    // ascii writes text, which thumbnail does not take; nor does pdf2png take an image.
    requireError(submitSteps(d, photo, json::array({step("ascii"), step("thumbnail")})), 400, "steps[1]");
    requireError(submitSteps(d, photo, json::array({step("thumbnail"), step("pdf2png")})), 400, "steps[1]");
    requireError(submitSteps(d, photo, json::array({step("info"), step("resize", {{"width", 10}})})), 400, "steps[1]");
    // jxl is not among what ascii takes: the format picks the type.
    requireError(submitSteps(d, photo, json::array({step("thumbnail", {{"format", "jxl"}}), step("ascii")})), 400,
                 "steps[1]");
    requireError(submitSteps(d, photo, json::array({step("thumbnail"), step("sharpen")})), 404, "steps[1].plugin");
    requireError(submitSteps(d, photo, json::array({step("thumbnail", {{"size", 0}}), step("ascii")})), 400,
                 "steps[0].params.size");
    requireError(submitSteps(d, photo, json::array()), 400, "steps");
    json many = json::array();
    for (int i = 0; i < 9; ++i) many.push_back(step("thumbnail", {{"size", 100 - i}}));
    requireError(submitSteps(d, photo, many), 400, "steps");
    requireError(d.http().postFile("/v1/jobs", "file", photo,
                                   {{"steps", json::array({step("thumbnail")}).dump(), "", ""},
                                    {"jobs", json::array({step("thumbnail")}).dump(), "", ""}}),
                 400, "steps");
    // The first step must take the source: 415, its message naming the step.
    Response type = submitSteps(d, photo, json::array({step("pdf2png"), step("thumbnail")}));
    CHECK(type.status == 415);
    CHECK(type.json()["error"]["message"].get<std::string>().rfind("steps[0]", 0) == 0);

    CHECK(d.http().get("/v1/jobs").json()["jobs"].empty());
    CHECK(d.http().get("/v1/originals").json()["originals"].empty());
}

TEST_CASE("kill -9 in the middle of a chain: after a restart it finishes once, its finished steps reused") {
    TempDir files;
    std::vector<PageSpec> pages;
    for (int i = 0; i < 12; ++i) pages.push_back(PageSpec{.textLines = 60});
    writeFile(files / "long.pdf", makePdf(pages));
    TempDir data;
    DaemonOptions options{.dataDir = data.path(), .workers = 1};
    auto d = std::make_unique<Daemon>(options);
    json steps = json::array({{{"plugin", "pdf2png"}, {"params", {{"dpi", 150}}}},
                              {{"plugin", "thumbnail"}, {"params", {{"size", 300}, {"crop", "attention"}}}}});
    Response r = submitSteps(*d, (files / "long.pdf").string(), steps);
    INFO(r.body);
    REQUIRE(r.status == 202);
    std::string id = r.json()["id"];
    // Killed once the pages are rendered and the thumbnails are under way.
    json running = d->waitForJob(id, {"running", "succeeded"});
    for (int i = 0; i < 600 && running["state"] == "running" && running["steps"][1]["state"] != "running"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        running = d->http().get("/v1/jobs/" + id).json();
    }
    CHECK(running["state"] == "running");
    d->kill9();
    d.reset();

    Daemon again(options);
    json job = again.waitForJob(id);
    INFO(job.dump());
    REQUIRE(job["state"] == "succeeded");
    REQUIRE(job["outputs"].size() == 12);
    for (int i = 0; i < 12; ++i) CHECK(job["outputs"][i]["name"] == "page-" + std::to_string(i + 1) + ".jpg");
    CHECK(reusedAt(again, id, 0) == 1);  // the pages were not rendered again
    CHECK(again.http().get("/v1/jobs").json()["jobs"].size() == 1);
}

TEST_CASE("cancel, the timeout and retry apply to the whole chain") {
    TempDir files;
    makeJpeg(files / "photo.jpg", 640, 480);
    std::string photo = (files / "photo.jpg").string();
    Daemon d(DaemonOptions{.args = {"--job-timeout", "2"}});
    auto chain = [](int ms) {
        return json::array({{{"plugin", "thumbnail"}, {"params", {{"size", 32}, {"format", "png"}}}},
                            {{"plugin", "slow"}, {"params", {{"ms", ms}}}}});
    };
    // Canceled in its second step: the first is done, the second canceled, nothing published.
    Response r = submitSteps(d, photo, chain(60000));
    INFO(r.body);
    REQUIRE(r.status == 202);
    std::string canceled = r.json()["id"];
    json running = d.waitForJob(canceled, {"running"});
    for (int i = 0; i < 250 && running["steps"][1]["state"] != "running"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        running = d.http().get("/v1/jobs/" + canceled).json();
    }
    REQUIRE(running["steps"][1]["state"] == "running");
    REQUIRE(d.http().post("/v1/jobs/" + canceled + "/cancel", "").status == 202);
    json job = d.waitForJob(canceled);
    CHECK(job["state"] == "canceled");
    CHECK(job["steps"][0]["state"] == "succeeded");
    CHECK(job["steps"][1]["state"] == "canceled");
    CHECK(job["outputs"].empty());

    // Past --job-timeout in its second step: failed with timeout, naming no output.
    std::string timedOut = submitSteps(d, photo, chain(30000)).json()["id"];
    job = d.waitForJob(timedOut);
    CHECK(job["state"] == "failed");
    CHECK(job["error"]["code"] == "timeout");
    CHECK(job["steps"][1]["state"] == "failed");

    // Retried, the whole chain runs again, its first step found again rather than run.
    CHECK(reusedAt(d, canceled, 0) == 0);
    REQUIRE(d.http().post("/v1/jobs/" + canceled + "/retry", "").status == 202);
    json again = d.waitForJob(canceled, {"running"});
    for (int i = 0; i < 250 && again["steps"][1]["state"] != "running"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        again = d.http().get("/v1/jobs/" + canceled).json();
    }
    CHECK(again["steps"][1]["state"] == "running");
    CHECK(reusedAt(d, canceled, 0) == 1);
    REQUIRE(d.http().post("/v1/jobs/" + canceled + "/cancel", "").status == 202);
    CHECK(d.waitForJob(canceled)["state"] == "canceled");
}
