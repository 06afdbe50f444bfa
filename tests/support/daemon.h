#pragma once

#include "support/http_client.h"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace pixelmill::test {

// Paths of the build under test (compiled in by tests/CMakeLists.txt).
std::filesystem::path binaryPath();
std::filesystem::path pluginBuildDir();        // build/plugins
std::filesystem::path fixturePluginDir();      // good fixture plugins
std::filesystem::path badFixturePluginDir();   // fixtures that must be refused
std::filesystem::path sourceDir();             // the repository
std::filesystem::path buildDir();              // the build tree under test
std::string cmakeCommand();

// Runs a shell command; returns its exit status and fills `output` with
// stdout and stderr together.
int runCommand(const std::string& command, std::string* output = nullptr);
// Whether `name` is a command on PATH.
bool haveCommand(const std::string& name);
// A loopback TCP port that was free a moment ago.
int freePort();

// Runs `pixelmill token NAME --scopes S --append FILE`; returns the token it
// printed (throws if it printed none).
std::string makeToken(const std::filesystem::path& file, const std::string& name, const std::string& scopes);

// A temporary folder removed with everything in it when destroyed.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "pixelmill-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// A plugin folder holding links to the real plugins and the good fixtures.
std::filesystem::path makePluginDir(const std::filesystem::path& where, bool withFixtures = true);

struct DaemonOptions {
    std::vector<std::string> args;             // extra `serve` flags
    std::map<std::string, std::string> env;    // extra environment
    std::filesystem::path dataDir;             // default: a temp folder of the Daemon
    std::filesystem::path pluginDir;           // default: real plugins + good fixtures
    int workers = 2;
};

// The real `pixelmill serve` binary on a free loopback port, with its log in
// a file. Destroying it kills the process (SIGKILL) if it still runs.
class Daemon {
public:
    explicit Daemon(DaemonOptions options = {});
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    void start();
    void kill9();
    // SIGTERM, then waits; returns the exit status (or -1 on timeout / signal).
    int terminate(std::chrono::seconds timeout = std::chrono::seconds(60));
    bool running();

    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
    HttpClient& http() { return *client_; }
    const std::filesystem::path& dataDir() const { return dataDir_; }
    const std::filesystem::path& pluginDir() const { return pluginDir_; }
    std::string log() const;

    // Polls GET /v1/jobs/{id} until its state is in `states`; returns the job.
    nlohmann::json waitForJob(const std::string& id, const std::set<std::string>& states = {"succeeded", "failed", "canceled"},
                              std::chrono::milliseconds timeout = std::chrono::seconds(60));
    // Submits `file` (a path) with multipart fields; returns the response.
    Response submit(const std::string& filePath, const std::string& plugin,
                    const std::map<std::string, std::string>& fields = {});

private:
    DaemonOptions options_;
    std::unique_ptr<TempDir> temp_;
    std::filesystem::path dataDir_;
    std::filesystem::path pluginDir_;
    std::filesystem::path logPath_;
    pid_t pid_ = -1;
    int port_ = 0;
    int starts_ = 0;
    std::unique_ptr<HttpClient> client_;
};

std::string readFile(const std::filesystem::path& path);
void writeFile(const std::filesystem::path& path, const std::string& content);
// Every regular file below `dir`.
std::vector<std::filesystem::path> filesUnder(const std::filesystem::path& dir);
// A string's bytes, as the blob store takes them.
inline std::span<const unsigned char> bytesOf(const std::string& s) {
    return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

}  // namespace pixelmill::test
