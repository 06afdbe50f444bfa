#pragma once

#include "http/server/front.h"
#include "http/services.h"

#include <pistache/endpoint.h>
#include <pistache/router.h>

#include <memory>
#include <string>

namespace pixelmill::http {

// Owns the Pistache endpoint and router: init() binds and builds the route
// table, start() serves on background threads, shutdown() stops them.
class Server {
public:
    Server(Services& services, FrontLimits limits, GuardLimits guard = {});
    ~Server();

    // Binds host:port (port 0 picks a free one). Throws on failure.
    void init(const std::string& host, uint16_t port, int threads);
    void start();
    void shutdown();
    uint16_t port() const;
    // Open connections and refusals, for the metrics.
    const ConnectionGuard& guard() const { return *guard_; }

private:
    Services& services_;
    FrontLimits limits_;
    std::shared_ptr<ConnectionGuard> guard_;
    std::shared_ptr<Pistache::Rest::Router> router_;
    std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
    bool started_ = false;
};

}  // namespace pixelmill::http
