// source_url downloads wait in a bounded queue: past it a submit is answered
// 503 with Retry-After at once instead of piling up without limit.
#include "support/daemon.h"
#include "support/http_server.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;

TEST_CASE("source_url submits past the download queue's bound get 503 with Retry-After") {
    Daemon d(DaemonOptions{.args = {"--allow-private-network"}});
    HttpServer origin;
    std::atomic<bool> release{false};
    origin.on("/slow.png", [&](const RecordedRequest&) {
        for (int i = 0; i < 600 && !release; ++i) std::this_thread::sleep_for(50ms);
        return Reply{404, {}, "gone"};
    });
    const std::string body = R"({"plugin": "thumbnail", "source_url": ")" + origin.url("/slow.png") + R"("})";

    // 4 downloads run, 32 wait: everything the daemon holds.
    const int held = 4 + 32;
    std::vector<std::thread> clients;
    std::atomic<int> answered{0};
    for (int i = 0; i < held; ++i)
        clients.emplace_back([&] {
            HttpClient c(d.base());
            c.post("/v1/jobs", body, "application/json");
            ++answered;
        });
    REQUIRE(origin.waitForRequests(4));
    std::this_thread::sleep_for(1500ms);  // every other client's request reaches the queue

    Response over = d.http().post("/v1/jobs", body, "application/json");
    INFO(over.body);
    CHECK(over.status == 503);
    CHECK(over.json()["error"]["code"] == "busy");
    CHECK_FALSE(over.header("retry-after").empty());
    CHECK(over.seconds < 1.0);
    CHECK(d.http().get("/healthz").status == 200);

    release = true;
    for (auto& t : clients) t.join();
    CHECK(answered == held);
    // Once the queue drains, source_url submits are taken again.
    Response again = d.http().post("/v1/jobs", body, "application/json");
    CHECK(again.status != 503);
}
