#pragma once

// What each route needs before its body is read: the scope a caller must
// hold, and whether (and how much of) a body it takes. The front end decides
// from these, matched against the request's own path, so authorisation uses
// the route that will run — never a guess from the raw path.
//
// No Pistache here: the fuzz harness links this file alone.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill::http {

enum class RouteScope { Open, Read, Submit, Admin };

struct RouteRule {
    static constexpr uint64_t kUpload = UINT64_MAX;  // a body up to --max-upload-bytes

    RouteScope scope = RouteScope::Read;
    uint64_t maxBody = 0;  // 0: the route takes no body (one is refused before it is read)

    static RouteRule open(uint64_t body = 0) { return {RouteScope::Open, body}; }
    static RouteRule read() { return {RouteScope::Read, 0}; }
    static RouteRule submit(uint64_t body = kUpload) { return {RouteScope::Submit, body}; }
    static RouteRule admin(uint64_t body = 0) { return {RouteScope::Admin, body}; }
};

const char* scopeName(RouteScope scope);

// The registered route templates ("/v1/jobs/:id") with each method's rule,
// matched the way Pistache's router matches a canonical path: segment by
// segment, a `:name` segment taking any one non-empty segment, a literal
// segment preferred over a parameter.
class RouteIndex {
public:
    // method: "GET", "POST", "PUT", "DELETE", "PATCH".
    void add(std::string_view method, const std::string& path, RouteRule rule);

    struct Match {
        const std::string* path = nullptr;  // the template
        // The method's rule; for a method the template does not have (405),
        // the weakest rule of its methods, without a body.
        RouteRule rule;
        bool methodAllowed = false;
        std::string allow;  // allowOf(the template), for a 405's Allow header
    };
    // nullopt: no template has this path (404). HEAD is matched as GET.
    std::optional<Match> match(std::string_view method, std::string_view path) const;

    // The methods a template answers, as an Allow header: its own, HEAD
    // where it has GET, and OPTIONS ("GET, HEAD, POST, OPTIONS"). Empty for
    // a template never added.
    std::string allowOf(const std::string& templatePath) const;

    std::vector<std::string> templates() const;

private:
    struct Entry {
        std::string path;
        std::vector<std::string> segments;
        std::vector<std::pair<std::string, RouteRule>> methods;
    };
    static std::string allowOf(const Entry& e);
    std::vector<Entry> entries_;
};

// Why a request target is not canonical, or nullptr when it is. A canonical
// target starts with exactly one `/`, has no empty segment (`//`), no `.` or
// `..` segment, and no percent-encoded `/`, `\`, `.` or NUL in its path (an
// encoded separator or dot would mean one thing to a proxy and another here).
// The query (after `?`) is not looked at.
const char* nonCanonicalTarget(std::string_view target);

// The path of a request target: up to `?` or `#`.
std::string_view targetPath(std::string_view target);

// The host of a Host header without its port, lower-cased ("[::1]:8080" → "[::1]").
std::string hostOfHeader(std::string_view host);
// The host of a URL ("https://img.example.com:8443/x" → "img.example.com"), or "".
std::string hostOfUrl(std::string_view url);

}  // namespace pixelmill::http
