// Originals (upload now, process later) and batches.
#include "common/clock.h"
#include "common/error.h"
#include "http/api/job_json.h"
#include "http/api/route_helpers.h"
#include "http/server/body.h"
#include "http/server/respond.h"

#include <pistache/router.h>

namespace pixelmill::http {

using namespace Pistache;
using json = nlohmann::ordered_json;

namespace {

std::string idParam(const Rest::Request& request) { return request.param(":id").as<std::string>(); }

void answerOriginal(Http::ResponseWriter& response, const StoredOriginal& stored) {
    sendJson(response, stored.created ? 201 : 200, originalJson(stored.original),
             {{"Location", "/v1/originals/" + stored.original.id}});
}

void upload(Services& s, const Rest::Request& request, RequestBody& body, Http::ResponseWriter& response) {
    std::string_view type = body.contentType;
    if (type.substr(0, type.find(';')) == "application/json") {
        nlohmann::json doc = body.jsonObject();
        if (!doc.contains("source_url") || !doc["source_url"].is_string())
            throw ApiError::badRequest("missing_file", "a JSON upload names source_url", "source_url");
        if (!s.fetchSource)
            throw ApiError::badRequest("invalid_param", "source_url is not available in this daemon", "source_url");
        std::string url = doc["source_url"].get<std::string>();
        answerLater(s, response, [&s, url](Http::ResponseWriter& writer) {
            answerOriginal(writer, s.jobs.storeOriginal(s.fetchSource(url)));
        });
        return;
    }
    std::optional<Upload> file;
    if (body.multipart) {
        file = body.takeFile("file");
        if (!file) throw ApiError::badRequest("missing_file", "the file goes in the multipart field 'file'", "file");
    } else {
        if (!body.present || body.size == 0) throw ApiError::badRequest("missing_file", "the request has no body", "file");
        auto name = request.query().get("filename");
        file = body.takeRaw(s.blobs, name ? *name : "");
    }
    // The checks read the whole source (SVG references, probe): off the reactor thread.
    auto source = std::make_shared<Upload>(std::move(*file));
    answerChecked(s, response, [&s, source](Http::ResponseWriter& writer) {
        answerOriginal(writer, s.jobs.storeOriginal(std::move(*source)));
    });
}

json batchJson(const Batch& batch, const std::vector<Job>& jobs) {
    json counts = {{"queued", 0}, {"running", 0}, {"succeeded", 0}, {"failed", 0}, {"canceled", 0}};
    json list = json::array();
    for (const Job& j : jobs) {
        counts[std::string(toString(j.state))] = counts[std::string(toString(j.state))].get<int>() + 1;
        list.push_back(jobJson(j));
    }
    return {{"id", batch.id},
            {"plugin", batch.plugin},
            {"created_at", formatTime(batch.createdAt)},
            {"counts", std::move(counts)},
            {"jobs", std::move(list)}};
}

}  // namespace

void addOriginalRoutes(RouteTable& routes, Services& s) {
    routes.post("/v1/originals", [&s](const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) {
        upload(s, rq, body, rs);
    });
    routes.get("/v1/originals", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        OriginalFilter filter;
        auto pending = rq.query().get("pending");
        if (pending && *pending != "true" && *pending != "false")
            throw ApiError::invalidParam("pending", "pending must be true or false");
        filter.pendingOnly = pending && *pending == "true";
        filter.limit = parseLimit(rq);
        filter.beforeSeq = parseCursor(rq);
        OriginalPage page = s.jobs.listOriginals(filter);
        json list = json::array();
        for (const Original& o : page.originals) list.push_back(originalJson(o));
        sendPage(rs, "originals", std::move(list), page.nextCursor);
    });
    routes.get("/v1/originals/:id", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        sendJson(rs, 200, originalJson(s.jobs.getOriginal(idParam(rq))));
    });
    routes.get("/v1/originals/:id/content", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        Original o = s.jobs.getOriginal(idParam(rq));
        if (o.purgedAt || !s.blobs.exists(o.sha256))
            throw ApiError::notFound("the content of original " + o.id + " was removed");
        sendFile(rs, s.blobs.path(o.sha256), o.mediaType,
                 storedContentHeaders(Stored::Original, s.behindTokens(), o.mediaType, o.filename, o.sha256));
    });
    routes.del("/v1/originals/:id", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        Original o = s.jobs.getOriginal(idParam(rq));
        s.storage.deleteOriginal(o.id);
        sendEmpty(rs, 204);
    }, RouteRule::admin());

    routes.post("/v1/batches", [&s](const Rest::Request&, RequestBody& body, Http::ResponseWriter& rs) {
        nlohmann::json doc = body.jsonObject();
        BatchRequest request;
        request.job.plugin = stringMember(doc, "plugin");
        request.job.preset = stringMember(doc, "preset");
        if (doc.contains("params") && !doc["params"].is_object())
            throw ApiError::invalidParam("params", "params must be an object");
        request.job.params = doc.value("params", nlohmann::json::object());
        request.job.priority = priorityMember(doc);
        request.job.callbackUrl = stringMember(doc, "callback_url");
        request.job.callbackEmail = stringMember(doc, "callback_email");
        if (!doc.contains("original_ids") || !doc["original_ids"].is_array())
            throw ApiError::invalidParam("original_ids", "original_ids must be an array of original ids");
        for (const auto& id : doc["original_ids"]) {
            if (!id.is_string()) throw ApiError::invalidParam("original_ids", "original_ids must hold strings");
            request.originalIds.push_back(id.get<std::string>());
        }
        auto [batch, jobs] = s.jobs.createBatch(request);
        sendJson(rs, 202, batchJson(batch, jobs), {{"Location", "/v1/batches/" + batch.id}});
    });
    routes.get("/v1/batches/:id", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        auto [batch, jobs] = s.jobs.getBatch(idParam(rq));
        sendJson(rs, 200, batchJson(batch, jobs));
    });
}

}  // namespace pixelmill::http
