#pragma once

#include "common/task_pool.h"
#include "config/config.h"
#include "http/api/job_waiters.h"
#include "http/server/access.h"
#include "http/server/route_table.h"
#include "jobs/job_service.h"
#include "jobs/plugin_catalog.h"
#include "jobs/share_links.h"
#include "metrics/metrics.h"
#include "store/blob_store.h"
#include "store/cluster.h"
#include "store/dashboard_reads.h"
#include "store/job_reads.h"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <pistache/router.h>
#include <string>

namespace pixelmill::http {

// What the HTTP layer may call. Everything here outlives the server.
struct Services {
    JobService& jobs;
    // What the routes read of the store besides jobs and originals, which
    // they reach through `jobs`; routes only read through these.
    JobReads& reads;             // counts and the queue's age, for /v1/status and /metrics
    ClusterMembership& cluster;  // the daemons sharing the store
    DashboardReads& dashboard;   // the dashboard's read model
    BlobStore& blobs;
    const PluginCatalog& plugins;
    const Config& config;
    const ShareLinks& links;  // signs and checks share links (/s/…)
    std::function<std::pair<int, int>()> workers;  // busy, total
    std::atomic<bool>& ready;                       // store and plugins loaded, not draining
    JobWaiters& waiters;                            // ?wait= long-polls
    StorageKeeper& storage;                         // quota, deletes
    Presets& presets;                               // GET/PUT/DELETE /v1/presets
    Metrics& metrics;                               // /metrics, and every request's duration
    TaskPool& outbound;                             // slow outbound work (source_url downloads)
    // Downloads a source_url into an upload (address policy applied); null: unsupported.
    std::function<Upload(const std::string& url)> fetchSource;
    std::string version;
    double startedAtMonotonic = 0;
    std::shared_ptr<AccessControl> access = nullptr;  // tokens, sessions, rate limit; null: all open
    // Checks of new sources (sniff, SVG references, probe), which read whole
    // files and so never run on a reactor thread; null: they run inline.
    TaskPool* intake = nullptr;
    std::function<int()> reloadPlugins = nullptr;  // rescans the plugin folder; returns how many loaded

    // True when requests need a token: what is served is then private to its reader.
    bool behindTokens() const { return access && access->authEnabled(); }
};

// Work these pools hold queued at most; beyond, 503 with Retry-After.
constexpr size_t kMaxQueuedDownloads = 32;
constexpr size_t kMaxQueuedChecks = 256;

// One function per route family; each adds its routes to the table.
void addJobRoutes(RouteTable& routes, Services& services);
void addSystemRoutes(RouteTable& routes, Services& services);
void addOriginalRoutes(RouteTable& routes, Services& services);
void addPresetRoutes(RouteTable& routes, Services& services);
// POST /v1/jobs/{id}/outputs/{index}/link and GET /s/{token}: share links.
void addShareRoutes(RouteTable& routes, Services& services);
// GET /openapi.json and GET /docs (http/docs/openapi/openapi.json, compiled in).
void addDocsRoutes(RouteTable& routes, Services& services);
void addCompatRoutes(RouteTable& routes, Services& services);
// The HTML dashboard under /dashboard (http/dashboard/, templates in web/dashboard/).
void addDashboardRoutes(RouteTable& routes, Services& services);

}  // namespace pixelmill::http
