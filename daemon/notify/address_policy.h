#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill::notify {

// A URL that passed the policy: where to connect and the only addresses a
// connection to it may use. The fetcher and the notifier pin a connection to
// `addresses`, so a DNS answer that changes between the check and the connect
// (DNS rebinding) cannot send it anywhere else.
struct Target {
    std::string url;           // normalised: scheme://host[:port]/path[?query]; no userinfo, no fragment
    std::string scheme;        // "http" or "https"
    std::string host;          // lower case; an IPv6 literal without its brackets
    uint16_t port = 0;         // the URL's, or the scheme's default
    std::string pathAndQuery;  // at least "/"
    std::vector<std::string> addresses;  // numeric (inet_ntop form), all checked, never empty
    bool allowListed = false;  // the host matched allowHosts, so the ranges were not checked

    // "host:port", with brackets around an IPv6 literal: for messages and logs.
    std::string authority() const;
};

// Host name -> numeric addresses (IPv4 and IPv6). Throws std::runtime_error
// with a reason when the name does not resolve. The default uses getaddrinfo.
using Resolver = std::function<std::vector<std::string>(const std::string& host)>;

// Decides whether the daemon may open an HTTP connection to a URL a client
// gave it (source_url, callback_url): the defence against server-side request
// forgery.
//
// check() accepts only http and https URLs with a host, no userinfo, no IPv6
// zone id and a port in 1..65535. It resolves the host (IPv4 and IPv6) and
// checks every address it resolves to: if any one is refused, the URL is
// refused, since a connection could use any of them. Refused:
//   IPv4  0/8 (this network, unspecified), 10/8, 172.16/12, 192.168/16 (private),
//         127/8 (loopback), 169.254/16 (link-local), 100.64/10 (carrier-grade NAT),
//         224/4 (multicast), 255.255.255.255 (broadcast), 240/4 (reserved),
//         192.0.0/24 (IETF protocol assignments), 192.88.99/24 (6to4 relay anycast),
//         198.18/15 (benchmarking), 192.0.2/24, 198.51.100/24, 203.0.113/24 (documentation).
//   IPv6  :: (unspecified), ::1 (loopback), fe80::/10 (link-local), fec0::/10
//         (site-local), fc00::/7 (unique-local), ff00::/8 (multicast), 100::/64
//         (discard), 2001::/23 (IETF protocol assignments, Teredo included: its
//         client address is obfuscated, so it is refused outright), 2001:db8::/32
//         and 3fff::/20 (documentation), 64:ff9b:1::/48 (local-use NAT64).
//   Embedded IPv4: an IPv4-mapped (::ffff:a.b.c.d), IPv4-translated
//         (::ffff:0:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:AABB:CCDD::)
//         address is refused when the IPv4 address inside is; the deprecated
//         IPv4-compatible form (::a.b.c.d) is refused whatever it holds.
//
// allowPrivateNetwork turns the range check off (the URL must still parse and
// resolve). allowHosts names hosts that may resolve to refused ranges: an entry
// is a host name compared case-insensitively and without a trailing dot, an IP
// literal compared with the URL's host in canonical form ("127.0.0.1", "::1"),
// or "*.example.com", which matches every name ending in ".example.com" but not
// "example.com" itself. Nothing else is a pattern.
//
// Errors: ApiError 400 "invalid_param" with `field` set to the field given to
// check(); the message names the host and the refused address.
// Thread-safe: immutable after construction (the resolver must be thread-safe).
class AddressPolicy {
public:
    AddressPolicy(bool allowPrivateNetwork, std::vector<std::string> allowHosts, Resolver resolver = {});

    Target check(const std::string& url, const std::string& field) const;

    bool allowPrivateNetwork() const { return allowPrivateNetwork_; }
    bool isAllowListed(std::string_view host) const;

    // Why a numeric address is refused ("loopback", "private", "IPv4-mapped
    // 127.0.0.1: loopback", …), or nullopt if it may be reached. Ignores the
    // configuration. Throws std::invalid_argument if `address` is not numeric.
    static std::optional<std::string> refusedRange(std::string_view address);

    // The system resolver (getaddrinfo, AF_UNSPEC); canonical numeric strings,
    // duplicates removed, in the resolver's order.
    static std::vector<std::string> resolveSystem(const std::string& host);

private:
    // The resolver's addresses for a host name, in canonical numeric form;
    // refuses a name that resolves to none, or to something not numeric.
    std::vector<std::string> resolve(const std::string& host, const std::string& field) const;

    bool allowPrivateNetwork_;
    std::vector<std::string> allowHosts_;  // lower case, no trailing dot
    Resolver resolver_;
};

}  // namespace pixelmill::notify
