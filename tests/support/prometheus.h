#pragma once

// A real Prometheus (Debian's package) on loopback with its own storage in a
// temp folder, scraping one target every second as job "pixelmill".
#include "support/daemon.h"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace pixelmill::test {

std::string urlEncode(const std::string& s);

class Prometheus {
public:
    // `rules`, when given, is copied in and loaded as the rule file.
    explicit Prometheus(const std::string& target, const std::filesystem::path& rules = {});
    ~Prometheus();
    Prometheus(const Prometheus&) = delete;
    Prometheus& operator=(const Prometheus&) = delete;

    // GET on its HTTP API; the answer must be 200.
    nlohmann::json api(const std::string& pathAndQuery);
    // An instant query; an expression Prometheus refuses gives {"status": "error", …}.
    nlohmann::json query(const std::string& expr);
    // The value of a query that yields one sample, or nullopt while it yields none.
    std::optional<double> scalar(const std::string& expr);
    // Waits for every target to be up (scraped without error); returns them.
    nlohmann::json waitForTargetsUp(std::chrono::seconds timeout);
    std::string log() const;

private:
    TempDir dir_;
    int port_ = 0;
    pid_t pid_ = -1;
    std::unique_ptr<HttpClient> http_;
};

}  // namespace pixelmill::test
