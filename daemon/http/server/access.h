#pragma once

// Who may do what, decided from a request's head before any body is read:
// bearer tokens with scopes, dashboard sessions, and a per-client rate limit.
//
// Tokens live in a file of one line per token, stored hashed:
//
//     # name        scopes              sha256 of the token
//     uploader      read,submit         sha256:9f86d081884c7d65…
//
// `pixelmill token NAME --scopes read,submit` makes a token and prints the
// line. A presented token is hashed and compared with every stored hash in
// constant time, so neither the file nor the timing tells a token.
// Scopes: `read` (GET and HEAD), `submit` (new jobs, originals, batches,
// cancel and retry), `admin` (everything, deletes of originals and plugin
// reloads included). Which one a request needs is declared by the route it
// matched (http/server/route_rules.h), never guessed from the raw path.
#include "http/server/route_rules.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill::http {

enum Scope : unsigned { kRead = 1, kSubmit = 2, kAdmin = 4 };

struct Principal {
    std::string name;
    unsigned scopes = 0;  // Scope bits; admin implies the others
    bool allows(Scope s) const { return (scopes & kAdmin) || (scopes & s); }
};

struct TokenEntry {
    std::string name;
    unsigned scopes = 0;
    std::string sha256;  // 64 lowercase hex digits
};

// Parses a token file; throws std::runtime_error naming the line.
std::vector<TokenEntry> loadTokenFile(const std::filesystem::path& path);
// "read,submit" → bits; throws std::invalid_argument on an unknown scope.
unsigned parseScopes(std::string_view text);
std::string scopeNames(unsigned scopes);
// A new random token (URL-safe, 256 bits) and its file line.
std::string newToken();
std::string tokenLine(const std::string& name, unsigned scopes, const std::string& token);

struct AccessOptions {
    std::vector<TokenEntry> tokens;  // empty: auth is off
    bool publicMetrics = false;      // /metrics open even with auth on
    double rateLimit = 0;            // requests per second per client; 0: off
    double rateBurst = 0;            // bucket size; 0: max(1, rateLimit)
    std::chrono::seconds sessionLifetime{12 * 3600};
    // With auth off, the Host names served besides localhost, 127.0.0.1 and
    // [::1] (--public-url's host, the --listen address): anything else is
    // another site's name pointing here (DNS rebinding).
    std::vector<std::string> hosts;
};

// What a request's head says about its sender.
struct Caller {
    std::string_view method;
    std::string_view path;           // without the query
    RouteScope scope = RouteScope::Read;  // what the matched route needs
    std::string_view authorization;  // the Authorization header, or empty
    std::string_view cookie;         // the Cookie header, or empty
    std::string peer;                // the client's address
};

class AccessControl {
public:
    static constexpr const char* kSessionCookie = "pm_session";

    explicit AccessControl(AccessOptions options);

    bool authEnabled() const { return !tokens_.empty(); }

    // Admits a request or throws ApiError: 401 unauthorized (no or wrong
    // credentials), 403 forbidden (the route's scope is missing), 429
    // rate_limited (with Retry-After). Throws nothing for open routes.
    // Returns who the client is, as the rate limit and Idempotency-Key
    // tell clients apart: "token:NAME" when a token or session identified
    // it, else "ip:ADDRESS".
    std::string admit(const Caller& caller);

    // With auth off: whether a Host header names this server (see
    // AccessOptions::hosts). Always true with auth on.
    bool hostAllowed(std::string_view hostHeader) const;

    // A token's owner, compared in constant time; nullopt if no token matches.
    std::optional<Principal> authenticate(std::string_view token) const;
    // Dashboard sessions: a random id kept in memory for sessionLifetime.
    std::string openSession(const Principal& who);
    void closeSession(std::string_view id);
    std::optional<Principal> session(std::string_view id);

    // Requests answered 429 rate_limited since the start.
    uint64_t rateLimited() const { return rateLimited_.load(); }

private:
    std::optional<Principal> identify(const Caller& caller, bool& presented);
    void limitRate(const std::string& client);

    std::vector<TokenEntry> tokens_;
    std::vector<std::string> rawHashes_;  // 32 bytes each, same order as tokens_
    AccessOptions options_;

    struct Session {
        Principal who;
        std::chrono::steady_clock::time_point expires;
    };
    std::mutex mu_;
    std::map<std::string, Session, std::less<>> sessions_;
    struct Bucket {
        double tokens = 0;
        std::chrono::steady_clock::time_point at;
    };
    std::map<std::string, Bucket, std::less<>> buckets_;
    std::atomic<uint64_t> rateLimited_{0};
};

// The value of cookie `name` in a Cookie header, or empty.
std::string_view cookieValue(std::string_view header, std::string_view name);

}  // namespace pixelmill::http
