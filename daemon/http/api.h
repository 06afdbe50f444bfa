#pragma once

#include "common/task_pool.h"
#include "config/config.h"
#include "http/access.h"
#include "http/job_waiters.h"
#include "http/route_table.h"
#include "jobs/job_service.h"
#include "jobs/plugin_catalog.h"
#include "metrics/metrics.h"
#include "store/blob_store.h"
#include "store/job_store.h"

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
    JobStore& store;
    BlobStore& blobs;
    const PluginCatalog& plugins;
    const Config& config;
    std::function<std::pair<int, int>()> workers;  // busy, total
    std::atomic<bool>& ready;                       // store and plugins loaded, not draining
    JobWaiters& waiters;                            // ?wait= long-polls
    StorageKeeper& storage;                         // quota, deletes
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

// One function per route family; each adds its routes to the table.
void addJobRoutes(RouteTable& routes, Services& services);
void addSystemRoutes(RouteTable& routes, Services& services);
void addOriginalRoutes(RouteTable& routes, Services& services);
// GET /openapi.json and GET /docs (http/openapi/openapi.json, compiled in).
void addDocsRoutes(RouteTable& routes, Services& services);
void addCompatRoutes(RouteTable& routes, Services& services);
// The HTML dashboard under /dashboard (http/dashboard/, templates in web/dashboard/).
void addDashboardRoutes(RouteTable& routes, Services& services);

// Helpers shared by the route files.
double waitSeconds(const Pistache::Rest::Request& request);
void answerJob(Pistache::Http::ResponseWriter& response, int status, const Job& job, bool location = false);
// Answers now if the job has ended or wait is 0, else when it ends or time is
// up (holding no thread), with `answer` given the job as it is then.
using JobAnswer = std::function<void(Pistache::Http::ResponseWriter&, const Job&)>;
void answerWhenEnded(Services& s, Pistache::Http::ResponseWriter& response, const Job& job, double wait,
                     JobAnswer answer);
// The same, answering with the job resource.
void answerWhenEnded(Services& s, Pistache::Http::ResponseWriter& response, int status, const Job& job,
                     bool location, double wait);
// Runs `work` (which may block: downloads) on the outbound pool and sends
// what it returns, or its ApiError; the reactor thread is free meanwhile.
void answerLater(Services& s, Pistache::Http::ResponseWriter& response,
                 std::function<void(Pistache::Http::ResponseWriter&)> work);
// The same on the intake pool, for the checks of a new source (checkSource):
// they read the whole file and must never hold a reactor thread.
void answerChecked(Services& s, Pistache::Http::ResponseWriter& response,
                   std::function<void(Pistache::Http::ResponseWriter&)> work);
// Work these pools hold queued at most; beyond, 503 with Retry-After.
constexpr size_t kMaxQueuedDownloads = 32;
constexpr size_t kMaxQueuedChecks = 256;
// priority: an integer from -1000 to 1000 (400 naming the field otherwise).
int parsePriority(const std::string& text);
// Members of a JSON body: "" / 0 when absent, 400 naming the field when of the wrong type.
std::string stringMember(const nlohmann::json& doc, const char* key);
int priorityMember(const nlohmann::json& doc);
// ?limit= (1-1000, default 50) and ?cursor= (an opaque position this server gave out).
int parseLimit(const Pistache::Rest::Request& request);
std::optional<int64_t> parseCursor(const Pistache::Rest::Request& request);

}  // namespace pixelmill::http
