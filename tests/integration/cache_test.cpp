// Outputs are a cache under --max-storage-bytes: least frequently used first
// out, made again on demand.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;

TEST_CASE("past the quota the least downloaded outputs are evicted, and a download brings them back") {
    // Each source is a JPEG of a few kB, each output a ~40 kB PNG of the same noise:
    // with six originals in it, the quota holds about two outputs.
    Daemon d(DaemonOptions{.args = {"--max-storage-bytes", "160000"}});
    TempDir files;
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) {
        makeJpeg(files / ("s" + std::to_string(i) + ".jpg"), 120, 120, 1, i);
        Response r = d.http().postFile("/v1/jobs?wait=20", "file", (files / ("s" + std::to_string(i) + ".jpg")).string(),
                                       {{"plugin", "thumbnail", "", ""}, {"size", "4096", "", ""},
                                        {"format", "png", "", ""}});
        INFO(r.body);
        REQUIRE(r.json()["state"] == "succeeded");
        ids.push_back(r.json()["id"]);
        if (i == 0) {
            // The first one is popular: downloaded often, so it stays.
            for (int k = 0; k < 5; ++k) d.http().get("/v1/jobs/" + ids[0] + "/outputs/0");
        }
    }
    std::this_thread::sleep_for(1500ms);  // the keeper runs when nudged
    auto usage = [&] {
        uint64_t total = 0;
        for (const auto& f : filesUnder(d.dataDir() / "blobs")) total += std::filesystem::file_size(f);
        return total;
    };
    CHECK(usage() <= 160000);

    // The popular one is still there; some unpopular one was evicted.
    CHECK(d.http().get("/v1/jobs/" + ids[0] + "/outputs/0").status == 200);
    std::string evicted;
    for (size_t i = 1; i < ids.size() && evicted.empty(); ++i) {
        Response r = d.http().get("/v1/jobs/" + ids[i] + "/outputs/0");
        if (r.status == 409) {
            evicted = ids[i];
            CHECK(r.json()["error"]["code"] == "not_ready");
            CHECK_FALSE(r.header("retry-after").empty());
        }
    }
    REQUIRE_FALSE(evicted.empty());
    // Asking for it put the job back in the queue: it comes back.
    auto job = d.waitForJob(evicted, {"succeeded"}, 30s);
    Response back;
    for (int i = 0; i < 50; ++i) {
        back = d.http().get("/v1/jobs/" + evicted + "/outputs/0");
        if (back.status == 200) break;
        std::this_thread::sleep_for(100ms);
    }
    CHECK(back.status == 200);
    CHECK(decodeImage(back.body).width == 120);
}

TEST_CASE("an upload larger than the whole quota is refused with 507 and nothing is kept") {
    Daemon d(DaemonOptions{.args = {"--max-storage-bytes", "10000"}});
    TempDir files;
    makeJpeg(files / "big.jpg", 800, 800);
    Response r = d.submit((files / "big.jpg").string(), "thumbnail");
    CHECK(r.status == 507);
    CHECK(r.json()["error"]["code"] == "insufficient_storage");
    CHECK(filesUnder(d.dataDir() / "blobs").empty());
    CHECK(filesUnder(d.dataDir() / "tmp").empty());
}
