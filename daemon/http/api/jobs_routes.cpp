#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "http/api/job_json.h"
#include "http/api/output_download.h"
#include "http/api/route_helpers.h"
#include "http/server/body.h"
#include "http/server/respond.h"
#include "jobs/chains.h"

#include <pistache/router.h>

#include <ctime>
#include <set>

namespace pixelmill::http {

using namespace Pistache;
using json = nlohmann::ordered_json;

namespace {

// Form fields and query names that are not plugin parameters.
const std::set<std::string> kReserved = {"plugin",   "preset",          "jobs",         "steps",        "callback_url",
                                         "callback_email", "priority", "idempotency_key", "wait",
                                         "file",     "filename"};

std::string queryValue(const Rest::Request& request, const std::string& key) {
    auto v = request.query().get(key);
    return v ? *v : std::string();
}

// RFC 3339 (2026-11-22T17:49:03Z, fractions and offsets allowed) to unix ms.
int64_t parseTimestamp(const std::string& text, const char* field) {
    std::tm tm{};
    int y, mo, d, h, mi;
    double sec;
    char tail[16] = {0};
    int n = std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%lf%15s", &y, &mo, &d, &h, &mi, &sec, tail);
    if (n < 6) throw ApiError::invalidParam(field, std::string(field) + " must be an RFC 3339 time, got '" + text + "'");
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = 0;
    int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000 + static_cast<int64_t>(sec * 1000);
    std::string zone = tail;
    if (!zone.empty() && zone != "Z" && zone != "z") {
        int sign = zone[0] == '-' ? -1 : 1;
        int zh = 0, zm = 0;
        if ((zone[0] != '+' && zone[0] != '-') || std::sscanf(zone.c_str() + 1, "%d:%d", &zh, &zm) != 2)
            throw ApiError::invalidParam(field, std::string(field) + " has an unreadable time zone: '" + text + "'");
        ms -= sign * (zh * 3600 + zm * 60) * 1000LL;
    }
    return ms;
}

std::string jobId(const Rest::Request& request) { return request.param(":id").as<std::string>(); }

// What every form of submit takes from the request itself: the
// Idempotency-Key (the header, or `named`: the reserved field, query name or
// JSON key; both must then agree), the client it belongs to and the
// request's id.
void applyRequest(SubmitRequest& submit, const Rest::Request& request, std::optional<std::string> named) {
    auto header = request.headers().tryGetRaw("Idempotency-Key");
    if (header && named && header->value() != *named)
        throw ApiError::invalidParam("idempotency_key",
                                     "the Idempotency-Key header and the idempotency_key field differ");
    submit.idempotencyKey = header ? std::optional(header->value()) : std::move(named);
    if (const RequestTiming* origin = currentTiming()) {
        submit.client = origin->client;
        submit.requestId = origin->requestId;
    }
}

// The reserved fields of a text submit (multipart fields or query string).
void applyReserved(SubmitRequest& submit, const Rest::Request& request, std::map<std::string, std::string>& reserved) {
    submit.plugin = reserved["plugin"];
    submit.preset = reserved["preset"];
    if (reserved.count("priority")) submit.priority = parsePriority(reserved["priority"]);
    submit.callbackUrl = reserved["callback_url"];
    submit.callbackEmail = reserved["callback_email"];
    auto key = reserved.find("idempotency_key");
    applyRequest(submit, request, key == reserved.end() ? std::nullopt : std::optional(key->second));
}

// The entries of `list` (jobs or steps: a JSON array of {"plugin" or
// "preset", "params"}), each with the submit's own priority, callbacks and
// request id; one past `most` at most, for the count's error to name.
std::vector<SubmitRequest> entriesOf(const std::string& list, const nlohmann::json& given, const SubmitRequest& common,
                                     size_t most) {
    if (!given.is_array())
        throw ApiError::invalidParam(list, list + " is a JSON array of {\"plugin\", \"params\"}");
    if (!common.plugin.empty() || !common.preset.empty())
        throw ApiError::invalidParam(list, "give plugin (or preset) or " + list + ", not both: each entry of " + list +
                                               " names its own");
    std::vector<SubmitRequest> entries;
    for (size_t i = 0; i < given.size() && i <= most; ++i) {
        const nlohmann::json& entry = given[i];
        std::string at = list + "[" + std::to_string(i) + "]";
        if (!entry.is_object()) throw ApiError::invalidParam(at, at + " is not an object");
        for (const auto& [key, value] : entry.items())
            if (key != "plugin" && key != "preset" && key != "params")
                throw ApiError::invalidParam(at + "." + key, at + " takes plugin or preset, and params");
        SubmitRequest request = common;
        request.plugin = stringMember(entry, "plugin");
        request.preset = stringMember(entry, "preset");
        if (entry.contains("params") && !entry["params"].is_object())
            throw ApiError::invalidParam(at + ".params", at + ".params must be an object");
        request.params = entry.value("params", nlohmann::json::object());
        entries.push_back(std::move(request));
    }
    return entries;
}

std::vector<SubmitRequest> jobEntries(const nlohmann::json& jobs, const SubmitRequest& common) {
    return entriesOf("jobs", jobs, common, kMaxJobsPerSubmit);
}

std::vector<SubmitRequest> stepEntries(const nlohmann::json& steps, const SubmitRequest& common) {
    return entriesOf("steps", steps, common, kMaxSteps);
}

// The `jobs` or `steps` form field or query value: JSON text.
nlohmann::json parseList(const std::string& list, const std::string& text) {
    nlohmann::json entries = nlohmann::json::parse(text, nullptr, false);
    if (entries.is_discarded())
        throw ApiError::invalidParam(list, list + " is not JSON: a JSON array of {\"plugin\", \"params\"}");
    return entries;
}

void answerAll(Http::ResponseWriter& response, const SubmittedAll& all) {
    json jobs = json::array();
    for (const Submitted& j : all.jobs) jobs.push_back(jobJson(j.job));
    sendJson(response, all.status, {{"original", originalJson(all.original)}, {"jobs", std::move(jobs)}});
}

// A JSON submit with `jobs`: of an original stored before, or of a source_url.
void submitJsonAll(Services& s, std::vector<SubmitRequest> entries, const std::string& sourceUrl,
                   const std::string& originalId, Http::ResponseWriter& response) {
    if (!originalId.empty()) return answerAll(response, s.jobs.submitAllOriginal(entries, originalId));
    if (sourceUrl.empty())
        throw ApiError::badRequest("missing_file", "a JSON submit names source_url or original_id", "source_url");
    if (!s.fetchSource)
        throw ApiError::badRequest("invalid_param", "source_url is not available in this daemon", "source_url");
    s.jobs.validateAll(entries);  // before spending a download on them
    answerLater(s, response, [&s, entries = std::move(entries), sourceUrl](Http::ResponseWriter& writer) {
        answerAll(writer, s.jobs.submitAll(entries, s.fetchSource(sourceUrl)));
    });
}

void submitJson(Services& s, const Rest::Request& request, const RequestBody& body, Http::ResponseWriter& response) {
    nlohmann::json doc = body.jsonObject();
    SubmitRequest submit;
    submit.plugin = stringMember(doc, "plugin");
    submit.preset = stringMember(doc, "preset");
    submit.priority = priorityMember(doc);
    submit.callbackUrl = stringMember(doc, "callback_url");
    submit.callbackEmail = stringMember(doc, "callback_email");
    applyRequest(submit, request,
                 doc.contains("idempotency_key") ? std::optional(stringMember(doc, "idempotency_key")) : std::nullopt);
    if (doc.contains("params") && !doc["params"].is_object())
        throw ApiError::invalidParam("params", "params must be an object");
    submit.params = doc.value("params", nlohmann::json::object());
    double wait = waitSeconds(request);

    std::string sourceUrl = stringMember(doc, "source_url");
    std::string originalId = stringMember(doc, "original_id");
    if (!sourceUrl.empty() && !originalId.empty())
        throw ApiError::badRequest("invalid_param", "give source_url or original_id, not both", "source_url");
    if (doc.contains("jobs") && doc.contains("steps"))
        throw ApiError::invalidParam("steps", "give jobs or steps, not both");
    for (const char* list : {"jobs", "steps"})
        if (doc.contains(list) && doc.contains("params"))
            throw ApiError::invalidParam("params", std::string("with ") + list + ", each entry has its own params");
    if (doc.contains("jobs")) return submitJsonAll(s, jobEntries(doc["jobs"], submit), sourceUrl, originalId, response);
    std::optional<std::vector<SubmitRequest>> steps;
    if (doc.contains("steps")) steps = stepEntries(doc["steps"], submit);
    if (!originalId.empty()) {
        Submitted result = steps ? s.jobs.submitChainOriginal(*steps, originalId) : s.jobs.submitOriginal(submit, originalId);
        answerWhenEnded(s, response, result.status, result.job, true, wait);
        return;
    }
    if (sourceUrl.empty())
        throw ApiError::badRequest("missing_file", "a JSON submit names source_url or original_id", "source_url");
    if (!s.fetchSource)
        throw ApiError::badRequest("invalid_param", "source_url is not available in this daemon", "source_url");
    // Validate what can be validated before spending a download on it.
    if (steps) s.jobs.validateChain(*steps);
    else s.jobs.validate(submit);
    answerLater(s, response, [&s, submit, steps, sourceUrl, wait](Http::ResponseWriter& writer) {
        Submitted result = steps ? s.jobs.submitChain(*steps, s.fetchSource(sourceUrl))
                                 : s.jobs.submit(submit, s.fetchSource(sourceUrl));
        answerWhenEnded(s, writer, result.status, result.job, true, wait);
    });
}

void submit(Services& s, const Rest::Request& request, RequestBody& body, Http::ResponseWriter& response) {
    std::string_view type = body.contentType;
    if (type.substr(0, type.find(';')) == "application/json") return submitJson(s, request, body, response);

    std::map<std::string, std::string> params;
    std::map<std::string, std::string> reserved;
    const auto& query = request.query();
    for (auto it = query.parameters_begin(); it != query.parameters_end(); ++it)
        (kReserved.count(it->first) ? reserved : params)[it->first] = it->second;

    std::optional<Upload> upload;
    if (body.multipart) {
        for (const auto& [k, v] : body.fields) (kReserved.count(k) ? reserved : params)[k] = v;
        upload = body.takeFile("file");
        if (!upload) {
            std::string hint = body.files.empty() ? "" : " (got a file in field '" + body.files.front().field + "')";
            throw ApiError::badRequest("missing_file", "the source goes in the multipart field 'file'" + hint, "file");
        }
    } else {
        if (!body.present || body.size == 0)
            throw ApiError::badRequest("missing_file", "the request has no body: send the source as multipart field "
                                                       "'file' or as the raw body", "file");
        upload = body.takeRaw(s.blobs, reserved["filename"]);
    }
    SubmitRequest submit;
    applyReserved(submit, request, reserved);
    double wait = waitSeconds(request);
    // The checks read the whole source (SVG references, probe): off the reactor thread.
    auto source = std::make_shared<Upload>(std::move(*upload));
    if (reserved.count("jobs") && reserved.count("steps"))
        throw ApiError::invalidParam("steps", "give jobs or steps, not both");
    for (const char* list : {"jobs", "steps"})
        if (reserved.count(list) && !params.empty())
            throw ApiError::invalidParam(params.begin()->first,
                                         std::string("with ") + list + ", parameters go in each entry's params");
    if (reserved.count("jobs")) {
        auto entries = jobEntries(parseList("jobs", reserved["jobs"]), submit);
        answerChecked(s, response, [&s, entries = std::move(entries), source](Http::ResponseWriter& writer) {
            answerAll(writer, s.jobs.submitAll(entries, std::move(*source)));
        });
        return;
    }
    if (reserved.count("steps")) {
        auto steps = stepEntries(parseList("steps", reserved["steps"]), submit);
        answerChecked(s, response, [&s, steps = std::move(steps), source, wait](Http::ResponseWriter& writer) {
            Submitted result = s.jobs.submitChain(steps, std::move(*source));
            answerWhenEnded(s, writer, result.status, result.job, true, wait);
        });
        return;
    }
    submit.params = std::move(params);
    answerChecked(s, response, [&s, submit = std::move(submit), source, wait](Http::ResponseWriter& writer) {
        Submitted result = s.jobs.submit(submit, std::move(*source));
        answerWhenEnded(s, writer, result.status, result.job, true, wait);
    });
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
    if (auto t = queryValue(request, "created_after"); !t.empty()) filter.createdFrom = parseTimestamp(t, "created_after");
    if (auto t = queryValue(request, "created_before"); !t.empty()) filter.createdTo = parseTimestamp(t, "created_before");
    filter.limit = parseLimit(request);
    filter.beforeSeq = parseCursor(request);
    JobPage page = s.jobs.list(filter);
    json jobs = json::array();
    for (const Job& j : page.jobs) jobs.push_back(jobJson(j));
    sendPage(response, "jobs", std::move(jobs), page.nextCursor);
}

void output(Services& s, const Rest::Request& request, Http::ResponseWriter& response) {
    sendOutput(s, request, response, s.jobs.get(jobId(request)), request.param(":index").as<std::string>());
}

void original(Services& s, const Rest::Request& request, Http::ResponseWriter& response) {
    Job job = s.jobs.get(jobId(request));
    if (job.original.purgedAt || !s.blobs.exists(job.original.sha256))
        throw ApiError::notFound("the original of job " + job.id + " was removed");
    sendFile(response, s.blobs.path(job.original.sha256), job.original.mediaType,
             storedContentHeaders(Stored::Original, s.behindTokens(), job.original.mediaType, job.original.filename,
                                  job.original.sha256));
}

}  // namespace

void addJobRoutes(RouteTable& routes, Services& s) {
    routes.post("/v1/jobs", [&s](const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) {
        submit(s, rq, body, rs);
    });
    routes.get("/v1/jobs", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { list(s, rq, rs); });
    routes.get("/v1/jobs/:id", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        double wait = waitSeconds(rq);
        answerWhenEnded(s, rs, 200, s.jobs.get(jobId(rq)), false, wait);
    });
    routes.del("/v1/jobs/:id", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        s.jobs.remove(jobId(rq));
        sendEmpty(rs, 204);
    });
    routes.get("/v1/jobs/:id/attempts", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        sendJson(rs, 200, {{"attempts", attemptsJson(s.jobs.get(jobId(rq)))}});
    });
    routes.post("/v1/jobs/:id/cancel", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        answerJob(rs, 202, s.jobs.cancel(jobId(rq)));
    }, RouteRule::submit(0));
    routes.post("/v1/jobs/:id/retry", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        answerJob(rs, 202, s.jobs.retry(jobId(rq)));
    }, RouteRule::submit(0));
    routes.get("/v1/jobs/:id/outputs/:index",
               [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { output(s, rq, rs); });
    routes.get("/v1/jobs/:id/original",
               [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { original(s, rq, rs); });
}

}  // namespace pixelmill::http
