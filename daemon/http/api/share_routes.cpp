// Share links: POST /v1/jobs/{id}/outputs/{index}/link signs a link to one
// output; GET /s/{token} serves it to anyone holding the link, no token
// asked, until it expires (jobs/share_links.h has the token's format).
#include "common/clock.h"
#include "common/error.h"
#include "http/api/output_download.h"
#include "http/server/body.h"
#include "http/server/respond.h"

#include <pistache/router.h>

#include <algorithm>

namespace pixelmill::http {

using namespace Pistache;

namespace {

// A link request's body: {"expires_in": 1…2592000}; JSON, well under this.
constexpr uint64_t kLinkBodyBytes = 4096;

// expires_in of the body: whole seconds, 1 s to 30 days (400 naming it otherwise).
int64_t expiresIn(const RequestBody& body) {
    const std::string range = "from 1 to " + std::to_string(ShareLinks::kMaxLifetimeSeconds) + " (30 days)";
    if (!body.present || body.size == 0)
        throw ApiError::invalidParam("expires_in", "send {\"expires_in\": SECONDS}, seconds " + range);
    nlohmann::json doc = body.jsonObject();
    if (!doc.contains("expires_in") || doc["expires_in"].is_null())
        throw ApiError::invalidParam("expires_in", "expires_in is required: seconds " + range);
    const nlohmann::json& v = doc["expires_in"];
    if (!v.is_number_integer()) throw ApiError::invalidParam("expires_in", "expires_in must be an integer: seconds " + range);
    constexpr int64_t kMax = ShareLinks::kMaxLifetimeSeconds;
    bool inRange = v.is_number_unsigned() ? v.get<uint64_t>() >= 1 && v.get<uint64_t>() <= static_cast<uint64_t>(kMax)
                                          : v.get<int64_t>() >= 1 && v.get<int64_t>() <= kMax;
    if (!inRange) throw ApiError::invalidParam("expires_in", "expires_in must be seconds " + range + ", got " + v.dump());
    return v.get<int64_t>();
}

void createLink(Services& s, const Rest::Request& request, const RequestBody& body, Http::ResponseWriter& response) {
    int64_t seconds = expiresIn(body);
    Job job = s.jobs.get(request.param(":id").as<std::string>());
    const Output& output = findOutput(job, request.param(":index").as<std::string>());
    ShareLink link{job.id, output.index, nowMs() + seconds * 1000};
    std::string url = "/s/" + s.links.sign(link);
    // The answer is a credential: no cache keeps it.
    sendJson(response, 201, {{"url", url}, {"expires_at", formatTime(link.expiresAtMs)}},
             {{"Location", url}, {"Cache-Control", "no-store"}});
}

void serveLink(Services& s, const Rest::Request& request, Http::ResponseWriter& response) {
    std::string token = request.param(":token").as<std::string>();
    std::optional<ShareLink> link = s.links.verify(token);
    if (!link) throw ApiError::notFound("no such share link");
    int64_t now = nowMs();
    if (link->expired(now))
        throw ApiError(410, "gone", "this share link expired at " + formatTime(link->expiresAtMs));
    Job job = s.jobs.get(link->jobId);
    // The bytes never change, but the link does expire: no shared cache
    // keeps them, and no browser beyond the link's life.
    int64_t left = std::max<int64_t>(0, (link->expiresAtMs - now) / 1000);
    sendOutput(s, request, response, job, std::to_string(link->outputIndex),
               "private, max-age=" + std::to_string(left));
}

}  // namespace

void addShareRoutes(RouteTable& routes, Services& s) {
    routes.post("/v1/jobs/:id/outputs/:index/link",
                [&s](const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) { createLink(s, rq, body, rs); },
                RouteRule{RouteScope::Read, kLinkBodyBytes});
    // Open: the signed token is the credential. The route is one segment
    // after /s/, matched on the canonical path like every other route.
    routes.get("/s/:token", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { serveLink(s, rq, rs); },
               RouteRule::open());
}

}  // namespace pixelmill::http
