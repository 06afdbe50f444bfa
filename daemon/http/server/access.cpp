#include "http/server/access.h"

#include "common/error.h"
#include "common/sha256.h"
#include "common/text.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pixelmill::http {
namespace {

// Tokens files and headers may carry any ASCII white space around a value.
std::string_view trimSpace(std::string_view s) { return trim(s, " \t\n\v\f\r"); }

bool isHex64(std::string_view s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

bool startsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string hexEncode(const unsigned char* data, size_t size) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (size_t i = 0; i < size; ++i) {
        out.push_back(digits[data[i] >> 4]);
        out.push_back(digits[data[i] & 15]);
    }
    return out;
}

}  // namespace

unsigned parseScopes(std::string_view text) {
    unsigned bits = 0;
    while (!text.empty()) {
        size_t comma = text.find(',');
        std::string_view one = trimSpace(text.substr(0, comma));
        if (one == "read") bits |= kRead;
        else if (one == "submit") bits |= kSubmit;
        else if (one == "admin") bits |= kAdmin;
        else if (!one.empty()) throw std::invalid_argument("unknown scope '" + std::string(one) + "' (read, submit, admin)");
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    if (bits == 0) throw std::invalid_argument("no scope given (read, submit, admin)");
    return bits;
}

std::string scopeNames(unsigned scopes) {
    std::string out;
    if (scopes & kRead) out += "read";
    if (scopes & kSubmit) out += out.empty() ? "submit" : ",submit";
    if (scopes & kAdmin) out += out.empty() ? "admin" : ",admin";
    return out;
}

std::vector<TokenEntry> loadTokenFile(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read the token file " + path.string());
    std::vector<TokenEntry> tokens;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        std::string_view text = trimSpace(line);
        if (text.empty() || text.front() == '#') continue;
        std::istringstream words{std::string(text)};
        std::string name, scopes, hash, extra;
        words >> name >> scopes >> hash;
        auto where = path.string() + ":" + std::to_string(number);
        if (hash.empty() || (words >> extra))
            throw std::runtime_error(where + ": expected 'NAME SCOPES sha256:HEX'");
        if (!startsWith(hash, "sha256:") || !isHex64(std::string_view(hash).substr(7)))
            throw std::runtime_error(where + ": the token must be stored as sha256:<64 lowercase hex digits>, "
                                             "never in clear (pixelmill token makes the line)");
        TokenEntry e;
        e.name = name;
        try {
            e.scopes = parseScopes(scopes);
        } catch (const std::invalid_argument& err) {
            throw std::runtime_error(where + ": " + err.what());
        }
        e.sha256 = hash.substr(7);
        for (const auto& other : tokens)
            if (other.name == e.name) throw std::runtime_error(where + ": the name '" + name + "' is used twice");
        tokens.push_back(std::move(e));
    }
    return tokens;
}

std::string newToken() {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for a token");
    return "pm_" + hexEncode(bytes, sizeof bytes);
}

std::string tokenLine(const std::string& name, unsigned scopes, const std::string& token) {
    return name + "  " + scopeNames(scopes) + "  sha256:" + Sha256::hex(token);
}

std::string_view cookieValue(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        size_t semi = header.find(';');
        std::string_view pair = trimSpace(header.substr(0, semi));
        size_t eq = pair.find('=');
        if (eq != std::string_view::npos && trimSpace(pair.substr(0, eq)) == name) return trimSpace(pair.substr(eq + 1));
        if (semi == std::string_view::npos) break;
        header.remove_prefix(semi + 1);
    }
    return {};
}

AccessControl::AccessControl(AccessOptions options) : tokens_(std::move(options.tokens)), options_(std::move(options)) {
    for (const auto& t : tokens_) {
        std::string raw(32, '\0');
        for (size_t i = 0; i < 32; ++i) raw[i] = static_cast<char>(std::stoi(t.sha256.substr(i * 2, 2), nullptr, 16));
        rawHashes_.push_back(std::move(raw));
    }
    if (options_.rateBurst <= 0) options_.rateBurst = std::max(1.0, options_.rateLimit);
    for (std::string& h : options_.hosts) h = hostOfHeader(h);
}

bool AccessControl::hostAllowed(std::string_view hostHeader) const {
    if (authEnabled()) return true;
    std::string host = hostOfHeader(hostHeader);
    if (host == "localhost" || host == "127.0.0.1" || host == "[::1]") return true;
    return !host.empty() && std::find(options_.hosts.begin(), options_.hosts.end(), host) != options_.hosts.end();
}

std::optional<Principal> AccessControl::authenticate(std::string_view token) const {
    if (token.empty()) return std::nullopt;
    std::string digest = Sha256::hex(token);
    std::string raw(32, '\0');
    for (size_t i = 0; i < 32; ++i) raw[i] = static_cast<char>(std::stoi(digest.substr(i * 2, 2), nullptr, 16));
    // Every stored hash is compared, whatever matched before, in constant time.
    std::optional<size_t> found;
    for (size_t i = 0; i < rawHashes_.size(); ++i)
        if (CRYPTO_memcmp(raw.data(), rawHashes_[i].data(), 32) == 0) found = i;
    if (!found) return std::nullopt;
    return Principal{tokens_[*found].name, tokens_[*found].scopes};
}

std::string AccessControl::openSession(const Principal& who) {
    std::string id = newToken().substr(3);
    std::lock_guard lock(mu_);
    auto now = std::chrono::steady_clock::now();
    std::erase_if(sessions_, [&](const auto& kv) { return kv.second.expires < now; });
    sessions_[id] = Session{who, now + options_.sessionLifetime};
    return id;
}

void AccessControl::closeSession(std::string_view id) {
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(id); it != sessions_.end()) sessions_.erase(it);
}

std::optional<Principal> AccessControl::session(std::string_view id) {
    if (id.empty()) return std::nullopt;
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return std::nullopt;
    if (it->second.expires < std::chrono::steady_clock::now()) {
        sessions_.erase(it);
        return std::nullopt;
    }
    return it->second.who;
}

std::optional<Principal> AccessControl::identify(const Caller& caller, bool& presented) {
    presented = false;
    std::string_view auth = trimSpace(caller.authorization);
    if (!auth.empty()) {
        presented = true;
        if (auth.size() > 7 && (startsWith(auth, "Bearer ") || startsWith(auth, "bearer ")))
            return authenticate(trimSpace(auth.substr(7)));
        return std::nullopt;
    }
    std::string_view id = cookieValue(caller.cookie, kSessionCookie);
    if (!id.empty()) {
        presented = true;
        return session(id);
    }
    return std::nullopt;
}

std::string AccessControl::admit(const Caller& caller) {
    std::optional<Scope> need;
    switch (caller.scope) {
        case RouteScope::Open: break;
        case RouteScope::Read: need = kRead; break;
        case RouteScope::Submit: need = kSubmit; break;
        case RouteScope::Admin: need = kAdmin; break;
    }
    std::optional<Principal> who;
    if (authEnabled() && need) {
        bool presented = false;
        who = identify(caller, presented);
        if (!who)
            throw ApiError(401, "unauthorized",
                           presented ? "the token is not valid" : "this route needs a token: Authorization: Bearer <token>");
        if (!who->allows(*need))
            throw ApiError(403, "forbidden",
                           "the token '" + who->name + "' has scopes " + scopeNames(who->scopes) + "; this needs " +
                               scopeNames(*need));
    }
    std::string client = who ? "token:" + who->name : "ip:" + caller.peer;
    if (options_.rateLimit > 0 && need) limitRate(client);
    return client;
}

void AccessControl::limitRate(const std::string& client) {
    auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    if (buckets_.size() > 100'000) {  // forget clients idle long enough to have a full bucket again
        double refill = options_.rateBurst / options_.rateLimit;
        std::erase_if(buckets_, [&](const auto& kv) {
            return std::chrono::duration<double>(now - kv.second.at).count() > refill;
        });
    }
    auto [it, fresh] = buckets_.try_emplace(client, Bucket{options_.rateBurst, now});
    Bucket& b = it->second;
    if (!fresh) {
        double elapsed = std::chrono::duration<double>(now - b.at).count();
        b.tokens = std::min(options_.rateBurst, b.tokens + elapsed * options_.rateLimit);
        b.at = now;
    }
    if (b.tokens >= 1) {
        b.tokens -= 1;
        return;
    }
    ++rateLimited_;
    int wait = static_cast<int>(std::ceil((1 - b.tokens) / options_.rateLimit));
    std::ostringstream rate;
    rate << options_.rateLimit;  // 2, 0.5: no trailing zeros
    ApiError e(429, "rate_limited", "more than " + rate.str() + " requests per second from this client");
    e.retryAfter(std::max(1, wait));
    throw e;
}

}  // namespace pixelmill::http
