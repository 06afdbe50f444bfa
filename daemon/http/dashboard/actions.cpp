// POST /dashboard/actions/*: everything the dashboard changes. Each action
// checks the CSRF token first, calls JobService, then answers 303 to a page
// (post/redirect/get) with a notice of what happened.
#include "common/clock.h"
#include "common/ids.h"
#include "http/api/output_download.h"
#include "http/api/route_helpers.h"
#include "http/dashboard/csrf.h"
#include "http/dashboard/form.h"
#include "http/dashboard/pages.h"
#include "http/server/body.h"

#include <charconv>

namespace pixelmill::http::dashboard {

using namespace Pistache;

namespace {

constexpr size_t kMaxIds = 1000;
constexpr int64_t kShareLinkSeconds = 7 * 24 * 3600;
constexpr uint64_t kShareFormBytes = 16 * 1024;

// `path` with its notice/problem replaced by `message`.
std::string withMessage(const std::string& path, const std::string& key, const std::string& message) {
    auto q = path.find('?');
    std::string base = path.substr(0, q);
    std::string kept;
    if (q != std::string::npos) {
        std::string_view rest = std::string_view(path).substr(q + 1);
        while (!rest.empty()) {
            auto amp = rest.find('&');
            std::string_view pair = rest.substr(0, amp);
            rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
            if (pair.rfind("notice=", 0) == 0 || pair.rfind("problem=", 0) == 0 || pair.empty()) continue;
            kept += (kept.empty() ? "" : "&") + std::string(pair);
        }
    }
    if (!message.empty()) kept += (kept.empty() ? "" : "&") + key + "=" + urlEncode(message);
    return base + (kept.empty() ? "" : "?" + kept);
}

std::string plural(size_t n, const std::string& word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

// Retry or cancel each selected job; a job that cannot (already running,
// already ended) is reported, the others still change.
void jobAction(Services& s, const Rest::Request& rq, const RequestBody& body, Http::ResponseWriter& rs, bool retry) {
    Form form = Form::of(body);
    checkCsrf(rq, form.get(kCsrfField));
    std::vector<std::string> ids = form.all("id");
    std::string back = safeReturnPath(form.get("return"), "/dashboard/jobs");
    if (ids.empty()) {
        redirect(rs, withMessage(back, "problem", "Select at least one job."));
        return;
    }
    if (ids.size() > kMaxIds) throw ApiError::invalidParam("id", "at most 1000 jobs at once");
    size_t done = 0;
    std::string firstProblem;
    size_t problems = 0;
    for (const std::string& id : ids) {
        try {
            if (!isValidId(id)) throw ApiError::notFound("'" + id + "' is not a job id");
            if (retry) s.jobs.retry(id);
            else s.jobs.cancel(id);
            ++done;
        } catch (const ApiError& e) {
            if (problems++ == 0) firstProblem = e.what();
        }
    }
    std::string verb = retry ? "Retried " : "Canceled ";
    std::string target = back;
    if (done > 0) target = withMessage(target, "notice", verb + plural(done, "job") + ".");
    if (problems > 0)
        target = withMessage(target, "problem",
                             plural(problems, "job") + " could not be " + (retry ? "retried" : "canceled") + ": " +
                                 firstProblem);
    redirect(rs, target);
}

void process(Services& s, const Rest::Request& rq, const RequestBody& body, Http::ResponseWriter& rs) {
    Form form = Form::of(body);
    checkCsrf(rq, form.get(kCsrfField));
    std::string back = safeReturnPath(form.get("return"), "/dashboard/originals");
    BatchRequest request;
    request.job.plugin = form.get("plugin");
    request.job.params = pluginParams(request.job.plugin, form.fields());
    request.originalIds = form.all("original");
    if (request.originalIds.empty()) {
        redirect(rs, withMessage(back, "problem", "Select at least one original to process."));
        return;
    }
    if (request.originalIds.size() > kMaxIds) throw ApiError::invalidParam("original", "at most 1000 originals at once");
    try {
        auto [batch, jobs] = s.jobs.createBatch(request);
        std::string target = "/dashboard/jobs" + queryString({{"plugin", request.job.plugin}});
        redirect(rs, withMessage(target, "notice",
                                 "Batch " + shortId(batch.id) + ": " + plural(jobs.size(), "job") + " with " +
                                     request.job.plugin + "."));
    } catch (const ApiError& e) {
        redirect(rs, withMessage(back, "problem", e.what()));
    }
}

void submit(Services& s, const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) {
    if (!body.multipart)
        throw ApiError::badRequest("bad_multipart", "the submit form is sent as multipart/form-data");
    Form form = Form::of(body);
    checkCsrf(rq, form.get(kCsrfField));
    std::string plugin = form.get("plugin");
    std::string preset = form.get("preset");
    std::optional<Upload> upload = body.takeFile("file");
    if (!upload || !upload->writer || upload->writer->size() == 0) {
        renderSubmitPage(s, rq, rs, 400, "Choose a file to upload (it was missing or empty).", plugin, preset);
        return;
    }
    SubmitRequest request;
    request.plugin = plugin;
    try {
        // With a preset, its plugin runs, and the inputs filled in for that plugin override its parameters.
        if (!preset.empty()) {
            plugin = s.presets.find(preset).plugin;
            request.plugin.clear();
            request.preset = preset;
        }
    } catch (const ApiError& e) {
        renderSubmitPage(s, rq, rs, e.status(), e.what(), plugin, "");
        return;
    }
    request.params = pluginParams(plugin, form.fields());
    request.callbackUrl = form.get("callback_url");
    try {
        if (std::string p = form.get("priority"); !p.empty()) {
            int v = 0;
            auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
            if (ec != std::errc() || end != p.data() + p.size() || v < -1000 || v > 1000)
                throw ApiError::invalidParam("priority", "priority must be an integer from -1000 to 1000");
            request.priority = v;
        }
    } catch (const ApiError& e) {
        renderSubmitPage(s, rq, rs, e.status(), e.what(), plugin, preset);
        return;
    }
    // The source's checks read the whole file (SVG references, probe): off the reactor thread,
    // with a copy of the request for the page that may have to be shown again.
    auto source = std::make_shared<Upload>(std::move(*upload));
    auto copy = std::make_shared<Rest::Request>(rq);
    answerChecked(s, rs, [&s, request = std::move(request), source, copy, plugin, preset](Http::ResponseWriter& w) {
        try {
            Submitted result = s.jobs.submit(request, std::move(*source));
            redirect(w, withMessage("/dashboard/jobs/" + result.job.id, "notice",
                                    result.created ? "Job submitted."
                                                   : "An equal job had already run: this is its result."));
        } catch (const ApiError& e) {
            renderSubmitPage(s, *copy, w, e.status(), e.what(), plugin, preset);
        }
    });
}

// Where a share link is opened from: --public-url, else the address this
// dashboard was reached at (its Host), else none (a path).
std::string linkOrigin(Services& s, const Rest::Request& rq) {
    std::string base = s.config.publicUrl;
    if (base.empty()) {
        auto host = rq.headers().tryGetRaw("Host");
        std::string value = host ? host->value() : std::string();
        bool plain = !value.empty() && value.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                               "0123456789.-:[]") == std::string::npos;
        base = plain ? "http://" + value : std::string();
    }
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base;
}

// A 7-day share link to one output, shown on the job's page to copy.
void shareLink(Services& s, const Rest::Request& rq, const RequestBody& body, Http::ResponseWriter& rs) {
    Form form = Form::of(body);
    checkCsrf(rq, form.get(kCsrfField));
    std::string id = form.get("id");
    if (!isValidId(id)) throw ApiError::notFound("'" + id + "' is not a job id");
    std::string back = "/dashboard/jobs/" + id;
    try {
        Job job = s.jobs.get(id);
        const Output& output = findOutput(job, form.get("index"));
        ShareLink link{job.id, output.index, nowMs() + kShareLinkSeconds * 1000};
        redirect(rs, withMessage(back, "notice",
                                 "Link to " + output.name + ", no sign-in needed, until " +
                                     formatTime(link.expiresAtMs) + ": " + linkOrigin(s, rq) + "/s/" +
                                     s.links.sign(link)));
    } catch (const ApiError& e) {
        redirect(rs, withMessage(back, "problem", e.what()));
    }
}

}  // namespace

void addActions(RouteTable& routes, Services& s) {
    using Body = RequestBody;
    routes.post("/dashboard/actions/retry", guarded(s, [&s](const Rest::Request& rq, Body& body, Http::ResponseWriter& rs) {
                    jobAction(s, rq, body, rs, true);
                }));
    routes.post("/dashboard/actions/cancel", guarded(s, [&s](const Rest::Request& rq, Body& body, Http::ResponseWriter& rs) {
                    jobAction(s, rq, body, rs, false);
                }));
    routes.post("/dashboard/actions/process", guarded(s, [&s](const Rest::Request& rq, Body& body, Http::ResponseWriter& rs) {
                    process(s, rq, body, rs);
                }));
    // Making a link reads nothing new: the read scope, as for the API's route.
    routes.post("/dashboard/actions/link", guarded(s, [&s](const Rest::Request& rq, Body& body, Http::ResponseWriter& rs) {
                    shareLink(s, rq, body, rs);
                }), RouteRule{RouteScope::Read, kShareFormBytes});
    routes.post("/dashboard/actions/submit", guarded(s, [&s](const Rest::Request& rq, Body& body, Http::ResponseWriter& rs) {
                    submit(s, rq, body, rs);
                }));
}

}  // namespace pixelmill::http::dashboard
