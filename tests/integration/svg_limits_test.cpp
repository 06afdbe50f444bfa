// Hostile SVGs over HTTP: every SVG is read whole to refuse external
// references, so that read must be linear, bounded in size, and never hold
// an HTTP reactor thread (other requests, /healthz included, go on).
#include "support/daemon.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace pixelmill::test;
using Clock = std::chrono::steady_clock;

namespace {

// "<svg" and then `unit` until the file is `bytes` long: "#href=" made the
// old reference scan quadratic (280 KB took 11.5 s).
std::string hostileSvg(size_t bytes, const std::string& unit = "#href=") {
    std::string s = "<svg";
    s.reserve(bytes + unit.size());
    while (s.size() < bytes) s += unit;
    return s;
}

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

TEST_CASE("a 4 MB adversarial SVG is answered in under a second, on every upload route") {
    Daemon d;
    TempDir files;
    // Workers start on first use: let that happen before anything is timed.
    writeFile(files / "warm.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"/>");
    Response warm = d.submit((files / "warm.svg").string(), "thumbnail", {{"size", "4"}});
    REQUIRE(warm.status == 202);
    d.waitForJob(warm.json()["id"]);
    for (std::string unit : {"#href=", "#src=#", " href='#", "url(#"}) {
        INFO(unit);
        writeFile(files / "hostile.svg", hostileSvg(4 << 20, unit));
        auto start = Clock::now();
        Response r = d.submit((files / "hostile.svg").string(), "thumbnail", {{"size", "32"}});
        double took = since(start);
        INFO(r.body);
        CHECK(took < 1.0);
        CHECK((r.status == 202 || r.status == 422));

        start = Clock::now();
        Response o = d.http().postFile("/v1/originals", "file", (files / "hostile.svg").string());
        took = since(start);
        INFO(o.body);
        CHECK(took < 1.0);
        CHECK((o.status == 201 || o.status == 200 || o.status == 422));
    }
    // The compatibility upload routes go through the same check.
    writeFile(files / "hostile.svg", hostileSvg(4 << 20));
    auto start = Clock::now();
    Response a = d.http().postFile("/upload", "file", (files / "hostile.svg").string());
    CHECK(since(start) < 1.0);
    CHECK((a.status == 201 || a.status == 200 || a.status == 422));
}

TEST_CASE("an SVG over --max-svg-bytes gets 422 naming the limit, on /v1/jobs, /v1/originals and compat routes") {
    Daemon d;
    TempDir files;
    std::string big = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\">";
    while (big.size() < 9u << 20) big += "<!-- padding padding padding padding padding padding padding -->\n";
    big += "</svg>";
    writeFile(files / "big.svg", big);
    for (std::string route : {"/v1/jobs?plugin=thumbnail", "/v1/originals", "/upload"}) {
        INFO(route);
        Response r = d.http().postFile(route, "file", (files / "big.svg").string());
        INFO(r.body);
        REQUIRE(r.status == 422);
        CHECK(r.json()["error"]["code"] == "unprocessable");
        std::string message = r.json()["error"]["message"];
        CHECK_THAT(message, Catch::Contains("8388608"));
        CHECK_THAT(message, Catch::Contains("--max-svg-bytes"));
    }

    // The limit is the operator's: a lower one refuses a small file too, and a safe one under it renders.
    DaemonOptions options;
    options.args = {"--max-svg-bytes", "1KiB"};
    Daemon small(options);
    std::string ok = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"8\" height=\"8\"><rect width=\"8\" height=\"8\"/></svg>";
    writeFile(files / "ok.svg", ok);
    Response fine = small.submit((files / "ok.svg").string(), "thumbnail", {{"size", "8"}});
    INFO(fine.body);
    CHECK(fine.status == 202);
    writeFile(files / "2k.svg", ok + std::string(2048, ' '));
    Response refused = small.submit((files / "2k.svg").string(), "thumbnail", {{"size", "8"}});
    CHECK(refused.status == 422);
    CHECK_THAT(refused.body, Catch::Contains("1024"));
}

TEST_CASE("/healthz answers at once while hostile SVGs are being checked, even with one reactor thread") {
    DaemonOptions options;
    options.args = {"--http-threads", "1"};
    Daemon d(options);
    TempDir files;
    writeFile(files / "hostile.svg", hostileSvg(4 << 20));
    std::atomic<bool> done{false};
    std::thread uploads([&] {
        HttpClient client(d.base());
        for (int i = 0; i < 3; ++i) client.postFile("/v1/jobs?plugin=thumbnail", "file", (files / "hostile.svg").string());
        done = true;
    });
    HttpClient probe(d.base());
    double worst = 0;
    int answered = 0;
    while (!done) {
        Response h = probe.get("/healthz");
        CHECK(h.status == 200);
        worst = std::max(worst, h.seconds);
        ++answered;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    uploads.join();
    INFO(answered << " /healthz answers, the slowest in " << worst << " s");
    CHECK(worst < 0.5);
}
