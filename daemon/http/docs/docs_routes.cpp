// GET /openapi.json and GET /docs: the OpenAPI 3 document of API v1, compiled
// into the binary from http/docs/openapi/openapi.json, and a page rendered from it.
#include "common/embedded.h"
#include "http/docs/docs_page.h"
#include "http/server/respond.h"
#include "http/services.h"

#include <pistache/router.h>

#include <cctype>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace pixelmill::http {

using namespace Pistache;
using json = nlohmann::ordered_json;

namespace {

std::string_view embedded(std::string_view name) {
    for (const EmbeddedFile& f : apiDocsFiles())
        if (f.path == name) return f.contents;
    throw std::logic_error("http/docs/openapi/" + std::string(name) + " is not embedded");
}

bool plainHost(std::string_view host) {
    if (host.empty() || host.size() > 255) return false;
    for (char c : host) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                  c == ':' || c == '[' || c == ']';
        if (!ok) return false;
    }
    return true;
}

// The origin the client addressed (its Host header), so that servers[] and the
// page's curl lines work as pasted; the example origin if Host is absent or odd.
std::string origin(const Rest::Request& request) {
    auto host = request.headers().tryGet<Http::Header::Host>();
    if (!host) return kExampleOrigin;
    std::ostringstream text;
    host->write(text);
    std::string value = text.str();
    if (value.ends_with(":80")) value.resize(value.size() - 3);  // Pistache adds the default port
    return plainHost(value) ? "http://" + value : std::string(kExampleOrigin);
}

json errorResponse(const std::string& description, const std::string& code, const std::string& challenge) {
    return {{"description", description},
            {"x-error-codes", json::array({code})},
            {"headers",
             {{"WWW-Authenticate",
               {{"description", challenge}, {"required", true}, {"schema", {{"type", "string"}}}}}}},
            {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
}

// The written document with what the route table decides: the scope each
// operation needs (x-pixelmill-scope, the same rule the front end applies),
// the bearer scheme, and the 401, 403 and 429 (the per-client rate limit) of
// every operation that is not open.
json withSecurity(json doc, const RouteIndex& rules) {
    doc["components"]["securitySchemes"]["bearer"] = {
        {"type", "http"},
        {"scheme", "bearer"},
        {"description",
         "A token made by `pixelmill token NAME --scopes read,submit,admin`, needed when the daemon runs with "
         "`--token-file`. Each operation's `x-pixelmill-scope` names the scope it needs; admin holds every scope."}};
    doc["components"]["responses"]["Unauthorized"] =
        errorResponse("Tokens are on and none, or an unknown one, was sent.", "unauthorized",
                      "`Bearer realm=\"pixelmill\"`");
    doc["components"]["responses"]["Forbidden"] =
        errorResponse("The token is valid but lacks the scope this operation needs.", "forbidden",
                      "`Bearer realm=\"pixelmill\", error=\"insufficient_scope\"`");
    doc["security"] = json::array({{{"bearer", json::array()}}});
    for (auto& [path, item] : doc["paths"].items()) {
        std::string route;  // "/v1/jobs/{id}" as the router writes it: "/v1/jobs/:id"
        for (char c : path) {
            if (c == '{') route += ':';
            else if (c != '}') route += c;
        }
        for (auto& [method, op] : item.items()) {
            if (!op.is_object() || !op.contains("responses")) continue;  // path-wide parameters
            std::string upper;
            for (char c : method) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            auto m = rules.match(upper, route);
            if (!m || !m->methodAllowed || *m->path != route)
                throw std::logic_error("openapi.json documents " + upper + " " + path + ", which no route serves");
            op["x-pixelmill-scope"] = scopeName(m->rule.scope);
            if (m->rule.scope == RouteScope::Open) {
                op["security"] = json::array();  // no token needed, even with tokens on
                continue;
            }
            op["responses"]["401"] = {{"$ref", "#/components/responses/Unauthorized"}};
            op["responses"]["403"] = {{"$ref", "#/components/responses/Forbidden"}};
            // Where the written document has a 429 already, it names rate_limited too.
            if (!op["responses"].contains("429")) op["responses"]["429"] = {{"$ref", "#/components/responses/RateLimited"}};
        }
    }
    return doc;
}

}  // namespace

void addDocsRoutes(RouteTable& routes, Services&) {
    // Parsed once, at start-up: a broken document stops the daemon from
    // starting rather than serving a broken page.
    auto written = std::make_shared<const json>(json::parse(embedded("openapi.json")));
    std::string_view stylesheet = embedded("docs.css");
    // Completed from the route table on first use, when every route is in it.
    struct Completed {
        std::once_flag once;
        json doc;
    };
    auto completed = std::make_shared<Completed>();
    auto document = [written, completed, rules = routes.rules()]() -> const json& {
        std::call_once(completed->once, [&] { completed->doc = withSecurity(*written, *rules); });
        return completed->doc;
    };
    routes.get("/openapi.json", [document](const Rest::Request& rq, Http::ResponseWriter& rs) {
        json served = document();
        served["servers"] = json::array({{{"url", origin(rq)}, {"description", "this daemon"}}});
        sendJson(rs, 200, served);
    }, RouteRule::open());
    routes.get("/docs", [document, stylesheet](const Rest::Request& rq, Http::ResponseWriter& rs) {
        sendText(rs, 200, renderDocsPage(document(), origin(rq), stylesheet), "text/html; charset=utf-8");
    }, RouteRule::open());
}

}  // namespace pixelmill::http
