// GET /dashboard/originals: uploads kept for later, the jobs that used each,
// and a form that processes the selected ones with a plugin (a batch).
#include "common/clock.h"
#include "http/dashboard/pages.h"

#include <charconv>

namespace pixelmill::http::dashboard {

using namespace Pistache;

namespace {

constexpr int kJobsShown = 4;
constexpr uint64_t kPreviewMaxBytes = 4 << 20;  // larger originals are not loaded as thumbnails

OriginalFilter originalFilter(const Rest::Request& rq) {
    OriginalFilter filter;
    std::string pending = queryParam(rq, "pending");
    filter.pendingOnly = pending == "true" || pending == "1" || pending == "on";
    filter.limit = kPageSize;
    if (std::string before = queryParam(rq, "before"); !before.empty()) {
        int64_t v = 0;
        auto [p, ec] = std::from_chars(before.data(), before.data() + before.size(), v);
        if (ec != std::errc() || p != before.data() + before.size() || v <= 0)
            throw ApiError::invalidParam("before", "before must be a position this page gave out");
        filter.beforeSeq = v;
    }
    return filter;
}

// The latest jobs that used an original, as links.
Data jobLinks(const std::vector<Job>& latest) {
    Data jobs = list();
    for (const Job& j : latest) {
        Data jd;
        jd.set("href", "/dashboard/jobs/" + j.id);
        jd.set("state", std::string(toString(j.state)));
        jd.set("plugin", j.plugin);
        jd.set("short_id", shortId(j.id));
        jobs.push_back(jd);
    }
    return jobs;
}

Data originalRow(const Original& o, const DashboardReads::OriginalUsage& u, int64_t now) {
    Data r;
    r.set("id", o.id);
    r.set("short_id", shortId(o.id));
    r.set("filename", o.filename.empty() ? std::string("(unnamed)") : o.filename);
    r.set("media_type", o.mediaType);
    r.set("size", bytesText(o.sizeBytes));
    r.set("has_dims", o.width.has_value() && o.height.has_value());
    if (o.width && o.height) r.set("dims", std::to_string(*o.width) + " × " + std::to_string(*o.height));
    r.set("has_pages", o.pages.has_value());
    if (o.pages) r.set("pages", std::to_string(*o.pages));
    r.set("created_ago", agoText(o.createdAt, now));
    r.set("created_at", timeText(o.createdAt));
    r.set("purged", o.purgedAt.has_value());
    r.set("thumb", !o.purgedAt && isPreviewable(o.mediaType) && o.sizeBytes <= kPreviewMaxBytes);
    r.set("content_url", "/v1/originals/" + o.id + "/content");
    r.set("job_count", num(u.jobs));
    r.set("unused", u.jobs == 0);
    r.set("jobs", jobLinks(u.latest));
    r.set("more_jobs", u.jobs > u.latest.size());
    r.set("more_count", num(u.jobs - u.latest.size()));
    return r;
}

void originalsPage(Services& s, const Rest::Request& rq, Http::ResponseWriter& rs) {
    int64_t now = nowMs();
    OriginalFilter filter = originalFilter(rq);
    OriginalPage result = s.jobs.listOriginals(filter);
    std::vector<std::string> ids;
    for (const Original& o : result.originals) ids.push_back(o.id);
    auto usage = s.dashboard.originalUsage(ids, kJobsShown);

    Page page(s, rq, rs, "originals", "Originals", "originals");
    page.offerLive();
    Data& d = page.data();
    Data rows = list();
    for (const Original& o : result.originals) rows.push_back(originalRow(o, usage[o.id], now));
    d.set("rows", rows);
    d.set("empty", result.originals.empty());
    d.set("pending", filter.pendingOnly);
    d.set("total", num(s.reads.countOriginals()));
    d.set("has_older", result.nextCursor.has_value());
    if (result.nextCursor)
        d.set("older_href", "/dashboard/originals" + queryString({{"pending", filter.pendingOnly ? "true" : ""},
                                                                   {"before", num(*result.nextCursor)}}));
    d.set("paged", filter.beforeSeq.has_value());
    d.set("newest_href", "/dashboard/originals" + queryString({{"pending", filter.pendingOnly ? "true" : ""}}));
    d.set("all_href", "/dashboard/originals");
    d.set("pending_href", "/dashboard/originals?pending=true");
    d.set("return", "/dashboard/originals" + queryString({{"pending", filter.pendingOnly ? "true" : ""},
                                                           {"before", filter.beforeSeq ? num(*filter.beforeSeq) : ""}}));
    d.set("forms", pluginForms(s, queryParam(rq, "plugin")));
    page.send();
}

}  // namespace

void addOriginalsPage(RouteTable& routes, Services& s) {
    routes.get("/dashboard/originals",
               guarded(s, [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { originalsPage(s, rq, rs); }));
}

}  // namespace pixelmill::http::dashboard
