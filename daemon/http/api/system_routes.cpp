#include "common/clock.h"
#include "http/api/job_json.h"
#include "http/server/respond.h"
#include "http/services.h"

#include <pistache/router.h>

namespace pixelmill::http {

using namespace Pistache;
using json = nlohmann::ordered_json;

namespace {

// With a shared store: this daemon and every daemon seen in the last hour.
json nodesJson(Services& s, const std::vector<NodeStatus>& seen) {
    int64_t now = nowMs();
    auto timeoutMs = static_cast<int64_t>(s.config.nodeTimeoutSeconds * 1000);
    json nodes = json::array();
    for (const NodeStatus& n : seen)
        nodes.push_back({{"id", n.id},
                         {"address", n.address},
                         {"version", n.version},
                         {"started_at", formatTime(n.startedAt)},
                         {"heartbeat_at", formatTime(n.heartbeatAt)},
                         {"alive", now - n.heartbeatAt <= timeoutMs},
                         {"workers", {{"busy", n.busy}, {"total", n.workers}}}});
    return {{"node", s.cluster.nodeId()}, {"nodes", std::move(nodes)}};
}

}  // namespace

void addSystemRoutes(RouteTable& routes, Services& s) {
    auto pluginList = [&s] {
        json plugins = json::array();
        for (const auto& p : s.plugins.list()) plugins.push_back(pluginJson(*p));
        json refused = json::array();
        for (const auto& r : s.plugins.refused()) refused.push_back({{"file", r.file}, {"reason", r.reason}});
        return json{{"plugins", std::move(plugins)}, {"refused", std::move(refused)}};
    };
    routes.get("/v1/plugins", [pluginList](const Rest::Request&, Http::ResponseWriter& rs) {
        sendJson(rs, 200, pluginList());
    });
    // The same rescan as the folder watcher and SIGHUP, answered when it is done.
    routes.post("/v1/plugins/reload", [&s, pluginList](const Rest::Request&, Http::ResponseWriter& rs) {
        int added = s.reloadPlugins ? s.reloadPlugins() : 0;
        json body = pluginList();
        body["added"] = added;
        sendJson(rs, 200, body);
    }, RouteRule::admin());

    routes.get("/v1/status", [&s](const Rest::Request&, Http::ResponseWriter& rs) {
        // Daemons seen in the last hour (a shared store's; none for SQLite).
        ClusterMembership::StatusSnapshot snapshot = s.cluster.statusSnapshot(nowMs() - 3'600'000);
        const StoreCounts& counts = snapshot.counts;
        json jobs = json::object();
        for (const auto& [state, n] : counts.jobs) jobs[std::string(toString(state))] = n;
        auto [busy, total] = s.workers();
        json body = {{"version", s.version},
                     {"uptime_seconds", monotonicSeconds() - s.startedAtMonotonic},
                     {"uploaded_count", counts.originals},
                     {"errors", counts.jobs.at(JobState::Failed)},
                     {"jobs", std::move(jobs)},
                     {"workers", {{"busy", busy}, {"total", total}}},
                     {"accepting", s.jobs.accepting()}};
        if (s.cluster.shared()) body.update(nodesJson(s, snapshot.nodes));
        sendJson(rs, 200, body);
    });

    routes.get("/metrics", [&s](const Rest::Request&, Http::ResponseWriter& rs) {
        sendText(rs, 200, s.metrics.scrape(), "text/plain; version=0.0.4; charset=utf-8");
    }, s.config.publicMetrics ? RouteRule::open() : RouteRule::read());

    routes.get("/healthz", [](const Rest::Request&, Http::ResponseWriter& rs) {
        sendText(rs, 200, "ok\n", "text/plain; charset=utf-8");
    }, RouteRule::open());

    routes.get("/readyz", [&s](const Rest::Request&, Http::ResponseWriter& rs) {
        if (s.ready.load()) sendJson(rs, 200, {{"status", "ready"}});
        else if (!s.jobs.accepting())
            sendError(rs, ApiError::unavailable("shutting_down", "pixelmill is draining", 5));
        else sendError(rs, ApiError::unavailable("not_ready", "pixelmill is starting", 1));
    }, RouteRule::open());

    routes.get("/", [](const Rest::Request&, Http::ResponseWriter& rs) {
        addHeader(rs, "Location", "/dashboard");
        sendText(rs, 302, "see /dashboard\n", "text/plain; charset=utf-8");
    }, RouteRule::open());
}

}  // namespace pixelmill::http
