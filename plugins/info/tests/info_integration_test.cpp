// info through the real daemon on loopback and through `pixelmill run`: what
// a client sees when it asks what a file is.
#include "support/daemon.h"
#include "support/images.h"
#include "support/jobs.h"
#include "support/pdf_writer.h"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdlib>

using namespace pixelmill::test;
using pixelmill::pdf2png::test::makePdf;
using pixelmill::pdf2png::test::PageSpec;
using nlohmann::json;

namespace {

// Submits `file` to info, waits, and returns the job and its info.json.
std::pair<json, json> infoJob(Daemon& d, const std::filesystem::path& file) {
    json job = succeededJob(d, d.submit(file.string(), "info"), 1);
    CHECK(job["outputs"][0]["name"] == "info.json");
    CHECK(job["outputs"][0]["media_type"] == "application/json");
    Response out = downloadOutput(d, job);
    CHECK_THAT(out.header("content-type"), Catch::StartsWith("application/json"));
    return {job, json::parse(out.body)};
}

int shell(const std::string& command) {
    int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("info over HTTP: a rotated JPEG and a titled PDF are described, and the plugin is listed") {
    initVips();
    Daemon d;
    TempDir files;
    makeJpeg(files / "photo.jpg", 300, 200, 6);
    writeFile(files / "doc.pdf", makePdf({{612, 792}, {842, 595}}, "/Title (Annual report)"));

    auto [job, info] = infoJob(d, files / "photo.jpg");
    CHECK(job["plugin"] == "info");
    CHECK(info["media_type"] == "image/jpeg");
    CHECK(info["width"] == 300);
    CHECK(info["height"] == 200);
    CHECK(info["orientation"] == 6);
    CHECK(info["display_width"] == 200);
    CHECK(info["display_height"] == 300);
    CHECK(info["pages"].is_null());
    // The daemon's own record of the original agrees on the displayed size.
    CHECK(job["original"]["width"] == 200);
    CHECK(job["original"]["height"] == 300);

    auto [pdfJob, pdfInfo] = infoJob(d, files / "doc.pdf");
    CHECK(pdfInfo["media_type"] == "application/pdf");
    CHECK(pdfInfo["pages"] == 2);
    CHECK(pdfInfo["page_sizes"] == json::parse("[[612,792],[842,595]]"));
    CHECK(pdfInfo["pdf"]["title"] == "Annual report");
    CHECK(pdfInfo["width"].is_null());
    CHECK(pdfJob["original"]["pages"] == 2);

    Response plugins = d.http().get("/v1/plugins");
    REQUIRE(plugins.status == 200);
    json listed = plugins.json();
    json accepts;
    for (const json& p : listed["plugins"])
        if (p["name"] == "info") accepts = p["accepts"];
    CHECK(accepts.size() >= 2);  // images, and at the end PDF
    CHECK(accepts.back() == "application/pdf");
}

TEST_CASE("info over HTTP: a broken file is refused as unprocessable, and the daemon stays up") {
    Daemon d;
    TempDir files;
    std::string pdf = makePdf({PageSpec{}, PageSpec{}});
    writeFile(files / "cut.pdf", pixelmill::pdf2png::test::truncated(pdf));
    Response r = d.submit((files / "cut.pdf").string(), "info");
    INFO(r.body);
    if (r.status == 202) {
        json job = d.waitForJob(r.json()["id"]);
        CHECK(job["state"] == "failed");
        CHECK(job["error"]["code"] == "unprocessable");
    } else {
        CHECK(r.status == 422);
    }
    CHECK(d.http().get("/healthz").status == 200);
}

TEST_CASE("pixelmill run info writes info.json to the output folder") {
    initVips();
    TempDir files;
    makePng(files / "in.png", 50, 40, true);
    std::string bin = binaryPath().string();
    int rc = shell(bin + " run info " + (files / "in.png").string() + " -o " + (files / "out").string() + " > " +
                   (files / "stdout").string() + " 2> " + (files / "stderr").string());
    INFO("stderr: " << readFile(files / "stderr"));
    REQUIRE(rc == 0);
    REQUIRE(std::filesystem::exists(files / "out" / "info.json"));
    json info = json::parse(readFile(files / "out" / "info.json"));
    CHECK(info["format"] == "png");
    CHECK(info["width"] == 50);
    CHECK(info["height"] == 40);
    CHECK(info["bands"] == 4);
    CHECK_THAT(readFile(files / "stdout"), Catch::Contains("info.json"));

    writeFile(files / "bad.pdf", "%PDF-1.4\nnot really a PDF\n");
    rc = shell(bin + " run info " + (files / "bad.pdf").string() + " -o " + (files / "out2").string() + " 2> " +
               (files / "err").string());
    CHECK(rc == 1);
    CHECK_THAT(readFile(files / "err"), Catch::Contains("the PDF cannot be read"));
}
