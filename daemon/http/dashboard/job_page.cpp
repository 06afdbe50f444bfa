// GET /dashboard/jobs/:id: one job — parameters, timeline, progress, the
// original, every output previewed, webhook deliveries, retry and cancel.
#include "common/clock.h"
#include "common/ids.h"
#include "http/dashboard/pages.h"
#include "jobs/chains.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace pixelmill::http::dashboard {

using namespace Pistache;

namespace {

constexpr size_t kTextPreviewBytes = 256 * 1024;
constexpr size_t kImagePreviews = 120;

// The start of a text output, or nullopt if its bytes are gone.
std::optional<std::string> readText(Services& s, const Output& o, bool& truncated) {
    if (!s.blobs.exists(o.sha256)) return std::nullopt;
    std::ifstream in(s.blobs.path(o.sha256), std::ios::binary);
    if (!in) return std::nullopt;
    std::string text(kTextPreviewBytes, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    truncated = o.sizeBytes > text.size();
    return text;
}

Data paramRows(const std::string& params) {
    Data rows = list();
    auto doc = nlohmann::json::parse(params, nullptr, false);
    if (!doc.is_object()) return rows;
    for (const auto& [k, v] : doc.items()) {
        Data r;
        r.set("name", k);
        r.set("value", v.is_string() ? v.get<std::string>() : v.dump());
        rows.push_back(r);
    }
    return rows;
}

// A chain's steps, each with its state, parameters and inputs done.
Data stepRows(const Job& j) {
    Data rows = list();
    int number = 0;
    for (const auto& step : stepsView(j)) {
        Data r;
        const auto& progress = step["progress"];
        uint32_t done = progress["done"].get<uint32_t>(), total = progress["total"].get<uint32_t>();
        r.set("number", std::to_string(++number));
        r.set("plugin", step["plugin"].get<std::string>());
        r.set("plugin_href", "/dashboard/plugins#plugin-" + step["plugin"].get<std::string>());
        r.set("state", step["state"].get<std::string>());
        r.set("params", paramRows(step["params"].dump()));
        r.set("done", num(static_cast<uint64_t>(done)));
        r.set("total", num(static_cast<uint64_t>(total)));
        r.set("has_total", total > 0);
        rows.push_back(r);
    }
    return rows;
}

Data timeline(const Job& j, int64_t now) {
    Data events = list();
    auto add = [&](int64_t at, const std::string& label, const std::string& kind, const std::string& detail,
                   const std::string& code) {
        Data e;
        e.set("at", timeText(at));
        e.set("ago", agoText(at, now));
        e.set("label", label);
        e.set("kind", kind);
        e.set("detail", detail);
        e.set("has_detail", !detail.empty());
        e.set("code", code);
        e.set("has_code", !code.empty());
        events.push_back(e);
    };
    add(j.createdAt, "created", "queued", "priority " + std::to_string(j.priority), "");
    for (const AttemptRecord& a : j.history) {
        add(a.startedAt, "attempt " + std::to_string(a.attempt) + " started", "running", "", "");
        if (!a.finishedAt) continue;
        std::string outcome = a.outcome.empty() ? "ended" : a.outcome;
        std::string kind = outcome == "succeeded" ? "succeeded" : outcome == "canceled" ? "canceled" : "failed";
        std::string label = "attempt " + std::to_string(a.attempt) + " " +
                            (outcome == "retry" ? std::string("failed, retry scheduled") : outcome);
        std::string detail = a.error ? a.error->message : std::string();
        if (a.durationSeconds) detail = "took " + durationText(*a.durationSeconds);
        add(*a.finishedAt, label, kind, detail, a.error ? a.error->code : "");
    }
    if (j.state == JobState::Queued && !j.history.empty()) {
        // Back in the queue: a retry scheduled after a transient failure, or asked for.
        if (j.runAfter > now) add(j.runAfter, "next attempt due", "queued", "", "");
        else add(j.runAfter, "queued again", "queued", "", "");
    }
    if (j.state == JobState::Canceled && j.finishedAt && (j.history.empty() || j.history.back().finishedAt != j.finishedAt))
        add(*j.finishedAt, "canceled", "canceled", "", "");
    return events;
}

Data outputs(Services& s, const Job& j) {
    Data images = list();
    Data texts = list();
    Data frames = list();
    Data others = list();
    size_t shown = 0;
    for (const Output& o : j.outputs) {
        Data d;
        std::string url = "/v1/jobs/" + j.id + "/outputs/" + std::to_string(o.index);
        d.set("url", url);
        d.set("job_id", j.id);  // for the share button's form
        d.set("name", o.name);
        d.set("index", num(static_cast<uint64_t>(o.index)));
        d.set("media_type", o.mediaType);
        d.set("size", bytesText(o.sizeBytes));
        d.set("has_dims", o.width.has_value() && o.height.has_value());
        if (o.width && o.height) d.set("dims", std::to_string(*o.width) + " × " + std::to_string(*o.height));
        if (isPreviewable(o.mediaType) && shown < kImagePreviews && !j.evicted) {
            ++shown;
            images.push_back(d);
        } else if (o.mediaType.rfind("text/plain", 0) == 0 && !j.evicted) {
            bool truncated = false;
            auto text = readText(s, o, truncated);
            d.set("has_text", text.has_value());
            d.set("text", text.value_or(""));
            d.set("truncated", truncated);
            texts.push_back(d);
        } else if (o.mediaType.rfind("text/html", 0) == 0 && !j.evicted) {
            frames.push_back(d);
        } else {
            others.push_back(d);
        }
    }
    Data out;
    out.set("images", images);
    out.set("texts", texts);
    out.set("frames", frames);
    out.set("others", others);
    out.set("has_images", shown > 0);
    out.set("many_images", shown > 1);
    out.set("count", num(static_cast<uint64_t>(j.outputs.size())));
    out.set("empty", j.outputs.empty());
    out.set("evicted", j.evicted);
    return out;
}

Data original(const Job& j, int64_t now) {
    const Original& o = j.original;
    Data d;
    d.set("id", o.id);
    d.set("filename", o.filename.empty() ? std::string("(unnamed)") : o.filename);
    d.set("media_type", o.mediaType);
    d.set("size", bytesText(o.sizeBytes));
    d.set("sha256", o.sha256);
    d.set("created_ago", agoText(o.createdAt, now));
    d.set("created_at", timeText(o.createdAt));
    d.set("has_dims", o.width.has_value() && o.height.has_value());
    if (o.width && o.height) d.set("dims", std::to_string(*o.width) + " × " + std::to_string(*o.height));
    d.set("has_pages", o.pages.has_value());
    if (o.pages) d.set("pages", std::to_string(*o.pages));
    d.set("purged", o.purgedAt.has_value());
    d.set("previewable", !o.purgedAt && isPreviewable(o.mediaType));
    d.set("url", "/v1/jobs/" + j.id + "/original");
    return d;
}

Data deliveries(const Job& j, int64_t now) {
    Data rows = list();
    for (const Delivery& del : j.deliveries) {
        Data d;
        d.set("kind", del.kind);
        d.set("target", del.target);
        d.set("state", del.state);
        d.set("attempts", num(static_cast<int64_t>(del.attempts)));
        d.set("last_status", del.lastStatus ? std::to_string(*del.lastStatus) : std::string("—"));
        d.set("last_error", del.lastError);
        d.set("has_error", !del.lastError.empty());
        d.set("next", del.state == "pending" ? agoText(del.nextAttemptAt, now) : std::string("—"));
        rows.push_back(d);
    }
    return rows;
}

void jobPage(Services& s, const Rest::Request& rq, Http::ResponseWriter& rs) {
    std::string id = rq.param(":id").as<std::string>();
    if (!isValidId(id)) throw ApiError::notFound("no job " + id);
    Job j = s.jobs.get(id);
    int64_t now = nowMs();
    Page page(s, rq, rs, "job", "Job " + shortId(j.id), "jobs");
    page.offerLive();
    Data& d = page.data();
    d.set("job", jobRow(j, now));
    d.set("plugin_version", j.pluginVersion);
    d.set("params", paramRows(j.params));
    d.set("has_params", j.params != "{}" && !j.params.empty());
    d.set("is_chain", !j.steps.empty());
    d.set("steps", stepRows(j));
    d.set("timeline", timeline(j, now));
    d.set("final", isFinal(j.state));
    bool progress = j.progressTotal > 0;
    d.set("has_progress", progress);
    d.set("progress_done", num(static_cast<uint64_t>(j.progressDone)));
    d.set("progress_total", num(static_cast<uint64_t>(j.progressTotal)));
    d.set("progress_percent",
          progress ? fixed(100.0 * j.progressDone / static_cast<double>(j.progressTotal), 0) : std::string("0"));
    d.set("original", original(j, now));
    d.set("outputs", outputs(s, j));
    d.set("deliveries", deliveries(j, now));
    d.set("has_deliveries", !j.deliveries.empty());
    d.set("has_callback", !j.callbackUrl.empty());
    d.set("callback_url", j.callbackUrl);
    d.set("has_email", !j.callbackEmail.empty());
    d.set("callback_email", j.callbackEmail);
    d.set("api_href", "/v1/jobs/" + j.id);
    d.set("return", "/dashboard/jobs/" + j.id);
    d.set("hits", num(j.hits));
    page.send();
}

}  // namespace

void addJobPage(RouteTable& routes, Services& s) {
    routes.get("/dashboard/jobs/:id", guarded(s, [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { jobPage(s, rq, rs); }));
}

}  // namespace pixelmill::http::dashboard
