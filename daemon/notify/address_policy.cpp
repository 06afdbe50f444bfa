#include "notify/address_policy.h"

#include "common/error.h"
#include "common/text.h"
#include "notify/curl_support.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pixelmill::notify {
namespace {

constexpr size_t kMaxUrlLength = 8192;
constexpr const char* kHowToAllow =
    "; private, loopback and reserved addresses are refused (see --allow-private-network and --allow-hosts)";

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && lowerAscii(s.substr(0, prefix.size())) == prefix;
}

// "::1" -> "::1", "[::1]" -> "::1", "127.0.0.1" -> "127.0.0.1"; names unchanged.
std::string canonicalHost(std::string host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    while (!host.empty() && host.back() == '.') host.pop_back();
    host = lowerAscii(host);
    unsigned char buf[16];
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET6, host.c_str(), buf) == 1 && inet_ntop(AF_INET6, buf, text, sizeof text)) return text;
    if (inet_pton(AF_INET, host.c_str(), buf) == 1 && inet_ntop(AF_INET, buf, text, sizeof text)) return text;
    return host;
}

bool isNumericHost(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET6, host.c_str(), buf) == 1 || inet_pton(AF_INET, host.c_str(), buf) == 1;
}

std::string dotted(const unsigned char* b) {
    return std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." + std::to_string(b[3]);
}

std::optional<std::string> ipv4Reason(const unsigned char* b) {
    uint32_t a = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
    auto in = [a](uint32_t net, int bits) { return (a & (~uint32_t{0} << (32 - bits))) == net; };
    if (a == 0xFFFFFFFFu) return "the broadcast address";
    if (in(0x00000000u, 8)) return "an unspecified (this-network) address";
    if (in(0x0A000000u, 8) || in(0xAC100000u, 12) || in(0xC0A80000u, 16)) return "a private address";
    if (in(0x7F000000u, 8)) return "a loopback address";
    if (in(0xA9FE0000u, 16)) return "a link-local address";
    if (in(0x64400000u, 10)) return "a carrier-grade NAT address";
    if (in(0xE0000000u, 4)) return "a multicast address";
    if (in(0xF0000000u, 4)) return "a reserved address";
    if (in(0xC0000000u, 24)) return "a reserved (IETF protocol assignment) address";
    if (in(0xC0586300u, 24)) return "a reserved (6to4 relay anycast) address";
    if (in(0xC6120000u, 15)) return "a benchmarking address";
    if (in(0xC0000200u, 24) || in(0xC6336400u, 24) || in(0xCB007100u, 24)) return "a documentation address";
    return std::nullopt;
}

std::optional<std::string> embedded(const char* form, const unsigned char* v4) {
    auto inner = ipv4Reason(v4);
    if (!inner) return std::nullopt;
    return std::string(form) + " " + dotted(v4) + " (" + *inner + ")";
}

std::optional<std::string> ipv6Reason(const unsigned char* b) {
    auto zero = [b](int from, int to) { return std::all_of(b + from, b + to, [](unsigned char c) { return c == 0; }); };
    if (zero(0, 16)) return "the unspecified address";
    if (zero(0, 15) && b[15] == 1) return "a loopback address";
    if (zero(0, 10) && b[10] == 0xff && b[11] == 0xff) return embedded("an IPv4-mapped form of", b + 12);
    if (zero(0, 8) && b[8] == 0xff && b[9] == 0xff && zero(10, 12))
        return embedded("an IPv4-translated form of", b + 12);
    if (zero(0, 12)) {
        if (auto r = embedded("an IPv4-compatible form of", b + 12)) return r;
        return "a deprecated IPv4-compatible address";
    }
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
        if (zero(4, 12)) return embedded("a NAT64 form of", b + 12);
        if (b[4] == 0x00 && b[5] == 0x01) return "a local-use NAT64 address";
    }
    if (b[0] == 0x01 && zero(1, 8)) return "a discard-only address";
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return "a documentation address";
    if (b[0] == 0x20 && b[1] == 0x01 && (b[2] & 0xfe) == 0x00)
        return "a reserved (IETF protocol assignment or Teredo) address";
    if (b[0] == 0x20 && b[1] == 0x02) return embedded("a 6to4 address embedding", b + 2);
    if (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0x00) return "a documentation address";
    if ((b[0] & 0xfe) == 0xfc) return "a unique-local address";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "a link-local address";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "a site-local address";
    if (b[0] == 0xff) return "a multicast address";
    return std::nullopt;
}

[[noreturn]] void refuse(const std::string& field, const std::string& message) {
    throw ApiError::invalidParam(field, field + ": " + message);
}

// One part of a parsed URL, or "" when the URL has none.
std::string part(CURLU* url, CURLUPart which, unsigned flags = 0) {
    char* out = nullptr;
    if (curl_url_get(url, which, &out, flags) != CURLUE_OK || !out) return {};
    detail::CurlString owned(out);
    return out;
}

// Strict about the start: curl's parser forgives "http:/host" and "http:///host".
void checkStart(const std::string& url, const std::string& field) {
    if (url.empty()) refuse(field, "the URL is empty");
    if (url.size() > kMaxUrlLength) refuse(field, "the URL is longer than " + std::to_string(kMaxUrlLength) + " bytes");
    std::string_view rest;
    if (startsWithNoCase(url, "http://")) rest = std::string_view(url).substr(7);
    else if (startsWithNoCase(url, "https://")) rest = std::string_view(url).substr(8);
    else refuse(field, "only http and https URLs are accepted, not '" +
                           url.substr(0, std::min<size_t>(url.find(':'), 32)) + "'");
    if (rest.empty() || rest.front() == '/' || rest.front() == '?' || rest.front() == '#')
        refuse(field, "the URL has no host");
}

// The URL's port, or its scheme's default, in 1..65535.
uint16_t portOf(CURLU* url, const std::string& field) {
    std::string port = part(url, CURLUPART_PORT, CURLU_DEFAULT_PORT);
    long portNumber = 0;
    try {
        size_t used = 0;
        portNumber = std::stol(port, &used);
        if (used != port.size()) portNumber = 0;
    } catch (const std::exception&) {
        portNumber = 0;
    }
    if (portNumber < 1 || portNumber > 65535) refuse(field, "the port '" + port + "' is not in 1-65535");
    return static_cast<uint16_t>(portNumber);
}

// The URL curl will be given: the parsed parts, canonical host, no fragment.
std::string normalisedUrl(CURLU* url, const std::string& host, const std::string& field) {
    curl_url_set(url, CURLUPART_FRAGMENT, nullptr, 0);
    std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    curl_url_set(url, CURLUPART_HOST, bracketed.c_str(), 0);
    std::string out = part(url, CURLUPART_URL);
    if (out.empty()) refuse(field, "not a valid URL");
    return out;
}

// Everything check() decides from the URL alone, before the host is resolved.
Target parsedTarget(const std::string& url, const std::string& field) {
    checkStart(url, field);
    detail::Url parsed(curl_url());
    if (!parsed) throw ApiError::internal("curl_url failed");
    if (CURLUcode rc = curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0); rc != CURLUE_OK)
        refuse(field, "not a valid URL (" + std::string(curl_url_strerror(rc)) + ")");

    Target t;
    t.scheme = lowerAscii(part(parsed.get(), CURLUPART_SCHEME));
    if (t.scheme != "http" && t.scheme != "https") refuse(field, "only http and https URLs are accepted");
    if (!part(parsed.get(), CURLUPART_USER).empty() || !part(parsed.get(), CURLUPART_PASSWORD).empty() ||
        url.substr(0, url.find_first_of("/?#", t.scheme.size() + 3)).find('@') != std::string::npos)
        refuse(field, "user names and passwords in the URL are not accepted");
    if (!part(parsed.get(), CURLUPART_ZONEID).empty()) refuse(field, "IPv6 zone ids are not accepted");

    std::string rawHost = part(parsed.get(), CURLUPART_HOST);
    t.host = canonicalHost(rawHost);
    if (t.host.empty()) refuse(field, "the URL has no host");
    t.port = portOf(parsed.get(), field);

    t.pathAndQuery = part(parsed.get(), CURLUPART_PATH);
    if (t.pathAndQuery.empty()) t.pathAndQuery = "/";
    if (std::string query = part(parsed.get(), CURLUPART_QUERY); !query.empty()) t.pathAndQuery += "?" + query;

    t.url = normalisedUrl(parsed.get(), t.host, field);
    return t;
}

// Any one refused address refuses the URL: a connection could use any of them.
void refuseReservedRanges(const Target& t, bool literal, const std::string& field) {
    for (const auto& address : t.addresses) {
        std::optional<std::string> reason = AddressPolicy::refusedRange(address);
        if (!reason) continue;
        if (literal) refuse(field, address + " is " + *reason + kHowToAllow);
        refuse(field, "host '" + t.host + "' resolves to " + address + ", " + *reason + kHowToAllow);
    }
}

}  // namespace

std::string Target::authority() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

AddressPolicy::AddressPolicy(bool allowPrivateNetwork, std::vector<std::string> allowHosts, Resolver resolver)
    : allowPrivateNetwork_(allowPrivateNetwork), resolver_(std::move(resolver)) {
    for (auto& h : allowHosts) {
        if (startsWithNoCase(h, "*.")) {
            std::string suffix = canonicalHost(h.substr(1));  // ".example.com"
            if (suffix.size() > 1) allowHosts_.push_back("*" + suffix);
        } else if (std::string c = canonicalHost(h); !c.empty()) {
            allowHosts_.push_back(std::move(c));
        }
    }
    if (!resolver_) resolver_ = &AddressPolicy::resolveSystem;
}

bool AddressPolicy::isAllowListed(std::string_view host) const {
    std::string h = canonicalHost(std::string(host));
    if (h.empty()) return false;
    for (const auto& entry : allowHosts_) {
        if (entry.front() == '*') {
            std::string_view suffix = std::string_view(entry).substr(1);  // ".example.com"
            if (h.size() > suffix.size() && h.compare(h.size() - suffix.size(), suffix.size(), suffix) == 0)
                return true;
        } else if (h == entry) {
            return true;
        }
    }
    return false;
}

std::optional<std::string> AddressPolicy::refusedRange(std::string_view address) {
    std::string text(address);
    unsigned char buf[16];
    if (inet_pton(AF_INET, text.c_str(), buf) == 1) return ipv4Reason(buf);
    if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return ipv6Reason(buf);
    throw std::invalid_argument("not a numeric IP address: " + text);
}

std::vector<std::string> AddressPolicy::resolveSystem(const std::string& host) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* result = nullptr;
    int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &result);
    if (rc != 0) throw std::runtime_error(rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(result, &::freeaddrinfo);
    std::vector<std::string> out;
    for (addrinfo* ai = result; ai; ai = ai->ai_next) {
        std::string numeric = detail::numericAddress(ai->ai_addr);
        if (!numeric.empty() && std::find(out.begin(), out.end(), numeric) == out.end()) out.push_back(numeric);
    }
    if (out.empty()) throw std::runtime_error("no IPv4 or IPv6 address");
    return out;
}

Target AddressPolicy::check(const std::string& url, const std::string& field) const {
    Target t = parsedTarget(url, field);
    bool literal = isNumericHost(t.host);
    t.addresses = literal ? std::vector<std::string>{t.host} : resolve(t.host, field);
    t.allowListed = isAllowListed(t.host);
    if (allowPrivateNetwork_ || t.allowListed) return t;
    refuseReservedRanges(t, literal, field);
    return t;
}

std::vector<std::string> AddressPolicy::resolve(const std::string& host, const std::string& field) const {
    std::vector<std::string> addresses;
    try {
        addresses = resolver_(host);
    } catch (const std::exception& e) {
        refuse(field, "host '" + host + "' could not be resolved: " + e.what());
    }
    if (addresses.empty()) refuse(field, "host '" + host + "' could not be resolved: no address");
    // The pin compares inet_ntop strings: keep the checked list in that form.
    for (auto& address : addresses) {
        address = canonicalHost(address);
        if (!isNumericHost(address))
            refuse(field, "host '" + host + "' resolved to '" + address + "', which is not an IP address");
    }
    return addresses;
}

}  // namespace pixelmill::notify
