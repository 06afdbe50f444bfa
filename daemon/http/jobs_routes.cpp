#include "common/error.h"
#include "common/ids.h"
#include "http/api.h"
#include "http/body.h"
#include "http/job_json.h"
#include "http/respond.h"

#include <pistache/router.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <set>

namespace pixelmill::http {

using namespace Pistache;
using json = nlohmann::ordered_json;

namespace {

// Form fields and query names that are not plugin parameters.
const std::set<std::string> kReserved = {"plugin",          "callback_url", "callback_email", "priority",
                                         "idempotency_key", "wait",         "file"};

int parsePriority(const std::string& text) {
    int v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < -1000 || v > 1000)
        throw ApiError::invalidParam("priority", "priority must be an integer from -1000 to 1000, got '" + text + "'");
    return v;
}

std::string queryValue(const Rest::Request& request, const std::string& key) {
    auto v = request.query().get(key);
    return v ? *v : std::string();
}

int64_t parseLimit(const std::string& text) {
    if (text.empty()) return 50;
    int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < 1 || v > 1000)
        throw ApiError::invalidParam("limit", "limit must be an integer from 1 to 1000");
    return v;
}

std::string jobId(const Rest::Request& request) { return request.param(":id").as<std::string>(); }

void answerJob(Http::ResponseWriter& response, int status, const Job& job, bool location = false) {
    Headers headers;
    if (location) headers.emplace_back("Location", "/v1/jobs/" + job.id);
    sendJson(response, status, jobJson(job), headers);
}

// ?wait=SECONDS (0-60): how long to hold the answer for the job to end.
double waitSeconds(const Rest::Request& request) {
    auto text = request.query().get("wait");
    if (!text || text->empty()) return 0;
    char* end = nullptr;
    double v = std::strtod(text->c_str(), &end);
    if (end != text->c_str() + text->size() || !(v >= 0 && v <= 60))
        throw ApiError::invalidParam("wait", "wait must be a number of seconds from 0 to 60, got '" + *text + "'");
    return v;
}

// Answers now if the job has ended or the client will not wait; otherwise
// parks the response with the waiters, holding no thread, until the job ends
// or the time is up — then answers with the job as it is.
void answerWhenEnded(Services& s, Http::ResponseWriter& response, int status, const Job& job, bool location,
                     double wait) {
    if (wait <= 0 || isFinal(job.state)) {
        answerJob(response, status, job, location);
        return;
    }
    auto writer = std::make_shared<Http::ResponseWriter>(std::move(response));
    std::string id = job.id;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                           std::chrono::duration<double>(wait));
    s.waiters.wait(id, deadline, [&s, writer, id, status, location] {
        try {
            auto now = s.store.getJob(id);
            if (!now) sendError(*writer, ApiError::notFound("job " + id + " was deleted"));
            else answerJob(*writer, status, *now, location);
        } catch (const std::exception& e) {
            sendError(*writer, ApiError::internal(e.what()));
        }
    });
    // It may have ended between the read above and the registration.
    try {
        auto again = s.store.getJob(id);
        if (!again || isFinal(again->state)) s.waiters.notify(id);
    } catch (const std::exception&) {
        s.waiters.notify(id);
    }
}

void submit(Services& s, const Rest::Request& request, Http::ResponseWriter& response) {
    RequestBody& body = currentBody();
    SubmitRequest submit;
    std::map<std::string, std::string> params;
    std::map<std::string, std::string> reserved;

    const auto& query = request.query();
    for (auto it = query.parameters_begin(); it != query.parameters_end(); ++it) {
        if (kReserved.count(it->first)) reserved[it->first] = it->second;
        else params[it->first] = it->second;
    }

    std::optional<Upload> upload;
    std::string_view type = body.contentType;
    bool isJson = type.substr(0, type.find(';')) == "application/json";
    if (body.multipart) {
        for (const auto& [k, v] : body.fields) {
            if (kReserved.count(k)) reserved[k] = v;
            else params[k] = v;
        }
        upload = body.takeFile("file");
        if (!upload) {
            std::string hint = body.files.empty() ? "" : " (got a file in field '" + body.files.front().field + "')";
            throw ApiError::badRequest("missing_file", "the source goes in the multipart field 'file'" + hint, "file");
        }
    } else if (isJson) {
        nlohmann::json doc = nlohmann::json::parse(body.text(), nullptr, false);
        if (doc.is_discarded() || !doc.is_object()) throw ApiError::badRequest("bad_json", "the body is not a JSON object");
        submit.plugin = doc.value("plugin", "");
        if (doc.contains("priority")) {
            if (!doc["priority"].is_number_integer())
                throw ApiError::invalidParam("priority", "priority must be an integer");
            submit.priority = parsePriority(std::to_string(doc["priority"].get<long long>()));
        }
        submit.callbackUrl = doc.value("callback_url", "");
        submit.params = doc.value("params", nlohmann::json::object());
        if (doc.contains("source_url"))
            throw ApiError::badRequest("invalid_param", "source_url is not supported by this daemon yet", "source_url");
        if (!doc.contains("original_id") || !doc["original_id"].is_string())
            throw ApiError::badRequest("missing_file", "a JSON submit names original_id or source_url", "original_id");
        submit.callbackEmail = doc.value("callback_email", "");
        double wait = waitSeconds(request);
        Submitted result = s.jobs.submitOriginal(submit, doc["original_id"].get<std::string>());
        bool done = result.job.state == JobState::Succeeded && !result.created;
        answerWhenEnded(s, response, done ? 200 : 202, result.job, true, wait);
        return;
    } else {
        if (!body.present || body.size == 0)
            throw ApiError::badRequest("missing_file", "the request has no body: send the source as multipart field "
                                                       "'file' or as the raw body", "file");
        upload = body.takeRaw(s.blobs, queryValue(request, "filename"));
    }

    if (!isJson) {
        submit.plugin = reserved.count("plugin") ? reserved["plugin"] : "";
        if (reserved.count("priority")) submit.priority = parsePriority(reserved["priority"]);
        if (reserved.count("callback_url")) submit.callbackUrl = reserved["callback_url"];
        if (reserved.count("callback_email")) submit.callbackEmail = reserved["callback_email"];
        submit.params = std::move(params);
    }
    double wait = waitSeconds(request);
    Submitted result = s.jobs.submit(submit, std::move(*upload));
    bool done = result.job.state == JobState::Succeeded && !result.created;
    answerWhenEnded(s, response, done ? 200 : 202, result.job, true, wait);
}

void list(Services& s, const Rest::Request& request, Http::ResponseWriter& response) {
    JobFilter filter;
    if (auto st = queryValue(request, "state"); !st.empty()) {
        filter.state = parseJobState(st);
        if (!filter.state)
            throw ApiError::invalidParam("state", "state must be one of queued, running, succeeded, failed, canceled");
    }
    filter.plugin = queryValue(request, "plugin");
    if (auto o = queryValue(request, "original"); !o.empty()) {
        if (!isValidId(o)) throw ApiError::invalidParam("original", "original is not an id");
        filter.originalId = o;
    }
    filter.limit = static_cast<int>(parseLimit(queryValue(request, "limit")));
    if (auto c = queryValue(request, "cursor"); !c.empty()) {
        int64_t seq = 0;
        auto [p, ec] = std::from_chars(c.data(), c.data() + c.size(), seq);
        if (ec != std::errc() || p != c.data() + c.size() || seq <= 0)
            throw ApiError::invalidParam("cursor", "cursor is not one this server gave out");
        filter.beforeSeq = seq;
    }
    JobPage page = s.jobs.list(filter);
    json jobs = json::array();
    for (const Job& j : page.jobs) jobs.push_back(jobJson(j));
    sendJson(response, 200,
             {{"jobs", std::move(jobs)},
              {"next_cursor", page.nextCursor ? json(std::to_string(*page.nextCursor)) : json(nullptr)}});
}

void output(Services& s, const Rest::Request& request, Http::ResponseWriter& response) {
    Job job = s.jobs.get(jobId(request));
    std::string indexText = request.param(":index").as<std::string>();
    uint32_t index = 0;
    auto [p, ec] = std::from_chars(indexText.data(), indexText.data() + indexText.size(), index);
    if (ec != std::errc() || p != indexText.data() + indexText.size())
        throw ApiError::notFound("no output '" + indexText + "' of job " + job.id);
    const Output* found = nullptr;
    for (const Output& o : job.outputs)
        if (o.index == index) found = &o;
    if (!found) {
        if (job.state == JobState::Succeeded)
            throw ApiError::notFound("job " + job.id + " has no output " + indexText);
        ApiError e = ApiError::conflict("not_ready", "job " + job.id + " is " + std::string(toString(job.state)) +
                                                         "; output " + indexText + " does not exist yet");
        if (job.state == JobState::Queued || job.state == JobState::Running) e.retryAfter(1);
        throw e;
    }
    std::string etag = "\"" + found->sha256 + "\"";
    if (auto inm = request.headers().tryGetRaw("If-None-Match"); inm && inm->value() == etag) {
        addHeader(response, "ETag", etag);
        response.send(Http::Code::Not_Modified);
        return;
    }
    sendFile(response, s.blobs.path(found->sha256), found->mediaType,
             {{"ETag", etag}, {"Content-Disposition", "inline; filename=\"" + found->name + "\""}});
}

void original(Services& s, const Rest::Request& request, Http::ResponseWriter& response) {
    Job job = s.jobs.get(jobId(request));
    if (!s.blobs.exists(job.original.sha256)) throw ApiError::notFound("the original of job " + job.id + " is gone");
    sendFile(response, s.blobs.path(job.original.sha256), job.original.mediaType,
             {{"ETag", "\"" + job.original.sha256 + "\""}});
}

}  // namespace

void addJobRoutes(RouteTable& routes, Services& s) {
    routes.post("/v1/jobs", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { submit(s, rq, rs); });
    routes.get("/v1/jobs", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { list(s, rq, rs); });
    routes.get("/v1/jobs/:id", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        double wait = waitSeconds(rq);
        answerWhenEnded(s, rs, 200, s.jobs.get(jobId(rq)), false, wait);
    });
    routes.del("/v1/jobs/:id", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        s.jobs.remove(jobId(rq));
        rs.send(Http::Code::No_Content);
    });
    routes.post("/v1/jobs/:id/cancel", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        answerJob(rs, 202, s.jobs.cancel(jobId(rq)));
    });
    routes.post("/v1/jobs/:id/retry", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        answerJob(rs, 202, s.jobs.retry(jobId(rq)));
    });
    routes.get("/v1/jobs/:id/outputs/:index",
               [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { output(s, rq, rs); });
    routes.get("/v1/jobs/:id/original",
               [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { original(s, rq, rs); });
}

}  // namespace pixelmill::http
