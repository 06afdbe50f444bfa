#include "support/daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace pixelmill::test {

fs::path binaryPath() { return PIXELMILL_TEST_BINARY; }
fs::path pluginBuildDir() { return PIXELMILL_TEST_PLUGIN_DIR; }
fs::path fixturePluginDir() { return PIXELMILL_TEST_FIXTURE_DIR; }
fs::path badFixturePluginDir() { return PIXELMILL_TEST_BAD_FIXTURE_DIR; }
fs::path sourceDir() { return PIXELMILL_TEST_SOURCE_DIR; }
fs::path buildDir() { return PIXELMILL_TEST_BUILD_DIR; }
std::string cmakeCommand() { return PIXELMILL_TEST_CMAKE; }

bool haveCommand(const std::string& name) { return runCommand("command -v " + name + " >/dev/null") == 0; }

int freePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

int runCommand(const std::string& command, std::string* output) {
    std::string full = command + " 2>&1";
    FILE* pipe = ::popen(full.c_str(), "r");
    if (!pipe) return -1;
    char buf[4096];
    std::string out;
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
    int status = ::pclose(pipe);
    if (output) *output = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string makeToken(const std::filesystem::path& file, const std::string& name, const std::string& scopes) {
    std::string out;
    std::string cmd = "'" + binaryPath().string() + "' token " + name + " --scopes " + scopes + " --append '" +
                      file.string() + "'";
    int rc = runCommand(cmd, &out);
    std::smatch m;
    if (rc != 0 || !std::regex_search(out, m, std::regex("(^|\n)(pm_[0-9a-f]{64})\n")))
        throw std::runtime_error("pixelmill token printed no token (exit " + std::to_string(rc) + "): " + out);
    return m[2];
}

TempDir::TempDir(const std::string& prefix) {
    std::random_device rd;
    fs::path base = fs::temp_directory_path();
    for (int i = 0; i < 100; ++i) {
        fs::path p = base / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        if (fs::create_directory(p)) {
            path_ = p;
            return;
        }
    }
    throw std::runtime_error("cannot create a temp dir");
}

TempDir::~TempDir() {
    std::error_code ec;
    if (std::getenv("PIXELMILL_KEEP_TEST_DIRS") == nullptr) fs::remove_all(path_, ec);
}

std::string readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

void writeFile(const fs::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    out << content;
}

std::vector<fs::path> filesUnder(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return out;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec))
        if (e.is_regular_file()) out.push_back(e.path());
    return out;
}

fs::path makePluginDir(const fs::path& where, bool withFixtures) {
    fs::create_directories(where);
    auto link = [&](const fs::path& from) {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(from, ec))
            if (e.path().extension() == ".so") fs::create_symlink(e.path(), where / e.path().filename());
    };
    link(pluginBuildDir());
    if (withFixtures) link(fixturePluginDir());
    return where;
}

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {
    temp_ = std::make_unique<TempDir>("pixelmill-daemon");
    dataDir_ = options_.dataDir.empty() ? temp_->path() / "data" : options_.dataDir;
    pluginDir_ = options_.pluginDir.empty() ? makePluginDir(temp_->path() / "plugins") : options_.pluginDir;
    start();
}

Daemon::~Daemon() {
    if (pid_ > 0) kill9();
}

void Daemon::start() {
    logPath_ = temp_->path() / ("daemon-" + std::to_string(++starts_) + ".log");
    std::vector<std::string> args = {binaryPath().string(), "serve",
                                     "--listen",           "127.0.0.1:0",
                                     "--data-dir",         dataDir_.string(),
                                     "--plugin-dir",       pluginDir_.string(),
                                     "--workers",          std::to_string(options_.workers)};
    args.insert(args.end(), options_.args.begin(), options_.args.end());

    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int fd = ::open(logPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        for (const auto& [k, v] : options_.env) ::setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    pid_ = pid;
    static const std::regex listening(R"((?:event=listening .*port=|"event":"listening".*"port":)([0-9]+))");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        std::string text = readFile(logPath_);
        std::smatch m;
        if (std::regex_search(text, m, listening)) {
            port_ = std::stoi(m[1]);
            client_ = std::make_unique<HttpClient>(base());
            return;
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("pixelmill exited during start-up:\n" + text);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("pixelmill did not start listening:\n" + readFile(logPath_));
}

void Daemon::kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

int Daemon::terminate(std::chrono::seconds timeout) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill9();
    return -1;
}

bool Daemon::running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

std::string Daemon::log() const { return readFile(logPath_); }

nlohmann::json Daemon::waitForJob(const std::string& id, const std::set<std::string>& states,
                                  std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    nlohmann::json job;
    while (std::chrono::steady_clock::now() < deadline) {
        Response r = http().get("/v1/jobs/" + id);
        if (r.status != 200) throw std::runtime_error("GET job " + id + ": " + std::to_string(r.status) + " " + r.body);
        job = r.json();
        if (states.count(job["state"].get<std::string>())) return job;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("job " + id + " did not reach the expected state; last: " + job.dump());
}

Response Daemon::submit(const std::string& filePath, const std::string& plugin,
                        const std::map<std::string, std::string>& fields) {
    std::vector<FormPart> parts{{"plugin", plugin, "", ""}};
    for (const auto& [k, v] : fields) parts.push_back({k, v, "", ""});
    return http().postFile("/v1/jobs", "file", filePath, parts);
}

}  // namespace pixelmill::test
