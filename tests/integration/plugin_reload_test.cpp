// Plugins without a restart: the example plugin, built against the installed
// SDK in two versions, dropped into a running daemon's plugin folder.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <thread>

using namespace pixelmill::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// grayscale.so in versions 1.0.0 and 2.0.0, built once per test process.
struct Builds {
    TempDir tmp{"pixelmill-reload"};
    fs::path v1, v2;
};

void build(Builds& out) {
        fs::path prefix = out.tmp / "prefix";
        std::string log;
        REQUIRE(runCommand(cmakeCommand() + " --install '" + buildDir().string() + "' --prefix '" + prefix.string() + "'",
                           &log) == 0);
        for (std::string version : {"1.0.0", "2.0.0"}) {
            fs::path build = out.tmp / ("build-" + version);
            INFO(log);
            REQUIRE(runCommand(cmakeCommand() + " -S '" + (sourceDir() / "examples/plugins/grayscale").string() +
                                   "' -B '" + build.string() + "' -DCMAKE_PREFIX_PATH='" + prefix.string() +
                                   "' -DCMAKE_BUILD_TYPE=Release -DGRAYSCALE_VERSION=" + version,
                               &log) == 0);
            REQUIRE(runCommand(cmakeCommand() + " --build '" + build.string() + "'", &log) == 0);
        }
        out.v1 = out.tmp / "build-1.0.0/grayscale.so";
        out.v2 = out.tmp / "build-2.0.0/grayscale.so";
}

const Builds& builds() {
    static Builds b;
    if (b.v1.empty()) build(b);
    return b;
}

// Copies into place the way an operator should: a temp name, then a rename.
void dropIn(const fs::path& from, const fs::path& to) {
    fs::path tmp = to.parent_path() / ("." + to.filename().string() + ".part");
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, to);
}

nlohmann::json pluginsOf(Daemon& d) { return d.http().get("/v1/plugins").json(); }

std::optional<nlohmann::json> listed(Daemon& d, const std::string& name, const std::string& version) {
    auto all = pluginsOf(d);
    for (const auto& p : all["plugins"])
        if (p["name"] == name && p["version"] == version) return p;
    return std::nullopt;
}

std::optional<std::string> refusal(Daemon& d, const fs::path& file) {
    auto all = pluginsOf(d);
    for (const auto& r : all["refused"])
        if (r["file"] == file.string()) return r["reason"].get<std::string>();
    return std::nullopt;
}

// Seconds until `name` `version` is listed, or a failure after `limit`.
double waitListed(Daemon& d, const std::string& name, const std::string& version, double limit = 5) {
    auto start = Clock::now();
    for (;;) {
        double s = std::chrono::duration<double>(Clock::now() - start).count();
        if (listed(d, name, version)) return s;
        if (s > limit) FAIL(name << " " << version << " not listed after " << limit << " s\n" << pluginsOf(d).dump(2));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

nlohmann::json runGray(Daemon& d, const fs::path& image, const std::string& delay = "0") {
    Response r = d.submit(image.string(), "grayscale", {{"delay_ms", delay}});
    INFO(r.body);
    REQUIRE(r.status == 202);
    return r.json();
}

}  // namespace

TEST_CASE("a plugin dropped into the folder is served within 2 s, and a new version takes new jobs only") {
    const Builds& b = builds();
    TempDir tmp;
    fs::path folder = makePluginDir(tmp / "plugins", false);
    makeJpeg(tmp / "colour.jpg", 300, 200);
    DaemonOptions options;
    options.pluginDir = folder;
    options.workers = 1;
    Daemon d(options);
    REQUIRE_FALSE(listed(d, "grayscale", "1.0.0"));

    dropIn(b.v1, folder / "grayscale.so");
    double took = waitListed(d, "grayscale", "1.0.0");
    INFO("v1 listed after " << took << " s");
    CHECK(took < 2.0);
    auto first = d.waitForJob(runGray(d, tmp / "colour.jpg")["id"]);
    CHECK(first["state"] == "succeeded");
    CHECK(first["plugin_version"] == "1.0.0");
    CHECK(d.http().get("/dashboard/plugins").body.find("grayscale") != std::string::npos);

    // One slow v1 job running, one v1 job queued behind it (one worker), then v2 arrives.
    auto running = runGray(d, tmp / "colour.jpg", "2500");
    makeJpeg(tmp / "other.jpg", 300, 200, 1, 7);
    Response queued = d.submit((tmp / "other.jpg").string(), "grayscale");
    REQUIRE(queued.status == 202);
    CHECK(queued.json()["plugin_version"] == "1.0.0");
    d.waitForJob(running["id"], {"running"});

    // v2 copied in slowly, in chunks, under its final name: never tried half-written.
    {
        std::string bytes = readFile(b.v2);
        std::ofstream out(folder / "grayscale-2.so", std::ios::binary);
        for (size_t at = 0; at < bytes.size(); at += bytes.size() / 8 + 1) {
            out.write(bytes.data() + at, static_cast<std::streamsize>(std::min(bytes.size() - at, bytes.size() / 8 + 1)));
            out.flush();
            std::this_thread::sleep_for(std::chrono::milliseconds(150));
            CHECK_FALSE(refusal(d, folder / "grayscale-2.so"));
            CHECK_FALSE(listed(d, "grayscale", "2.0.0"));
        }
    }
    took = waitListed(d, "grayscale", "2.0.0");
    INFO("v2 listed after " << took << " s");
    CHECK(took < 2.0);
    CHECK_FALSE(refusal(d, folder / "grayscale-2.so"));

    auto fresh = runGray(d, tmp / "colour.jpg");
    CHECK(fresh["plugin_version"] == "2.0.0");
    auto ran = d.waitForJob(running["id"]);
    CHECK(ran["state"] == "succeeded");
    CHECK(ran["plugin_version"] == "1.0.0");
    auto waited = d.waitForJob(queued.json()["id"]);
    CHECK(waited["state"] == "succeeded");
    CHECK(waited["plugin_version"] == "1.0.0");
    auto newer = d.waitForJob(fresh["id"]);
    CHECK(newer["state"] == "succeeded");
    CHECK(newer["plugin_version"] == "2.0.0");
    // Dedup keys include the version: v2 recomputes what v1 made.
    CHECK(newer["id"] != first["id"]);

    // The same bytes renamed over the v1 file load nothing new and refuse nothing.
    dropIn(b.v2, folder / "grayscale.so");
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    CHECK_FALSE(refusal(d, folder / "grayscale.so"));

    SECTION("broken files dropped in are refused with the reason; the rest keeps working") {
        fs::copy_file(badFixturePluginDir() / "fixture_bad_abi.so", folder / "bad-abi.so");
        std::string bytes = readFile(b.v1);
        writeFile(folder / "truncated.so", bytes.substr(0, bytes.size() / 3));
        auto deadline = Clock::now() + std::chrono::seconds(5);
        while ((!refusal(d, folder / "bad-abi.so") || !refusal(d, folder / "truncated.so")) && Clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        auto abi = refusal(d, folder / "bad-abi.so");
        REQUIRE(abi);
        CHECK(abi->find("ABI version") != std::string::npos);
        auto cut = refusal(d, folder / "truncated.so");
        REQUIRE(cut);
        // A truncated ELF may fail in dlopen or crash whoever maps it: that is a child, never the daemon.
        INFO(*cut);
        CHECK((cut->find("cannot be loaded") != std::string::npos || cut->find("crashed while loading") != std::string::npos));
        CHECK(d.http().get("/dashboard/plugins").body.find("truncated.so") != std::string::npos);
        CHECK(d.http().get("/healthz").status == 200);
        CHECK(d.log().find("plugin_refused") != std::string::npos);
        CHECK(d.waitForJob(runGray(d, tmp / "colour.jpg", "1")["id"])["state"] == "succeeded");
    }

    SECTION("a removed file unloads nothing: the plugin serves on, marked file_removed") {
        fs::remove(folder / "grayscale-2.so");
        std::this_thread::sleep_for(std::chrono::milliseconds(800));
        auto v2 = listed(d, "grayscale", "2.0.0");
        REQUIRE(v2);
        CHECK((*v2)["file_removed"] == true);
        auto job = d.waitForJob(runGray(d, tmp / "colour.jpg", "2")["id"]);
        CHECK(job["state"] == "succeeded");
        CHECK(job["plugin_version"] == "2.0.0");
    }
}

TEST_CASE("without the watcher, POST /v1/plugins/reload and SIGHUP load what was dropped in") {
    const Builds& b = builds();
    TempDir tmp;
    fs::path folder = makePluginDir(tmp / "plugins", false);
    DaemonOptions options;
    options.pluginDir = folder;
    options.args = {"--watch-plugins", "false"};
    Daemon d(options);

    dropIn(b.v1, folder / "grayscale.so");
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    CHECK_FALSE(listed(d, "grayscale", "1.0.0"));
    Response reload = d.http().post("/v1/plugins/reload", "");
    REQUIRE(reload.status == 200);
    CHECK(reload.json()["added"] == 1);
    CHECK(listed(d, "grayscale", "1.0.0"));
    CHECK(d.http().post("/v1/plugins/reload", "").json()["added"] == 0);

    dropIn(b.v2, folder / "grayscale-2.so");
    REQUIRE(::kill(d.pid(), SIGHUP) == 0);
    CHECK(waitListed(d, "grayscale", "2.0.0") < 2.0);
    CHECK(d.http().get("/healthz").status == 200);
}
