// Libraries the daemon refuses are loaded by no one: their staged copies go
// at once and worker processes load only the list of accepted libraries, so
// a truncated, wrong-ABI, crashing or not-a-library .so dropped into a running
// daemon's plugin folder never stops thumbnails. Worker processes, which run
// plugin code, get none of the daemon's secrets from the environment.
// `pixelmill plugins` prints what was loaded and what was refused, and why.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

using namespace pixelmill::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Every process the daemon started (its children), from /proc.
std::set<pid_t> childrenOf(pid_t pid) {
    std::set<pid_t> out;
    std::error_code ec;
    for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::ifstream in(task.path() / "children");
        for (pid_t child; in >> child;) out.insert(child);
    }
    return out;
}

bool isWorker(pid_t pid) {
    std::string cmdline = readFile("/proc/" + std::to_string(pid) + "/cmdline");
    return cmdline.find(std::string("worker\0", 7)) != std::string::npos;
}

std::set<pid_t> workersOf(Daemon& d) {
    std::set<pid_t> out;
    for (pid_t p : childrenOf(d.pid()))
        if (isWorker(p)) out.insert(p);
    return out;
}

// The .so files staged in the data dir, i.e. what a worker could be told to load.
std::set<std::string> staged(Daemon& d) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(d.dataDir() / "plugins-loaded"))
        if (e.path().extension() == ".so") out.insert(e.path().filename().string());
    return out;
}

void thumbnailWorks(Daemon& d, const fs::path& image) {
    Response r = d.submit(image.string(), "thumbnail", {{"size", "16"}});
    INFO(r.body);
    REQUIRE((r.status == 202 || r.status == 200));
    nlohmann::json job = d.waitForJob(r.json()["id"]);
    INFO(job.dump());
    CHECK(job["state"] == "succeeded");
}

// Kills the daemon's workers so that the next ones start afresh (and load
// the plugin libraries again). An idle worker killed here fails the one
// request that next picks it up ("killed by SIGKILL"); any other failure,
// or no success within a few requests, is a broken worker start.
void restartWorkers(Daemon& d, const fs::path& image) {
    for (pid_t w : workersOf(d)) ::kill(w, SIGKILL);
    for (int i = 0; i < 6; ++i) {
        Response r = d.submit(image.string(), "thumbnail", {{"size", "16"}});
        INFO(r.body);
        if (r.status == 202 || r.status == 200) return;
        REQUIRE(r.body.find("killed by SIGKILL") != std::string::npos);
    }
    FAIL("no worker could start");
}

// A command's exit status and what it printed on stdout (stderr is the log).
struct CommandResult {
    int status = -1;
    std::string out;
};

CommandResult stdoutOf(const std::string& command) {
    CommandResult result;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe);
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
    int status = ::pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

}  // namespace

TEST_CASE("refused plugin libraries are never loaded by workers, thumbnails keep working throughout") {
    TempDir tmp;
    fs::path folder = makePluginDir(tmp / "plugins", false);
    DaemonOptions options;
    options.pluginDir = folder;
    options.args = {"--watch-plugins", "false"};
    Daemon d(options);
    makeJpeg(tmp / "a.jpg", 64, 48);
    thumbnailWorks(d, tmp / "a.jpg");
    const std::set<std::string> before = staged(d);

    std::string good = readFile(fixturePluginDir() / "fixture_noop.so");
    struct Drop {
        const char* name;
        std::function<void(const fs::path&)> write;
    };
    std::vector<Drop> drops = {
        {"wrong-abi.so", [](const fs::path& to) { fs::copy_file(badFixturePluginDir() / "fixture_bad_abi.so", to); }},
        // Cut inside its first page, as a copy still being written is: the segments are missing.
        {"truncated.so", [&](const fs::path& to) { writeFile(to, good.substr(0, 2000)); }},
        {"ctor-crash.so", [](const fs::path& to) { fs::copy_file(badFixturePluginDir() / "fixture_ctor_crash.so", to); }},
        {"not-a-library.so", [](const fs::path& to) { writeFile(to, "#!/bin/sh\necho not a library\n"); }},
    };
    for (const Drop& drop : drops) {
        INFO(drop.name);
        drop.write(folder / drop.name);
        Response reload = d.http().post("/v1/plugins/reload", "");
        REQUIRE(reload.status == 200);
        CHECK(reload.json()["added"] == 0);
        bool refused = false;
        const nlohmann::json answer = reload.json();
        for (const auto& r : answer["refused"])
            refused = refused || fs::path(r["file"].get<std::string>()).filename() == drop.name;
        INFO(reload.body);
        CHECK(refused);
        // Its staged copy is gone: the staging folder holds what it held before.
        CHECK(staged(d) == before);

        // Workers started from now on (the running ones are killed) load only accepted libraries.
        restartWorkers(d, tmp / "a.jpg");
        thumbnailWorks(d, tmp / "a.jpg");
        REQUIRE(d.running());
    }
    // Accepted libraries still arrive as before.
    fs::copy_file(fixturePluginDir() / "fixture_noop.so", folder / "noop.so");
    CHECK(d.http().post("/v1/plugins/reload", "").json()["added"] == 1);
    CHECK(staged(d).size() == before.size() + 1);
    restartWorkers(d, tmp / "a.jpg");
    writeFile(tmp / "n.txt", "noop input");
    Response r = d.submit((tmp / "n.txt").string(), "noop");
    INFO(r.body);
    REQUIRE(r.status == 202);
    CHECK(d.waitForJob(r.json()["id"])["state"] == "succeeded");
    thumbnailWorks(d, tmp / "a.jpg");
}

TEST_CASE("the plugin watcher refuses a constructor-crashing library without breaking workers") {
    TempDir tmp;
    fs::path folder = makePluginDir(tmp / "plugins", false);
    DaemonOptions options;
    options.pluginDir = folder;
    Daemon d(options);
    makeJpeg(tmp / "a.jpg", 64, 48);
    const std::set<std::string> before = staged(d);
    fs::copy_file(badFixturePluginDir() / "fixture_ctor_crash.so", tmp / "crash.so");
    fs::rename(tmp / "crash.so", folder / "crash.so");
    bool refused = false;
    for (int i = 0; i < 100 && !refused; ++i) {
        std::this_thread::sleep_for(100ms);
        const nlohmann::json plugins = d.http().get("/v1/plugins").json();
        for (const auto& r : plugins["refused"])
            refused = refused || fs::path(r["file"].get<std::string>()).filename() == "crash.so";
    }
    REQUIRE(refused);
    CHECK(staged(d) == before);
    restartWorkers(d, tmp / "a.jpg");
    for (int i = 0; i < 3; ++i) thumbnailWorks(d, tmp / "a.jpg");
}

TEST_CASE("worker processes do not inherit the daemon's secrets") {
    DaemonOptions options;
    options.env = {{"PIXELMILL_WEBHOOK_SECRET", "webhook-secret-value"},
                   {"OBJECT_STORE_TOKEN", "token-value"},
                   {"DATABASE_PASSWORD", "password-value"},
                   {"VIPS_CONCURRENCY", "1"}};
    Daemon d(options);
    TempDir tmp;
    makeJpeg(tmp / "a.jpg", 64, 48);
    thumbnailWorks(d, tmp / "a.jpg");
    std::set<pid_t> workers = workersOf(d);
    REQUIRE_FALSE(workers.empty());
    for (pid_t w : workers) {
        std::string environ = readFile("/proc/" + std::to_string(w) + "/environ");
        INFO("worker " << w);
        CHECK(environ.find("PIXELMILL_WEBHOOK_SECRET") == std::string::npos);
        CHECK(environ.find("webhook-secret-value") == std::string::npos);
        CHECK(environ.find("token-value") == std::string::npos);
        CHECK(environ.find("password-value") == std::string::npos);
        CHECK(environ.find(std::string("PATH=")) != std::string::npos);
        CHECK(environ.find("VIPS_CONCURRENCY=1") != std::string::npos);
    }
    // The daemon itself still has what it was given.
    CHECK(readFile("/proc/" + std::to_string(d.pid()) + "/environ").find("webhook-secret-value") != std::string::npos);
}

TEST_CASE("`pixelmill plugins` lists the loaded plugins and why files were refused") {
    TempDir dir("pixelmill-plugins");
    for (const char* name : {"fixture_flaky.so", "fixture_noop.so", "fixture_slow.so"})
        fs::create_symlink(fixturePluginDir() / name, dir / name);
    for (const char* name : {"fixture_bad_abi.so", "fixture_no_symbol.so", "fixture_bad_schema.so"})
        fs::create_symlink(badFixturePluginDir() / name, dir / name);
    std::string base = quoted(binaryPath()) + " plugins --plugin-dir " + quoted(dir.path());

    SECTION("text") {
        CommandResult r = stdoutOf(base + " 2>/dev/null");
        CHECK(r.status == 0);
        INFO(r.out);
        CHECK_THAT(r.out, Catch::Contains("slow 1.0.0"));
        CHECK_THAT(r.out, Catch::Contains("flaky 1.0.0"));
        CHECK_THAT(r.out, Catch::Contains("noop 1.0.0"));
        CHECK_THAT(r.out, Catch::Contains("ms (integer"));  // parameters are shown
        CHECK_THAT(r.out, Catch::Contains("refused"));
        for (const char* file : {"fixture_bad_abi.so", "fixture_no_symbol.so", "fixture_bad_schema.so"}) {
            CAPTURE(file);
            CHECK_THAT(r.out, Catch::Contains((dir.path() / file).string()));
        }
        CHECK_THAT(r.out, Catch::Contains("ABI version 999"));
        CHECK_THAT(r.out, Catch::Contains("pixelmill_plugin_v1"));
        // Each refused file is on one line with its reason.
        bool abiLine = false;
        size_t at = 0;
        while (at < r.out.size()) {
            size_t eol = r.out.find('\n', at);
            std::string line = r.out.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
            if (line.find("fixture_bad_abi.so") != std::string::npos && line.find("999") != std::string::npos)
                abiLine = true;
            if (eol == std::string::npos) break;
            at = eol + 1;
        }
        CHECK(abiLine);
    }
    SECTION("json") {
        CommandResult r = stdoutOf(base + " --json 2>/dev/null");
        CHECK(r.status == 0);
        INFO(r.out);
        nlohmann::json doc = nlohmann::json::parse(r.out);
        std::vector<std::string> loaded;
        for (const auto& p : doc["plugins"]) loaded.push_back(p["name"].get<std::string>());
        CHECK(loaded == std::vector<std::string>{"flaky", "noop", "slow"});
        REQUIRE(doc["refused"].size() == 3);
        for (const auto& r2 : doc["refused"]) {
            std::string file = fs::path(r2["file"].get<std::string>()).filename().string();
            std::string reason = r2["reason"].get<std::string>();
            CAPTURE(file, reason);
            if (file == "fixture_bad_abi.so") CHECK_THAT(reason, Catch::Contains("999"));
            else if (file == "fixture_no_symbol.so") CHECK_THAT(reason, Catch::Contains("pixelmill_plugin_v1"));
            else CHECK(file == "fixture_bad_schema.so");
        }
    }
}
