// GET /dashboard: the state of the whole daemon on one screen.
#include "common/clock.h"
#include "http/dashboard/charts.h"
#include "http/dashboard/pages.h"

#include <algorithm>

namespace pixelmill::http::dashboard {

using namespace Pistache;

namespace {

constexpr int kLatestFailures = 8;
constexpr int kRecentJobs = 8;

Data stateCounts(const StateCounts& counts) {
    uint64_t total = 0;
    Data states = list();
    for (const auto& [state, n] : counts) {
        total += n;
        Data d;
        d.set("state", std::string(toString(state)));
        d.set("count", num(n));
        d.set("href", "/dashboard/jobs?state=" + std::string(toString(state)));
        states.push_back(d);
    }
    Data out;
    out.set("states", states);
    out.set("total", num(total));
    return out;
}

// Failed jobs now in the store (by plugin and code), beside the failed
// attempts counted since the daemon started (retried ones included).
Data errorTable(Services& s) {
    struct Row {
        uint64_t jobs = 0;
        double attempts = 0;
    };
    std::map<std::pair<std::string, std::string>, Row> rows;
    for (const auto& e : s.dashboard.failuresByCode()) rows[{e.plugin, e.code}].jobs = e.jobs;
    for (const auto& [key, value] : s.metrics.counters("pixelmill_job_errors_total", {"plugin", "code"})) {
        auto slash = key.find('/');
        rows[{key.substr(0, slash), slash == std::string::npos ? "" : key.substr(slash + 1)}].attempts = value;
    }
    std::vector<std::pair<std::pair<std::string, std::string>, Row>> sorted(rows.begin(), rows.end());
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
        return a.second.jobs + static_cast<uint64_t>(a.second.attempts) >
               b.second.jobs + static_cast<uint64_t>(b.second.attempts);
    });
    Data list = dashboard::list();
    for (const auto& [key, row] : sorted) {
        Data d;
        d.set("plugin", key.first);
        d.set("code", key.second.empty() ? std::string("(none)") : key.second);
        d.set("jobs", num(row.jobs));
        d.set("attempts", num(static_cast<uint64_t>(row.attempts)));
        d.set("href", "/dashboard/jobs" + queryString({{"state", "failed"}, {"plugin", key.first}}));
        list.push_back(d);
    }
    Data out;
    out.set("rows", list);
    out.set("empty", rows.empty());
    return out;
}

Data histograms(Services& s) {
    Data charts = list();
    auto snapshots = s.metrics.histograms("pixelmill_job_duration_seconds", "plugin");
    bool any = false;
    for (const auto& [plugin, h] : snapshots) {
        if (h.count == 0) continue;
        Data chart = histogramChart(plugin, h);
        chart.set("href", "/dashboard/jobs" + queryString({{"plugin", plugin}}));
        charts.push_back(chart);
        any = true;
    }
    Data out;
    out.set("charts", charts);
    out.set("empty", !any);
    return out;
}

Data queue(Services& s, const StateCounts& counts, int64_t now) {
    Data d;
    auto queued = counts.count(JobState::Queued) ? counts.at(JobState::Queued) : 0;
    d.set("queued", num(queued));
    auto since = s.reads.oldestReadySince(now);
    d.set("has_oldest", since.has_value());
    if (since) d.set("oldest", durationText(static_cast<double>(now - *since) / 1000.0));
    HistogramSnapshot all;
    for (const auto& [plugin, h] : s.metrics.histograms("pixelmill_job_queue_wait_seconds", "plugin")) {
        if (all.bounds.empty()) all = h;
        else {
            all.count += h.count;
            all.sum += h.sum;
            for (size_t i = 0; i < all.cumulative.size() && i < h.cumulative.size(); ++i)
                all.cumulative[i] += h.cumulative[i];
        }
    }
    d.set("has_wait", all.count > 0);
    if (all.count > 0) {
        d.set("wait_p50", secondsLabel(all.quantile(0.5)));
        d.set("wait_p95", secondsLabel(all.quantile(0.95)));
        d.set("wait_count", num(all.count));
    }
    return d;
}

// The daemons sharing the store (PostgreSQL), seen in the last hour.
Data nodes(Services& s, int64_t now) {
    Data rows = list();
    auto timeoutMs = static_cast<int64_t>(s.config.nodeTimeoutSeconds * 1000);
    for (const NodeStatus& n : s.cluster.nodes(now - 3'600'000)) {
        Data row;
        row.set("id", n.id);
        row.set("self", n.id == s.cluster.nodeId());
        row.set("address", n.address);
        row.set("version", n.version);
        row.set("alive", now - n.heartbeatAt <= timeoutMs);
        row.set("heartbeat_ago", agoText(n.heartbeatAt, now));
        row.set("heartbeat_at", timeText(n.heartbeatAt));
        row.set("started_ago", agoText(n.startedAt, now));
        row.set("busy", num(static_cast<int64_t>(n.busy)));
        row.set("workers", num(static_cast<int64_t>(n.workers)));
        rows.push_back(row);
    }
    return rows;
}

void overview(Services& s, const Rest::Request& rq, Http::ResponseWriter& rs) {
    int64_t now = nowMs();
    Page page(s, rq, rs, "overview", "Overview", "overview");
    page.offerLive();
    Data& d = page.data();
    StoreCounts totals = s.reads.counts();
    const StateCounts& counts = totals.jobs;
    d.set("counts", stateCounts(counts));

    auto finished = s.dashboard.finishedSince(now / 60000 * 60000 - 60 * 60000LL);
    d.set("throughput", throughputChart(finished, now));
    d.set("percentiles", percentileChart(finished, now));
    d.set("histograms", histograms(s));
    d.set("errors", errorTable(s));

    DashboardReads::DashboardJobQuery recentQuery;
    recentQuery.limit = kRecentJobs;
    Data recent = list();
    for (const Job& j : s.dashboard.dashboardJobs(recentQuery).jobs) recent.push_back(jobRow(j, now));
    d.set("recent", recent);

    Data failures = list();
    auto latest = s.dashboard.latestFailures(kLatestFailures);
    for (const Job& j : latest) failures.push_back(jobRow(j, now));
    d.set("failures", failures);
    d.set("no_failures", latest.empty());

    auto [busy, total] = s.workers();
    d.set("workers_busy", num(static_cast<int64_t>(busy)));
    d.set("workers_total", num(static_cast<int64_t>(total)));
    d.set("queue", queue(s, counts, now));
    d.set("shared", s.cluster.shared());
    if (s.cluster.shared()) d.set("nodes", nodes(s, now));

    uint64_t used = s.storage.usedBytes();
    uint64_t quota = s.storage.quotaBytes();
    d.set("storage_used", bytesText(used));
    d.set("storage_used_bytes", num(used));
    d.set("has_quota", quota > 0);
    d.set("storage_quota", bytesText(quota));
    d.set("storage_quota_bytes", num(quota));
    d.set("storage_percent", quota ? fixed(100.0 * static_cast<double>(used) / static_cast<double>(quota), 0) : "0");
    d.set("originals", num(totals.originals));
    d.set("uptime", durationText(monotonicSeconds() - s.startedAtMonotonic));
    d.set("accepting", s.jobs.accepting());
    page.send();
}

}  // namespace

void addOverviewPage(RouteTable& routes, Services& s) {
    routes.get("/dashboard", guarded(s, [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { overview(s, rq, rs); }));
}

}  // namespace pixelmill::http::dashboard
