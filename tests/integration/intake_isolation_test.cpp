// Slow intake steps never hold a reactor thread: while other clients upload
// hostile SVGs (read whole), large PDFs (probed page by page in a worker) and
// source_url jobs whose origin answers slowly, a client asking about its own
// job is answered as fast as on an idle daemon, give or take 50 ms.
#include "support/pdf_writer.h"
#include "support/daemon.h"
#include "support/http_server.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

using namespace pixelmill::test;
using pixelmill::pdf2png::test::letterPages;
using pixelmill::pdf2png::test::makePdf;
using namespace std::chrono_literals;

namespace {

std::string hostileSvg(size_t bytes) {
    std::string s = "<svg";
    s.reserve(bytes + 8);
    while (s.size() < bytes) s += "#href=";
    return s;
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Latencies of a client polling its job, /healthz and /v1/status in turn.
std::vector<double> poll(HttpClient& client, const std::string& jobPath, int rounds) {
    std::vector<double> seconds;
    for (int i = 0; i < rounds; ++i) {
        for (const std::string& path : {jobPath, std::string("/healthz"), std::string("/v1/status")}) {
            Response r = client.get(path);
            REQUIRE(r.status == 200);
            seconds.push_back(r.seconds);
        }
        std::this_thread::sleep_for(5ms);
    }
    return seconds;
}

}  // namespace

TEST_CASE("a slow intake step does not delay another client's request by more than 50 ms") {
    Daemon d(DaemonOptions{.args = {"--allow-private-network"}});
    TempDir files;
    makePng(files / "mine.png", 64, 64);
    Response mine = d.submit((files / "mine.png").string(), "thumbnail", {{"size", "16"}});
    REQUIRE(mine.status == 202);
    const std::string jobPath = "/v1/jobs/" + mine.json()["id"].get<std::string>();
    d.waitForJob(mine.json()["id"]);

    HttpClient me(d.base());
    poll(me, jobPath, 10);  // connections and caches warm
    double idle = percentile(poll(me, jobPath, 40), 0.5);

    writeFile(files / "hostile.svg", hostileSvg(4 << 20));
    writeFile(files / "large.pdf", makePdf(letterPages(400)));
    HttpServer origin;
    origin.on("/slow.png", [](const RecordedRequest&) {
        std::this_thread::sleep_for(2s);
        return Reply{404, {}, "gone"};
    });
    const std::string slowUrl = R"({"plugin": "thumbnail", "source_url": ")" + origin.url("/slow.png") + R"("})";

    std::atomic<bool> stop{false};
    std::atomic<int> slowSteps{0};
    std::vector<std::thread> others;
    auto repeat = [&](auto step) {
        others.emplace_back([&, step] {
            HttpClient c(d.base());
            while (!stop) {
                step(c);
                ++slowSteps;
            }
        });
    };
    for (int i = 0; i < 2; ++i)
        repeat([&](HttpClient& c) { c.postFile("/v1/jobs?plugin=thumbnail", "file", (files / "hostile.svg").string()); });
    for (int i = 0; i < 2; ++i)
        repeat([&](HttpClient& c) {
            c.postFile("/v1/jobs?plugin=pdf2png&dpi=10&pages=1", "file", (files / "large.pdf").string());
        });
    repeat([&](HttpClient& c) { c.post("/v1/jobs", slowUrl, "application/json"); });

    std::this_thread::sleep_for(300ms);  // every slow step under way
    std::vector<double> loaded = poll(me, jobPath, 60);
    stop = true;
    for (auto& t : others) t.join();

    double p95 = percentile(loaded, 0.95);
    INFO("idle median " << idle * 1000 << " ms; under load p50 " << percentile(loaded, 0.5) * 1000 << " ms, p95 "
                        << p95 * 1000 << " ms, max " << percentile(loaded, 1.0) * 1000 << " ms; " << slowSteps
                        << " slow steps ended meanwhile");
    CHECK(slowSteps > 0);
    CHECK(p95 - idle < 0.050);
}
