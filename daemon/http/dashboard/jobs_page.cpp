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

using Pairs = std::vector<std::pair<std::string, std::string>>;

// The filters as they stand, for the form and for every link that keeps them.
struct Filters {
    std::string state;
    std::string plugin;
    std::string search;
    std::string limit;  // empty for the default page size

    // This page with these filters, `extra` replacing or adding parameters.
    std::string href(const Pairs& extra) const {
        Pairs pairs = {{"state", state}, {"plugin", plugin}, {"q", search}, {"limit", limit}};
        for (auto& [k, v] : extra) {
            bool replaced = false;
            for (auto& p : pairs)
                if (p.first == k) p.second = v, replaced = true;
            if (!replaced) pairs.emplace_back(k, v);
        }
        return "/dashboard/jobs" + queryString(pairs);
    }
};

DashboardReads::DashboardJobQuery jobQuery(const Rest::Request& rq, const std::string& state) {
    DashboardReads::DashboardJobQuery q;
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
    return q;
}

// The filter form's values, and the links to the pages before and after this one.
void setFiltersAndPaging(Data& d, const Filters& f, const DashboardReads::DashboardJobQuery& q,
                         const DashboardReads::DashboardJobPage& result) {
    d.set("state", f.state);
    d.set("plugin", f.plugin);
    d.set("q", f.search);
    d.set("limit", f.limit);
    d.set("has_limit", !f.limit.empty());
    d.set("filtered", !f.state.empty() || !f.plugin.empty() || !f.search.empty());
    d.set("clear_href", "/dashboard/jobs");
    d.set("has_older", result.olderCursor.has_value());
    d.set("has_newer", result.newerCursor.has_value());
    if (result.olderCursor) d.set("older_href", f.href({{"before", num(*result.olderCursor)}}));
    if (result.newerCursor) d.set("newer_href", f.href({{"after", num(*result.newerCursor)}}));
    d.set("newest_href", f.href({}));
    d.set("paged", q.beforeSeq.has_value() || q.afterSeq.has_value());
    std::string self = f.href({{"before", q.beforeSeq ? num(*q.beforeSeq) : std::string()},
                               {"after", q.afterSeq ? num(*q.afterSeq) : std::string()}});
    d.set("return", self);
}

// One state tab: `filter` is the state it filters on, "" for all of them.
Data stateTab(const std::string& name, const std::string& filter, uint64_t count, const Filters& f) {
    Data t;
    t.set("label", name);
    t.set("state", name);
    t.set("count", num(count));
    t.set("href", f.href({{"state", filter}, {"before", ""}, {"after", ""}}));
    t.set("current", filter == f.state);
    return t;
}

// State tabs with their counts (one indexed GROUP BY). The counts are of
// all jobs: beside a plugin or search filter they would mislead, so then
// they are neither shown nor counted.
Data stateTabs(Services& s, const Filters& f, bool showCounts) {
    Data tabs = list();
    StateCounts counts = showCounts ? s.reads.countByState()
                                    : StateCounts{{JobState::Queued, 0}, {JobState::Running, 0},
                                                  {JobState::Succeeded, 0}, {JobState::Failed, 0},
                                                  {JobState::Canceled, 0}};
    uint64_t total = 0;
    for (const auto& [st, n] : counts) total += n;
    tabs.push_back(stateTab("all", "", total, f));
    for (const auto& [st, n] : counts) {
        std::string name(toString(st));
        tabs.push_back(stateTab(name, name, n, f));
    }
    return tabs;
}

Data stateOptions(const std::string& state) {
    Data states = list();
    for (const char* st : {"queued", "running", "succeeded", "failed", "canceled"}) {
        Data o;
        o.set("value", st);
        o.set("selected", state == st);
        states.push_back(o);
    }
    return states;
}

// Every loaded plugin, and the one filtered on even if it is gone.
Data pluginOptions(Services& s, const std::string& selected) {
    std::set<std::string> pluginNames;
    for (const auto& p : s.plugins.list()) pluginNames.insert(p->name);
    if (!selected.empty()) pluginNames.insert(selected);
    Data plugins = list();
    for (const auto& name : pluginNames) {
        Data o;
        o.set("value", name);
        o.set("selected", name == selected);
        plugins.push_back(o);
    }
    return plugins;
}

void jobsPage(Services& s, const Rest::Request& rq, Http::ResponseWriter& rs) {
    int64_t now = nowMs();
    std::string state = queryParam(rq, "state");
    DashboardReads::DashboardJobQuery q = jobQuery(rq, state);
    Filters filters{state, q.plugin, q.search, q.limit == kPageSize ? std::string() : std::to_string(q.limit)};

    DashboardReads::DashboardJobPage result = s.dashboard.dashboardJobs(q);

    Page page(s, rq, rs, "jobs", "Jobs", "jobs");
    page.offerLive();
    Data& d = page.data();
    Data rows = list();
    for (const Job& j : result.jobs) rows.push_back(jobRow(j, now));
    d.set("rows", rows);
    d.set("empty", result.jobs.empty());
    d.set("count", num(static_cast<uint64_t>(result.jobs.size())));
    setFiltersAndPaging(d, filters, q, result);

    bool showCounts = q.plugin.empty() && q.search.empty();
    d.set("tabs", stateTabs(s, filters, showCounts));
    d.set("tab_counts", showCounts);
    d.set("states", stateOptions(state));
    d.set("plugins", pluginOptions(s, q.plugin));
    page.send();
}

}  // namespace

void addJobsPage(RouteTable& routes, Services& s) {
    routes.get("/dashboard/jobs", guarded(s, [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { jobsPage(s, rq, rs); }));
}

}  // namespace pixelmill::http::dashboard
