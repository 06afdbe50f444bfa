#include "http/server/server.h"

#include "http/server/route_table.h"

#include <arpa/inet.h>

#include <stdexcept>

namespace pixelmill::http {

using namespace Pistache;

Server::Server(Services& services, FrontLimits limits, GuardLimits guard)
    : services_(services), limits_(limits), guard_(std::make_shared<ConnectionGuard>(guard)) {}

Server::~Server() { shutdown(); }

void Server::init(const std::string& host, uint16_t port, int threads) {
    router_ = std::make_shared<Rest::Router>();
    RouteTable routes(*router_, &services_.metrics, {services_.intake, kMaxQueuedChecks});
    addJobRoutes(routes, services_);
    addOriginalRoutes(routes, services_);
    addPresetRoutes(routes, services_);
    addShareRoutes(routes, services_);
    addCompatRoutes(routes, services_);
    addSystemRoutes(routes, services_);
    addDocsRoutes(routes, services_);
    addDashboardRoutes(routes, services_);
    routes.finish();

    Address address(host == "localhost" ? "127.0.0.1" : host, Port(port));
    endpoint_ = std::make_unique<Http::Endpoint>(address);
    auto options = Http::Endpoint::options()
                       .threads(threads)
                       .threadsName("pm-http")
                       .flags(Tcp::Options::ReuseAddr | Tcp::Options::NoDelay)
                       .backlog(1024)
                       .maxRequestSize(limits_.maxHeaderBytes + 1024)
                       .maxResponseSize(64 << 20);
    endpoint_->init(options);
    endpoint_->setHandler(std::make_shared<StreamingHandler>(router_, &services_.blobs, limits_, &services_.metrics,
                                                                     guard_, services_.access, routes.rules(),
                                                                     services_.intake));
}

void Server::start() {
    endpoint_->serveThreaded();
    started_ = true;
}

void Server::shutdown() {
    if (endpoint_ && started_) {
        endpoint_->shutdown();
        started_ = false;
    }
}

uint16_t Server::port() const { return static_cast<uint16_t>(endpoint_->getPort()); }

}  // namespace pixelmill::http
