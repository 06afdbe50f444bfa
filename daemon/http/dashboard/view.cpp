#include "http/dashboard/view.h"

#include "common/clock.h"
#include "common/log.h"
#include "http/dashboard/csrf.h"
#include "http/dashboard/form.h"

#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace pixelmill::http::dashboard {

using namespace Pistache;

namespace {

constexpr size_t kNoticeMax = 300;

std::string clip(std::string text, size_t max) {
    if (text.size() <= max) return text;
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
    return text.substr(0, cut) + "…";
}

bool wantsHtml(const Rest::Request& request) {
    auto accept = request.headers().tryGet<Http::Header::Accept>();
    if (!accept) return true;  // a browser form post always sends Accept; a bare client gets HTML too
    for (const auto& m : accept->media()) {
        std::string t = m.toString();
        if (t.find("text/html") != std::string::npos || t.find("*/*") != std::string::npos) return true;
    }
    return false;
}

}  // namespace

std::string num(int64_t n) { return std::to_string(n); }
std::string num(uint64_t n) { return std::to_string(n); }

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

const EmbeddedFile* asset(std::string_view path) {
    for (const EmbeddedFile& f : dashboardFiles())
        if (f.path == path) return &f;
    return nullptr;
}

std::string renderTemplate(const std::string& name, const Data& data) {
    const EmbeddedFile* file = asset(name + ".mustache");
    if (!file) throw ApiError::internal("no dashboard template " + name);
    Data root = data;
    for (const EmbeddedFile& f : dashboardFiles())
        if (f.path.ends_with(".mustache")) root.set(std::string(f.path), Data(std::string(f.contents)));
    kainjow::mustache::mustache tmpl{std::string(file->contents)};
    if (!tmpl.is_valid()) throw ApiError::internal("template " + name + ": " + tmpl.error_message());
    std::string out = tmpl.render(root);
    if (!tmpl.is_valid()) throw ApiError::internal("template " + name + ": " + tmpl.error_message());
    return out;
}

Page::Page(Services& services, const Rest::Request& request, Http::ResponseWriter& response,
           std::string templateName, std::string title, std::string nav)
    : services_(services),
      request_(request),
      response_(response),
      template_(std::move(templateName)),
      title_(std::move(title)),
      nav_(std::move(nav)),
      csrf_(csrfToken(request, response)) {}

void Page::send(int status) {
    Data root = data_;
    root.set("title", title_);
    root.set("csrf", csrf_);
    root.set("version", services_.version);
    Data nav;
    nav.set(nav_, true);
    root.set("nav", nav);
    root.set("live", live_);
    root.set("signed_in", services_.access && services_.access->authEnabled() && nav_ != "");
    std::string notice = clip(queryParam(request_, "notice"), kNoticeMax);
    std::string problem = clip(queryParam(request_, "problem"), kNoticeMax);
    root.set("has_notice", !notice.empty());
    root.set("notice", notice);
    root.set("has_problem", !problem.empty());
    root.set("problem", problem);
    const EmbeddedFile* page = asset(template_ + ".mustache");
    if (!page) throw ApiError::internal("no dashboard template " + template_);
    root.set("@content", std::string(page->contents));
    sendHtml(response_, status, renderTemplate("layout", root));
}

Headers pageHeaders() {
    return {{"Content-Security-Policy",
             "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
             "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"},
            {"X-Content-Type-Options", "nosniff"},
            {"Referrer-Policy", "same-origin"},
            {"X-Frame-Options", "DENY"},
            {"Cache-Control", "no-store"}};
}

void sendHtml(Http::ResponseWriter& response, int status, const std::string& html) {
    sendText(response, status, html, "text/html; charset=utf-8", pageHeaders());
}

void redirect(Http::ResponseWriter& response, const std::string& location) {
    Headers headers = pageHeaders();
    headers.emplace_back("Location", location);
    sendText(response, 303, "see " + location + "\n", "text/plain; charset=utf-8", headers);
}

void sendErrorPage(Services& s, const Rest::Request& request, Http::ResponseWriter& response, const ApiError& error) {
    if (!wantsHtml(request)) {
        sendJson(response, error.status(), errorBody(error), pageHeaders());
        return;
    }
    Page page(s, request, response, "error", "Error " + std::to_string(error.status()), "");
    page.data().set("status", num(static_cast<int64_t>(error.status())));
    page.data().set("code", error.code());
    page.data().set("message", publicMessage(error));
    page.send(error.status());
}

std::string bytesText(uint64_t bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) v /= 1024, ++u;
    if (u == 0) return std::to_string(bytes) + " B";
    return fixed(v, v < 10 ? 1 : 0) + " " + units[u];
}

std::string durationText(double s) {
    if (s < 0) s = 0;
    if (s < 1) return fixed(s * 1000, s < 0.01 ? 1 : 0) + " ms";
    if (s < 60) return fixed(s, s < 10 ? 2 : 1) + " s";
    auto whole = static_cast<int64_t>(s);
    if (whole < 3600) return std::to_string(whole / 60) + " min " + std::to_string(whole % 60) + " s";
    return std::to_string(whole / 3600) + " h " + std::to_string(whole % 3600 / 60) + " min";
}

std::string agoText(int64_t t, int64_t now) {
    int64_t d = (now - t) / 1000;
    if (d < 0) {
        d = -d;
        if (d < 60) return "in " + std::to_string(d) + " s";
        if (d < 3600) return "in " + std::to_string(d / 60) + " min";
        return "in " + std::to_string(d / 3600) + " h";
    }
    if (d < 1) return "just now";
    if (d < 60) return std::to_string(d) + " s ago";
    if (d < 3600) return std::to_string(d / 60) + " min ago";
    if (d < 86400) return std::to_string(d / 3600) + " h ago";
    return std::to_string(d / 86400) + " d ago";
}

std::string timeText(int64_t unixMs) {
    std::time_t secs = static_cast<std::time_t>(unixMs / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

std::string shortId(const std::string& id) { return id.size() > 8 ? id.substr(0, 8) : id; }

std::string urlEncode(std::string_view text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(static_cast<char>(c));
        else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

std::string queryString(const std::vector<std::pair<std::string, std::string>>& pairs) {
    std::string out;
    for (const auto& [k, v] : pairs) {
        if (v.empty()) continue;
        out += (out.empty() ? "?" : "&") + urlEncode(k) + "=" + urlEncode(v);
    }
    return out;
}

std::string queryParam(const Rest::Request& request, const std::string& name) {
    // Pistache hands query values over as sent: percent-encoded, '+' for spaces.
    auto v = request.query().get(name);
    return v ? formDecode(*v) : std::string();
}

std::string safeReturnPath(const std::string& path, const std::string& fallback) {
    // Only our own pages: no scheme, no host (//evil), no backslashes, no control characters.
    if (path.rfind("/dashboard", 0) != 0 || path.find("//") != std::string::npos ||
        path.find('\\') != std::string::npos)
        return fallback;
    for (unsigned char c : path)
        if (c < 0x20 || c == 0x7F) return fallback;
    return path;
}

bool isPreviewable(const std::string& mediaType) {
    return mediaType == "image/jpeg" || mediaType == "image/png" || mediaType == "image/webp" ||
           mediaType == "image/gif" || mediaType == "image/avif";
}

Data jobRow(const Job& j, int64_t now) {
    Data d;
    d.set("id", j.id);
    d.set("short_id", shortId(j.id));
    d.set("href", "/dashboard/jobs/" + j.id);
    std::string state(toString(j.state));
    d.set("state", state);
    d.set("plugin", j.plugin);
    d.set("plugin_href", "/dashboard/jobs" + queryString({{"plugin", j.plugin}}));
    d.set("filename", j.original.filename.empty() ? std::string("(unnamed)") : j.original.filename);
    d.set("unnamed", j.original.filename.empty());
    d.set("created_ago", agoText(j.createdAt, now));
    d.set("created_at", timeText(j.createdAt));
    d.set("created_iso", formatTime(j.createdAt));
    d.set("attempts", num(static_cast<int64_t>(j.attempts)));
    d.set("attempts_text", std::to_string(j.attempts) + (j.attempts == 1 ? " attempt" : " attempts"));
    d.set("priority", num(static_cast<int64_t>(j.priority)));
    std::string duration = "—";
    if (j.durationSeconds) duration = durationText(*j.durationSeconds);
    else if (j.state == JobState::Running && j.startedAt)
        duration = durationText(static_cast<double>(now - *j.startedAt) / 1000.0) + "…";
    else if (j.startedAt && j.finishedAt)
        duration = durationText(static_cast<double>(*j.finishedAt - *j.startedAt) / 1000.0);
    d.set("duration", duration);
    bool failed = j.state == JobState::Failed && j.error;
    d.set("has_error", failed);
    if (failed) {
        d.set("error_code", j.error->code);
        d.set("error_message", clip(j.error->message, 240));
    }
    bool progress = j.state == JobState::Running && j.progressTotal > 0;
    d.set("has_progress", progress);
    d.set("progress_done", num(static_cast<uint64_t>(j.progressDone)));
    d.set("progress_total", num(static_cast<uint64_t>(j.progressTotal)));
    d.set("can_retry", j.state == JobState::Failed || j.state == JobState::Canceled);
    d.set("can_cancel", j.state == JobState::Queued || j.state == JobState::Running);
    if (j.finishedAt) d.set("finished_ago", agoText(*j.finishedAt, now));
    if (j.finishedAt) d.set("finished_at", timeText(*j.finishedAt));
    return d;
}

}  // namespace pixelmill::http::dashboard
