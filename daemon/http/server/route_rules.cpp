#include "http/server/route_rules.h"

#include <algorithm>
#include <cctype>

namespace pixelmill::http {

namespace {

std::vector<std::string_view> splitPath(std::string_view path) {
    std::vector<std::string_view> out;
    if (path.empty() || path == "/") return out;
    if (path.front() == '/') path.remove_prefix(1);
    for (;;) {
        size_t slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

int strength(RouteScope s) {
    switch (s) {
        case RouteScope::Open: return 0;
        case RouteScope::Read: return 1;
        case RouteScope::Submit: return 2;
        case RouteScope::Admin: return 3;
    }
    return 3;
}

int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

const char* scopeName(RouteScope scope) {
    switch (scope) {
        case RouteScope::Open: return "open";
        case RouteScope::Read: return "read";
        case RouteScope::Submit: return "submit";
        case RouteScope::Admin: return "admin";
    }
    return "admin";
}

void RouteIndex::add(std::string_view method, const std::string& path, RouteRule rule) {
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.path == path; });
    if (it == entries_.end()) {
        Entry e;
        e.path = path;
        for (std::string_view s : splitPath(path)) e.segments.emplace_back(s);
        entries_.push_back(std::move(e));
        it = entries_.end() - 1;
    }
    for (auto& [m, r] : it->methods)
        if (m == method) {
            r = rule;
            return;
        }
    it->methods.emplace_back(std::string(method), rule);
}

std::optional<RouteIndex::Match> RouteIndex::match(std::string_view method, std::string_view path) const {
    if (method == "HEAD") method = "GET";
    std::vector<std::string_view> segments = splitPath(path);
    const Entry* best = nullptr;
    for (const Entry& e : entries_) {
        if (e.segments.size() != segments.size()) continue;
        bool ok = true;
        for (size_t i = 0; ok && i < segments.size(); ++i) {
            const std::string& t = e.segments[i];
            if (!t.empty() && t.front() == ':') ok = !segments[i].empty();
            else ok = t == segments[i];
        }
        if (!ok) continue;
        if (!best) {
            best = &e;
            continue;
        }
        // Both match: the first segment where they differ decides, a literal over a parameter.
        for (size_t i = 0; i < segments.size(); ++i) {
            bool eParam = e.segments[i].front() == ':', bParam = best->segments[i].front() == ':';
            if (eParam == bParam) continue;
            if (!eParam) best = &e;
            break;
        }
    }
    if (!best) return std::nullopt;
    Match m;
    m.path = &best->path;
    m.allow = allowOf(*best);
    for (const auto& [name, rule] : best->methods)
        if (name == method) {
            m.rule = rule;
            m.methodAllowed = true;
            return m;
        }
    m.rule = RouteRule{RouteScope::Admin, 0};
    for (const auto& [name, rule] : best->methods)
        if (strength(rule.scope) < strength(m.rule.scope)) m.rule.scope = rule.scope;
    return m;
}

std::string RouteIndex::allowOf(const Entry& e) {
    auto has = [&](std::string_view name) {
        return std::any_of(e.methods.begin(), e.methods.end(), [&](const auto& m) { return m.first == name; });
    };
    std::string allow;
    for (const char* name : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
        if (has(std::string_view(name) == "HEAD" ? "GET" : name)) allow += std::string(name) + ", ";
    return allow + "OPTIONS";
}

std::string RouteIndex::allowOf(const std::string& templatePath) const {
    for (const Entry& e : entries_)
        if (e.path == templatePath) return allowOf(e);
    return {};
}

std::vector<std::string> RouteIndex::templates() const {
    std::vector<std::string> out;
    for (const Entry& e : entries_) out.push_back(e.path);
    return out;
}

std::string_view targetPath(std::string_view target) { return target.substr(0, target.find_first_of("?#")); }

const char* nonCanonicalTarget(std::string_view target) {
    if (target.empty() || target.front() != '/') return "the request target must start with /";
    std::string_view path = targetPath(target);
    if (path.size() > 1 && path[1] == '/') return "the path must start with exactly one /";
    if (path.find("//") != std::string_view::npos) return "the path has an empty segment (//)";
    for (std::string_view seg : splitPath(path))
        if (seg == "." || seg == "..") return "the path has a . or .. segment";
    for (size_t i = 0; i < path.size(); ++i) {
        if (path[i] != '%') continue;
        int hi = i + 2 < path.size() ? hexDigit(path[i + 1]) : -1;
        int lo = i + 2 < path.size() ? hexDigit(path[i + 2]) : -1;
        if (hi < 0 || lo < 0) return "the path has a malformed percent-encoding";
        int c = hi * 16 + lo;
        if (c == '/' || c == '\\' || c == '.' || c == 0) return "the path has an encoded /, \\, . or NUL";
    }
    return nullptr;
}

std::string hostOfHeader(std::string_view host) {
    while (!host.empty() && (host.front() == ' ' || host.front() == '\t')) host.remove_prefix(1);
    while (!host.empty() && (host.back() == ' ' || host.back() == '\t')) host.remove_suffix(1);
    std::string_view name = host;
    if (!host.empty() && host.front() == '[') {
        size_t close = host.find(']');
        if (close == std::string_view::npos) return {};
        name = host.substr(0, close + 1);
        std::string_view rest = host.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') return {};
    } else {
        size_t colon = host.find(':');
        name = host.substr(0, colon);
    }
    std::string out;
    for (char c : name) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (!out.empty() && out.back() == '.') out.pop_back();  // "localhost." names the same host
    return out;
}

std::string hostOfUrl(std::string_view url) {
    size_t scheme = url.find("://");
    if (scheme == std::string_view::npos) return {};
    std::string_view rest = url.substr(scheme + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
    return hostOfHeader(rest);
}

}  // namespace pixelmill::http
