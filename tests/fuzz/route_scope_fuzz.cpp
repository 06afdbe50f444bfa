// The front end's decision from a request head: an arbitrary request line and
// headers against the daemon's route table. A target that passes the
// canonical check must be routed by Pistache exactly as the table matched it
// (so the scope checked is the scope of the handler that runs), and the
// scope is always the one registered for that method and template.
#include "http/server/route_rules.h"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace pixelmill::http;

namespace {

struct Route {
    const char* method;
    const char* path;
    RouteRule rule;
};

// The daemon's routes and rules (http/*_routes.cpp, http/dashboard/).
const std::vector<Route>& table() {
    static const std::vector<Route> routes = {
        {"GET", "/", RouteRule::open()}, {"GET", "/healthz", RouteRule::open()}, {"GET", "/readyz", RouteRule::open()},
        {"GET", "/openapi.json", RouteRule::open()}, {"GET", "/docs", RouteRule::open()},
        {"GET", "/dashboard/login", RouteRule::open()}, {"POST", "/dashboard/login", RouteRule::open(16384)},
        {"POST", "/dashboard/logout", RouteRule::open(16384)}, {"GET", "/dashboard/static/:file", RouteRule::open()},
        {"GET", "/s/:token", RouteRule::open()}, {"POST", "/v1/jobs/:id/outputs/:index/link", RouteRule{RouteScope::Read, 4096}},
        {"POST", "/dashboard/actions/link", RouteRule{RouteScope::Read, 16384}},
        {"GET", "/metrics", RouteRule::read()}, {"GET", "/v1/status", RouteRule::read()},
        {"GET", "/v1/plugins", RouteRule::read()}, {"POST", "/v1/plugins/reload", RouteRule::admin()},
        {"GET", "/v1/jobs", RouteRule::read()}, {"POST", "/v1/jobs", RouteRule::submit()},
        {"GET", "/v1/jobs/:id", RouteRule::read()}, {"DELETE", "/v1/jobs/:id", RouteRule{RouteScope::Submit, 0}},
        {"GET", "/v1/jobs/:id/attempts", RouteRule::read()}, {"POST", "/v1/jobs/:id/cancel", RouteRule::submit(0)},
        {"POST", "/v1/jobs/:id/retry", RouteRule::submit(0)}, {"GET", "/v1/jobs/:id/outputs/:index", RouteRule::read()},
        {"GET", "/v1/jobs/:id/original", RouteRule::read()}, {"POST", "/v1/originals", RouteRule::submit()},
        {"GET", "/v1/originals", RouteRule::read()}, {"GET", "/v1/originals/:id", RouteRule::read()},
        {"GET", "/v1/originals/:id/content", RouteRule::read()}, {"DELETE", "/v1/originals/:id", RouteRule::admin()},
        {"POST", "/v1/batches", RouteRule::submit()}, {"GET", "/v1/batches/:id", RouteRule::read()},
        {"POST", "/documents", RouteRule::submit()}, {"GET", "/documents/:id", RouteRule::read()},
        {"GET", "/documents/:id/pages/:n", RouteRule::read()}, {"POST", "/ascii", RouteRule::submit()},
        {"POST", "/upload", RouteRule::submit()}, {"GET", "/image/:id", RouteRule::read()},
        {"GET", "/image/:id/ascii", RouteRule::read()}, {"GET", "/image/:id/original", RouteRule::read()},
        {"GET", "/list", RouteRule::read()}, {"GET", "/status", RouteRule::read()},
        {"POST", "/resize", RouteRule::submit()}, {"GET", "/resize/status/:guid", RouteRule::read()},
        {"GET", "/resize/:guid", RouteRule::read()}, {"POST", "/thumbnail", RouteRule::submit()},
        {"GET", "/thumbnail/:id", RouteRule::read()}, {"GET", "/photos/pending", RouteRule::read()},
        {"PUT", "/photos/process", RouteRule::submit()}, {"GET", "/dashboard", RouteRule::read()},
        {"GET", "/dashboard/jobs", RouteRule::read()}, {"GET", "/dashboard/jobs/:id", RouteRule::read()},
        {"GET", "/dashboard/originals", RouteRule::read()}, {"GET", "/dashboard/plugins", RouteRule::read()},
        {"GET", "/dashboard/submit", RouteRule::read()}, {"POST", "/dashboard/actions/retry", RouteRule::submit()},
        {"POST", "/dashboard/actions/cancel", RouteRule::submit()},
        {"POST", "/dashboard/actions/process", RouteRule::submit()},
        {"POST", "/dashboard/actions/submit", RouteRule::submit()},
    };
    return routes;
}

const RouteIndex& index() {
    static const RouteIndex built = [] {
        RouteIndex i;
        for (const Route& r : table()) i.add(r.method, r.path, r.rule);
        return i;
    }();
    return built;
}

// What Pistache's router does to a resource before matching it
// (SegmentTreeNode::sanitizeResource): fold runs of '/', drop one trailing
// '/', drop the first character whatever it is.
std::string pistacheSanitize(std::string_view path) {
    std::string folded;
    for (char c : path)
        if (!(c == '/' && !folded.empty() && folded.back() == '/')) folded.push_back(c);
    if (folded.empty()) return folded;
    if (folded.back() == '/') return folded.size() >= 2 ? folded.substr(1, folded.size() - 2) : std::string();
    return folded.substr(1);
}

// The template with its :params replaced by the path's segments.
std::string expand(std::string_view tmpl, std::string_view path) {
    std::string out;
    size_t t = 0, p = 0;
    while (t < tmpl.size()) {
        if (tmpl[t] == ':') {
            size_t tEnd = tmpl.find('/', t);
            size_t pEnd = path.find('/', p);
            out += path.substr(p, pEnd == std::string_view::npos ? std::string_view::npos : pEnd - p);
            if (tEnd == std::string_view::npos) return out;
            t = tEnd;
            p = pEnd == std::string_view::npos ? path.size() : pEnd;
            continue;
        }
        out.push_back(tmpl[t]);
        if (p < path.size()) ++p;
        ++t;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    size_t eol = input.find("\r\n");
    std::string_view line = input.substr(0, eol);
    std::string_view headers = eol == std::string_view::npos ? std::string_view() : input.substr(eol + 2);
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return 0;
    std::string_view method = line.substr(0, sp);
    std::string_view target = line.substr(sp + 1);
    target = target.substr(0, target.rfind(" HTTP/"));

    if (nonCanonicalTarget(target) == nullptr) {
        std::string_view path = targetPath(target);
        if (path.empty() || path.front() != '/') std::abort();
        if (path.find("//") != std::string_view::npos) std::abort();
        auto m = index().match(method, path);
        if (m) {
            // The router sees the same path the table matched: nothing folded away.
            if (pistacheSanitize(path) != path.substr(1)) std::abort();
            if (expand(*m->path, path) != path) std::abort();
            std::string_view asMethod = method == "HEAD" ? std::string_view("GET") : method;
            bool found = false;
            for (const Route& r : table())
                if (r.path == *m->path && r.method == asMethod) {
                    found = true;
                    if (r.rule.scope != m->rule.scope || r.rule.maxBody != m->rule.maxBody || !m->methodAllowed)
                        std::abort();
                }
            if (!found && (m->methodAllowed || m->rule.maxBody != 0)) std::abort();
        }
    }

    // Every Host header reduces to a lower-case host without a port.
    while (!headers.empty()) {
        size_t e = headers.find("\r\n");
        std::string_view h = headers.substr(0, e);
        headers = e == std::string_view::npos ? std::string_view() : headers.substr(e + 2);
        size_t colon = h.find(':');
        if (colon == std::string_view::npos) continue;
        std::string host = hostOfHeader(h.substr(colon + 1));
        for (char c : host)
            if (std::isupper(static_cast<unsigned char>(c))) std::abort();
        if (!host.empty() && host.front() != '[' && host.find(':') != std::string::npos) std::abort();
        (void)hostOfUrl(h.substr(colon + 1));
    }
    return 0;
}
