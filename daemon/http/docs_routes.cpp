// GET /openapi.json and GET /docs: the OpenAPI 3 document of API v1, compiled
// into the binary from http/openapi/openapi.json, and a page rendered from it.
#include "common/embedded.h"
#include "http/api.h"
#include "http/docs_page.h"
#include "http/respond.h"

#include <pistache/router.h>

#include <memory>
#include <sstream>
#include <stdexcept>

namespace pixelmill::http {

using namespace Pistache;
using json = nlohmann::ordered_json;

namespace {

std::string_view embedded(std::string_view name) {
    for (const EmbeddedFile& f : apiDocsFiles())
        if (f.path == name) return f.contents;
    throw std::logic_error("http/openapi/" + std::string(name) + " is not embedded");
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

}  // namespace

void addDocsRoutes(RouteTable& routes, Services&) {
    // Parsed once, at start-up: a broken document stops the daemon from
    // starting rather than serving a broken page.
    auto document = std::make_shared<const json>(json::parse(embedded("openapi.json")));
    std::string_view stylesheet = embedded("docs.css");
    routes.get("/openapi.json", [document](const Rest::Request& rq, Http::ResponseWriter& rs) {
        json served = *document;
        served["servers"] = json::array({{{"url", origin(rq)}, {"description", "this daemon"}}});
        sendJson(rs, 200, served);
    }, RouteRule::open());
    routes.get("/docs", [document, stylesheet](const Rest::Request& rq, Http::ResponseWriter& rs) {
        sendText(rs, 200, renderDocsPage(*document, origin(rq), stylesheet), "text/html; charset=utf-8");
    }, RouteRule::open());
}

}  // namespace pixelmill::http
