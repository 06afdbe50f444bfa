#include "support/prometheus.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace pixelmill::test {

std::string urlEncode(const std::string& s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

Prometheus::Prometheus(const std::string& target, const fs::path& rules) : dir_("pixelmill-prometheus") {
    std::string ruleFiles;
    if (!rules.empty()) {
        fs::copy_file(rules, dir_ / rules.filename());
        ruleFiles = "rule_files:\n  - " + rules.filename().string() + "\n";
    }
    writeFile(dir_ / "prometheus.yml",
              "global:\n"
              "  scrape_interval: 1s\n"
              "  evaluation_interval: 1s\n" +
                  ruleFiles +
                  "scrape_configs:\n"
                  "  - job_name: pixelmill\n"
                  "    scrape_interval: 1s\n"
                  "    scrape_timeout: 1s\n"
                  "    static_configs:\n"
                  "      - targets: ['" + target + "']\n");
    port_ = freePort();
    fs::path log = dir_ / "prometheus.log";
    std::vector<std::string> args = {"prometheus", "--config.file=" + (dir_ / "prometheus.yml").string(),
                                     "--storage.tsdb.path=" + (dir_ / "data").string(),
                                     "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"};
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        if (::chdir(dir_.path().c_str()) != 0) ::_exit(126);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        ::_exit(127);
    }
    http_ = std::make_unique<HttpClient>("http://127.0.0.1:" + std::to_string(port_));
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            if (http_->get("/-/ready").status == 200) return;
        } catch (const std::exception&) {
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("prometheus exited during start-up:\n" + readFile(log));
        }
        std::this_thread::sleep_for(100ms);
    }
    throw std::runtime_error("prometheus did not become ready:\n" + readFile(log));
}

Prometheus::~Prometheus() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
        std::this_thread::sleep_for(50ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
}

nlohmann::json Prometheus::api(const std::string& pathAndQuery) {
    Response r = http_->get(pathAndQuery);
    INFO(pathAndQuery << " -> " << r.body);
    REQUIRE(r.status == 200);
    return r.json();
}

nlohmann::json Prometheus::query(const std::string& expr) {
    Response r = http_->get("/api/v1/query?query=" + urlEncode(expr));
    try {
        return r.json();
    } catch (const std::exception&) {
        return {{"status", "error"}, {"error", r.body}};
    }
}

std::optional<double> Prometheus::scalar(const std::string& expr) {
    auto j = query(expr);
    if (j["status"] != "success" || j["data"]["result"].empty()) return std::nullopt;
    return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
}

nlohmann::json Prometheus::waitForTargetsUp(std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    nlohmann::json targets;
    while (std::chrono::steady_clock::now() < deadline) {
        targets = api("/api/v1/targets")["data"]["activeTargets"];
        bool up = !targets.empty() &&
                  std::all_of(targets.begin(), targets.end(), [](const auto& t) { return t["health"] == "up"; });
        if (up) return targets;
        std::this_thread::sleep_for(200ms);
    }
    FAIL("targets not up: " << targets.dump());
    return targets;
}

std::string Prometheus::log() const { return readFile(dir_ / "prometheus.log"); }

}  // namespace pixelmill::test
