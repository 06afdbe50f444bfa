// pdf2png through the real daemon on loopback and through `pixelmill run`:
// what a client sees.
#include "support/pdf_writer.h"
#include "support/png_check.h"
#include "support/daemon.h"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <thread>

using namespace pixelmill::test;
using namespace pixelmill::pdf2png::test;
using nlohmann::json;

namespace {

std::string fixturePath(const std::string& name) {
    return (sourceDir() / "plugins" / "pdf2png" / "tests" / "fixtures" / name).string();
}

std::string write(const TempDir& dir, const std::string& name, const std::string& bytes) {
    writeFile(dir / name, bytes);
    return (dir / name).string();
}

std::vector<std::string> outputNames(const json& job) {
    std::vector<std::string> names;
    for (const json& o : job["outputs"]) names.push_back(o["name"]);
    return names;
}

// Runs a shell command line; returns its exit status.
int shell(const std::string& command) {
    int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("a mixed PDF renders to one PNG per page, and the original's page count is known at submit") {
    Daemon d;
    TempDir files;
    std::string pdf = write(files, "mixed.pdf", makePdf(mixedPages()));

    Response r = d.submit(pdf, "pdf2png", {{"dpi", "72"}});
    REQUIRE(r.status == 202);
    json job = r.json();
    CHECK(job["plugin"] == "pdf2png");
    CHECK(job["plugin_version"] == "1.0.0");
    CHECK(job["params"] == json{{"dpi", 72}, {"pages", "all"}, {"max_pages", 1000}});
    CHECK(job["original"]["media_type"] == "application/pdf");
    CHECK(job["original"]["pages"] == 4);
    CHECK(job["original"]["width"].is_null());
    CHECK(job["original"]["height"].is_null());

    job = d.waitForJob(job["id"]);
    REQUIRE(job["state"] == "succeeded");
    CHECK(job["progress"] == json{{"done", 4}, {"total", 4}});
    REQUIRE(job["outputs"].size() == 4);
    const int sizes[4][2] = {{612, 792}, {842, 595}, {300, 200}, {300, 400}};
    for (int i = 0; i < 4; ++i) {
        INFO("output " << i);
        const json& o = job["outputs"][static_cast<size_t>(i)];
        CHECK(o["index"] == i);
        CHECK(o["name"] == "page-" + std::to_string(i + 1) + ".png");
        CHECK(o["media_type"] == "image/png");
        CHECK(o["width"] == sizes[i][0]);
        CHECK(o["height"] == sizes[i][1]);
        Response png = d.http().get(o["url"].get<std::string>());
        REQUIRE(png.status == 200);
        CHECK(png.header("content-type") == "image/png");
        CHECK(o["size_bytes"] == png.body.size());
        DecodedPng decoded = decodePng(png.body);
        CHECK(decoded.width == sizes[i][0]);
        CHECK(decoded.height == sizes[i][1]);
        CHECK(decoded.bands == 3);
        CHECK(looksLikePage(decoded, mixedPages()[static_cast<size_t>(i)]));
    }
}

TEST_CASE("144 dpi doubles the size of every page") {
    Daemon d;
    TempDir files;
    std::string pdf = write(files, "mixed.pdf", makePdf(mixedPages()));
    json job = d.waitForJob(d.submit(pdf, "pdf2png", {{"dpi", "144"}, {"pages", "1-2"}}).json()["id"]);
    REQUIRE(job["state"] == "succeeded");
    REQUIRE(job["outputs"].size() == 2);
    CHECK(std::abs(job["outputs"][0]["width"].get<int>() - 1224) <= 1);
    CHECK(std::abs(job["outputs"][0]["height"].get<int>() - 1584) <= 1);
    CHECK(std::abs(job["outputs"][1]["width"].get<int>() - 1684) <= 1);
    CHECK(std::abs(job["outputs"][1]["height"].get<int>() - 1190) <= 1);
    DecodedPng second = decodePng(d.http().get(job["outputs"][1]["url"].get<std::string>()).body);
    CHECK(second.width == job["outputs"][1]["width"]);
    CHECK(looksLikePage(second, mixedPages()[1]));
}

TEST_CASE("pages selects a subset, named by document page and ordered as in the document") {
    Daemon d;
    TempDir files;
    std::string pdf = write(files, "mixed.pdf", makePdf(mixedPages()));
    struct Case {
        const char* pages;
        std::vector<std::string> names;
    };
    std::vector<std::string> ids;
    const std::vector<Case> cases = {{"2", {"page-2.png"}},
                                     {"1-2", {"page-1.png", "page-2.png"}},
                                     {"3,1", {"page-1.png", "page-3.png"}},
                                     {"4-", {"page-4.png"}}};
    for (const Case& c : cases) {
        Response r = d.submit(pdf, "pdf2png", {{"pages", c.pages}});
        REQUIRE(r.status == 202);
        CHECK(r.json()["params"]["pages"] == c.pages);
        ids.push_back(r.json()["id"]);
    }
    for (size_t i = 0; i < cases.size(); ++i) {
        INFO("pages=" << cases[i].pages);
        json job = d.waitForJob(ids[i]);
        REQUIRE(job["state"] == "succeeded");
        CHECK(outputNames(job) == cases[i].names);
        CHECK(job["progress"]["total"] == cases[i].names.size());
    }
}

TEST_CASE("pages beyond the document fail the job with invalid_param, malformed pages fail the submit") {
    Daemon d;
    TempDir files;
    std::string pdf = write(files, "mixed.pdf", makePdf(mixedPages()));

    json job = d.waitForJob(d.submit(pdf, "pdf2png", {{"pages", "2,9"}}).json()["id"]);
    CHECK(job["state"] == "failed");
    CHECK(job["error"]["code"] == "invalid_param");
    CHECK(job["error"]["message"] == "page 9 is beyond the document's 4 pages");
    CHECK(job["outputs"].empty());

    for (const char* bad : {"1,,2", "one", "1-2-3"}) {
        INFO("pages=" << bad);
        Response r = d.submit(pdf, "pdf2png", {{"pages", bad}});
        CHECK(r.status == 400);
        CHECK(r.json()["error"]["code"] == "invalid_param");
        CHECK(r.json()["error"]["field"] == "pages");
    }
    Response dpi = d.submit(pdf, "pdf2png", {{"dpi", "601"}});
    CHECK(dpi.status == 400);
    CHECK(dpi.json()["error"]["field"] == "dpi");
}

TEST_CASE("more pages than the server's --max-pages fail the job as unprocessable") {
    Daemon d(DaemonOptions{.args = {"--max-pages", "3"}});
    TempDir files;
    std::string pdf = write(files, "mixed.pdf", makePdf(mixedPages()));
    json job = d.waitForJob(d.submit(pdf, "pdf2png").json()["id"]);
    CHECK(job["state"] == "failed");
    CHECK(job["error"]["code"] == "unprocessable");
    CHECK_THAT(job["error"]["message"].get<std::string>(), Catch::Contains("selects 4 pages; the limit is 3"));
    json fits = d.waitForJob(d.submit(pdf, "pdf2png", {{"pages", "2-4"}}).json()["id"]);
    CHECK(fits["state"] == "succeeded");
}

TEST_CASE("encrypted, truncated and non-PDF sources are refused at submit") {
    Daemon d;
    TempDir files;
    // An encrypted PDF: the probe cannot open it.
    Response r = d.submit(fixturePath("encrypted.pdf"), "pdf2png");
    CHECK(r.status == 422);
    CHECK(r.json()["error"]["code"] == "unprocessable");
    CHECK_THAT(r.json()["error"]["message"].get<std::string>(), Catch::Contains("the PDF is encrypted"));

    r = d.submit(write(files, "cut.pdf", truncated(makePdf(mixedPages()))), "pdf2png");
    CHECK(r.status == 422);
    CHECK(r.json()["error"]["code"] == "unprocessable");
    CHECK_THAT(r.json()["error"]["message"].get<std::string>(), Catch::Contains("damaged or truncated"));

    // Sniffed from the bytes, whatever the name says.
    r = d.submit(write(files, "notes.pdf", "these are not the pages you are looking for\n"), "pdf2png");
    CHECK(r.status == 415);
    CHECK(r.json()["error"]["code"] == "unsupported_media_type");
    CHECK_THAT(r.json()["error"]["message"].get<std::string>(), Catch::Contains("application/pdf"));

    CHECK(d.http().get("/v1/jobs?plugin=pdf2png").json()["jobs"].empty());
}

TEST_CASE("a long render shows progress and finished pages while it runs, and stops when canceled") {
    Daemon d;
    TempDir files;
    const int pageCount = 40;
    std::string pdf = write(files, "long.pdf", makePdf(letterPages(pageCount)));
    Response r = d.submit(pdf, "pdf2png", {{"dpi", "300"}});
    REQUIRE(r.status == 202);
    std::string id = r.json()["id"];

    // Poll until the job is running with some pages done and some still to do.
    json partial;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
        json job = d.http().get("/v1/jobs/" + id).json();
        if (job["state"] != "queued" && job["state"] != "running") FAIL("the job ended first: " << job.dump());
        // A page's output is stored before its progress report: wait for both.
        if (job["state"] == "running" && !job["outputs"].empty() && job["outputs"].size() < pageCount &&
            job["progress"]["done"].get<int>() >= 1) {
            partial = job;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    REQUIRE_FALSE(partial.is_null());
    CHECK(partial["progress"]["total"] == pageCount);
    const json& first = partial["outputs"][0];
    CHECK(first["name"].get<std::string>().rfind("page-", 0) == 0);
    CHECK(first["width"] == 2550);
    CHECK(first["height"] == 3300);
    // A finished page downloads while the rest still render.
    Response page = d.http().get(first["url"].get<std::string>());
    REQUIRE(page.status == 200);
    DecodedPng png = decodePng(page.body);
    CHECK(png.width == 2550);
    CHECK(png.height == 3300);

    // A running job stops at its next page boundary.
    auto canceledAt = std::chrono::steady_clock::now();
    CHECK(d.http().post("/v1/jobs/" + id + "/cancel", "").status == 202);
    json ended = d.waitForJob(id);
    CHECK(ended["state"] == "canceled");
    CHECK(std::chrono::steady_clock::now() - canceledAt < std::chrono::seconds(10));
    CHECK(ended["progress"]["done"].get<int>() < pageCount);
}

TEST_CASE("pixelmill run pdf2png writes page-N.png files to the output folder") {
    TempDir files;
    std::string pdf = write(files, "in.pdf", makePdf(mixedPages()));
    std::string bin = binaryPath().string();
    std::string out = (files / "out").string();
    int rc = shell(bin + " run pdf2png " + pdf + " -p dpi=72 -p pages=1,3-4 -o " + out + " > " +
                   (files / "stdout").string() + " 2> " + (files / "stderr").string());
    INFO("stderr: " << readFile(files / "stderr"));
    REQUIRE(rc == 0);
    for (int page : {1, 3, 4}) {
        std::string name = "page-" + std::to_string(page) + ".png";
        INFO(name);
        REQUIRE(std::filesystem::exists(files / "out" / name));
        DecodedPng png = decodePng(readFile(files / "out" / name));
        CHECK(looksLikePage(png, mixedPages()[static_cast<size_t>(page - 1)]));
        CHECK_THAT(readFile(files / "stdout"), Catch::Contains(name));
    }
    CHECK_FALSE(std::filesystem::exists(files / "out" / "page-2.png"));

    // Failures exit 1 with the reason on stderr.
    rc = shell(bin + " run pdf2png " + pdf + " -p pages=9 -o " + out + " 2> " + (files / "err9").string());
    CHECK(rc == 1);
    CHECK_THAT(readFile(files / "err9"), Catch::Contains("page 9 is beyond the document's 4 pages"));
    rc = shell(bin + " run pdf2png " + fixturePath("encrypted.pdf") + " -o " + out + " 2> " + (files / "errenc").string());
    CHECK(rc == 1);
    CHECK_THAT(readFile(files / "errenc"), Catch::Contains("encrypted"));
}
