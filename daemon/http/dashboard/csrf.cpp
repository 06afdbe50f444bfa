#include "http/dashboard/csrf.h"

#include "common/error.h"
#include "http/server/respond.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <pistache/http_headers.h>

#include <optional>

namespace pixelmill::http::dashboard {

using namespace Pistache;

namespace {

constexpr size_t kTokenBytes = 32;

bool isToken(const std::string& s) {
    if (s.size() != kTokenBytes * 2) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::optional<std::string> cookieToken(const Rest::Request& request) {
    for (const Http::Cookie& c : request.cookies())
        if (c.name == kCsrfCookie && isToken(c.value)) return c.value;
    return std::nullopt;
}

std::string newToken() {
    unsigned char bytes[kTokenBytes];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw ApiError::internal("no randomness for a CSRF token");
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out.push_back(hex[b >> 4]);
        out.push_back(hex[b & 15]);
    }
    return out;
}

struct Authority {
    std::string host;
    std::optional<long> port;
};

// "http://host:port/…" → host and (explicit) port; nullopt if not an http(s) URL.
std::optional<Authority> authorityOf(std::string_view url) {
    size_t scheme = url.find("://");
    if (scheme == std::string_view::npos) return std::nullopt;
    std::string_view s = url.substr(0, scheme);
    if (s != "http" && s != "https") return std::nullopt;
    std::string_view rest = url.substr(scheme + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (rest.find('@') != std::string_view::npos) return std::nullopt;
    Authority a;
    size_t colon = rest.rfind(':');
    size_t bracket = rest.rfind(']');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        try {
            a.port = std::stol(std::string(rest.substr(colon + 1)));
        } catch (const std::exception&) {
            return std::nullopt;
        }
        rest = rest.substr(0, colon);
    }
    a.host = std::string(rest);
    return a;
}

bool sameHost(const Rest::Request& request, std::string_view url) {
    auto from = authorityOf(url);
    auto host = request.headers().tryGet<Http::Header::Host>();
    if (!from || !host) return false;
    if (from->host != host->host()) return false;
    // A port the browser named must be the one it reached; without one, a
    // proxy may have changed it.
    return !from->port || *from->port == static_cast<long>(static_cast<uint16_t>(host->port()));
}

std::string rawHeader(const Rest::Request& request, const char* name) {
    auto h = request.headers().tryGetRaw(name);
    return h ? h->value() : std::string();
}

ApiError refused(const std::string& why) {
    return ApiError(403, "csrf_failed", "this form could not be accepted: " + why +
                                            ". Reload the page and try again.");
}

}  // namespace

std::string csrfToken(const Rest::Request& request, Http::ResponseWriter& response) {
    if (auto t = cookieToken(request)) return *t;
    std::string token = newToken();
    addHeader(response, "Set-Cookie",
              std::string(kCsrfCookie) + "=" + token + "; Path=/dashboard; HttpOnly; SameSite=Strict");
    return token;
}

void checkCsrf(const Rest::Request& request, const std::string& formToken) {
    std::string origin = rawHeader(request, "Origin");
    if (!origin.empty() && origin != "null") {
        if (!sameHost(request, origin)) throw refused("it came from another site (" + origin + ")");
    } else if (std::string referer = rawHeader(request, "Referer"); !referer.empty()) {
        if (!sameHost(request, referer)) throw refused("it came from another site");
    } else if (origin == "null") {
        throw refused("it came from an opaque origin");
    }
    auto cookie = cookieToken(request);
    if (!cookie) throw refused("the CSRF cookie is missing");
    if (formToken.size() != cookie->size() || CRYPTO_memcmp(formToken.data(), cookie->data(), cookie->size()) != 0)
        throw refused("the CSRF token is missing or wrong");
}

}  // namespace pixelmill::http::dashboard
