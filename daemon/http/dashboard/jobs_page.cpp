// GET /dashboard/jobs: every job, filtered by state and plugin, searched by
// id or filename, paged on seq (a cursor, never OFFSET), with bulk actions.
#include "common/clock.h"
#include "http/dashboard/pages.h"

#include <charconv>
#include <set>

namespace pixelmill::http::dashboard {

using namespace Pistache;

namespace {


std::optional<int64_t> cursorParam(const Rest::Request& rq, const std::string& name) {
    std::string text = queryParam(rq, name);
    if (text.empty()) return std::nullopt;
    int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < 0)
        throw ApiError::invalidParam(name, name + " must be a position this page gave out");
    return v;
}

int limitParam(const Rest::Request& rq) {
    std::string text = queryParam(rq, "limit");
    if (text.empty()) return kPageSize;
    int v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < 1 || v > 500)
        throw ApiError::invalidParam("limit", "limit must be a number from 1 to 500");
    return v;
}

void jobsPage(Services& s, const Rest::Request& rq, Http::ResponseWriter& rs) {
    int64_t now = nowMs();
    DashboardReads::DashboardJobQuery q;
    std::string state = queryParam(rq, "state");
    if (!state.empty()) {
        q.state = parseJobState(state);
        if (!q.state) throw ApiError::invalidParam("state", "state must be one of queued, running, succeeded, failed, canceled");
    }
    q.plugin = queryParam(rq, "plugin");
    q.search = queryParam(rq, "q");
    if (q.search.size() > 200) q.search.resize(200);
    q.beforeSeq = cursorParam(rq, "before");
    q.afterSeq = cursorParam(rq, "after");
    if (q.beforeSeq && q.afterSeq) q.afterSeq.reset();
    q.limit = limitParam(rq);
    std::string limit = q.limit == kPageSize ? std::string() : std::to_string(q.limit);

    DashboardReads::DashboardJobPage result = s.dashboard.dashboardJobs(q);

    Page page(s, rq, rs, "jobs", "Jobs", "jobs");
    page.offerLive();
    Data& d = page.data();
    Data rows = list();
    for (const Job& j : result.jobs) rows.push_back(jobRow(j, now));
    d.set("rows", rows);
    d.set("empty", result.jobs.empty());
    d.set("count", num(static_cast<uint64_t>(result.jobs.size())));

    // The filters as they stand, for the form and for every link that keeps them.
    auto keep = [&](std::vector<std::pair<std::string, std::string>> extra) {
        std::vector<std::pair<std::string, std::string>> pairs = {
            {"state", state}, {"plugin", q.plugin}, {"q", q.search}, {"limit", limit}};
        for (auto& [k, v] : extra) {
            bool replaced = false;
            for (auto& p : pairs)
                if (p.first == k) p.second = v, replaced = true;
            if (!replaced) pairs.emplace_back(k, v);
        }
        return "/dashboard/jobs" + queryString(pairs);
    };
    d.set("state", state);
    d.set("plugin", q.plugin);
    d.set("q", q.search);
    d.set("limit", limit);
    d.set("has_limit", !limit.empty());
    d.set("filtered", !state.empty() || !q.plugin.empty() || !q.search.empty());
    d.set("clear_href", "/dashboard/jobs");
    d.set("has_older", result.olderCursor.has_value());
    d.set("has_newer", result.newerCursor.has_value());
    if (result.olderCursor) d.set("older_href", keep({{"before", num(*result.olderCursor)}}));
    if (result.newerCursor) d.set("newer_href", keep({{"after", num(*result.newerCursor)}}));
    d.set("newest_href", keep({}));
    d.set("paged", q.beforeSeq.has_value() || q.afterSeq.has_value());
    std::string self = keep({{"before", q.beforeSeq ? num(*q.beforeSeq) : std::string()},
                             {"after", q.afterSeq ? num(*q.afterSeq) : std::string()}});
    d.set("return", self);

    // State tabs with their counts (one indexed GROUP BY). The counts are of
    // all jobs: beside a plugin or search filter they would mislead, so then
    // they are neither shown nor counted.
    bool showCounts = q.plugin.empty() && q.search.empty();
    Data tabs = list();
    StateCounts counts = showCounts ? s.reads.countByState()
                                    : StateCounts{{JobState::Queued, 0}, {JobState::Running, 0},
                                                  {JobState::Succeeded, 0}, {JobState::Failed, 0},
                                                  {JobState::Canceled, 0}};
    uint64_t total = 0;
    for (const auto& [st, n] : counts) total += n;
    {
        Data all;
        all.set("label", "all");
        all.set("count", num(total));
        all.set("href", keep({{"state", ""}, {"before", ""}, {"after", ""}}));
        all.set("current", state.empty());
        all.set("state", "all");
        tabs.push_back(all);
    }
    for (const auto& [st, n] : counts) {
        Data t;
        std::string name(toString(st));
        t.set("label", name);
        t.set("state", name);
        t.set("count", num(n));
        t.set("href", keep({{"state", name}, {"before", ""}, {"after", ""}}));
        t.set("current", name == state);
        tabs.push_back(t);
    }
    d.set("tabs", tabs);
    d.set("tab_counts", showCounts);

    Data states = list();
    for (const char* st : {"queued", "running", "succeeded", "failed", "canceled"}) {
        Data o;
        o.set("value", st);
        o.set("selected", state == st);
        states.push_back(o);
    }
    d.set("states", states);
    std::set<std::string> pluginNames;
    for (const auto& p : s.plugins.list()) pluginNames.insert(p->name);
    if (!q.plugin.empty()) pluginNames.insert(q.plugin);
    Data plugins = list();
    for (const auto& name : pluginNames) {
        Data o;
        o.set("value", name);
        o.set("selected", name == q.plugin);
        plugins.push_back(o);
    }
    d.set("plugins", plugins);
    page.send();
}

}  // namespace

void addJobsPage(RouteTable& routes, Services& s) {
    routes.get("/dashboard/jobs", guarded(s, [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { jobsPage(s, rq, rs); }));
}

}  // namespace pixelmill::http::dashboard
