#pragma once

#include "config/config.h"
#include "http/job_waiters.h"
#include "http/route_table.h"
#include "jobs/job_service.h"
#include "jobs/plugin_catalog.h"
#include "store/blob_store.h"
#include "store/job_store.h"

#include <atomic>
#include <functional>
#include <string>

namespace pixelmill::http {

// What the HTTP layer may call. Everything here outlives the server.
struct Services {
    JobService& jobs;
    JobStore& store;
    BlobStore& blobs;
    const PluginCatalog& plugins;
    const Config& config;
    std::function<std::pair<int, int>()> workers;  // busy, total
    std::atomic<bool>& ready;                       // store and plugins loaded, not draining
    JobWaiters& waiters;                            // ?wait= long-polls
    std::string version;
    double startedAtMonotonic = 0;
};

// One function per route family; each adds its routes to the table.
void addJobRoutes(RouteTable& routes, Services& services);
void addSystemRoutes(RouteTable& routes, Services& services);

}  // namespace pixelmill::http
