// AddressPolicy: which URLs the daemon may connect to for source_url and
// callback_url. Literal addresses for every refused range (IPv4, IPv6 and the
// IPv6 forms that embed an IPv4 address), names through a fake resolver, the
// allow switches, and URLs that must not parse.
#include "notify/address_policy.h"

#include "common/error.h"

#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace pixelmill::notify {
namespace {

// Names resolve from a table; anything else fails like NXDOMAIN.
Resolver fakeDns(std::map<std::string, std::vector<std::string>> table) {
    return [table = std::move(table)](const std::string& host) {
        auto it = table.find(host);
        if (it == table.end()) throw std::runtime_error("Name or service not known");
        return it->second;
    };
}

ApiError refusal(const AddressPolicy& policy, const std::string& url, const std::string& field = "callback_url") {
    try {
        policy.check(url, field);
    } catch (const ApiError& e) {
        return e;
    }
    FAIL("accepted: " << url);
    return ApiError(0, "", "");
}

void requireRefused(const AddressPolicy& policy, const std::string& url, const std::string& address) {
    ApiError e = refusal(policy, url);
    INFO(url << " -> " << e.what());
    CHECK(e.status() == 400);
    CHECK(e.code() == "invalid_param");
    CHECK(e.field() == "callback_url");
    CHECK_THAT(e.what(), Catch::Contains(address));
}

}  // namespace

TEST_CASE("address policy: every refused IPv4 range, as a literal host", "[notify][policy]") {
    AddressPolicy policy(false, {});
    const std::vector<std::pair<std::string, std::string>> refused = {
        {"127.0.0.1", "loopback"},         {"127.255.255.254", "loopback"},
        {"10.0.0.1", "private"},           {"10.255.255.255", "private"},
        {"172.16.0.1", "private"},         {"172.31.255.255", "private"},
        {"192.168.1.1", "private"},        {"169.254.169.254", "link-local"},
        {"100.64.0.1", "carrier-grade NAT"}, {"100.127.255.255", "carrier-grade NAT"},
        {"224.0.0.1", "multicast"},        {"239.255.255.250", "multicast"},
        {"0.0.0.0", "unspecified"},        {"0.1.2.3", "unspecified"},
        {"255.255.255.255", "broadcast"},  {"240.0.0.1", "reserved"},
        {"192.0.0.8", "reserved"},         {"192.0.2.10", "documentation"},
        {"198.51.100.7", "documentation"}, {"203.0.113.99", "documentation"},
        {"198.18.0.1", "benchmarking"},    {"198.19.255.1", "benchmarking"},
        {"192.88.99.1", "6to4 relay"},
    };
    for (const auto& [address, kind] : refused) {
        requireRefused(policy, "http://" + address + "/hook", address);
        CHECK_THAT(refusal(policy, "http://" + address + "/hook").what(), Catch::Contains(kind));
    }
}

TEST_CASE("address policy: other spellings of a loopback address are refused too", "[notify][policy]") {
    AddressPolicy policy(false, {});
    for (std::string host : {"127.1", "2130706433", "0x7f.0.0.1", "0x7f000001", "017700000001", "0177.0.0.1",
                             "127.000.000.001", "0", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "LOCALHOST",
                             "localhost."}) {
        INFO(host);
        ApiError e = refusal(policy, "http://" + host + ":8080/x");
        CHECK(e.code() == "invalid_param");
        bool named = std::string(e.what()).find("127.0.0.1") != std::string::npos ||
                     std::string(e.what()).find("::1") != std::string::npos ||
                     std::string(e.what()).find("0.0.0.0") != std::string::npos ||
                     std::string(e.what()).find("not a valid URL") != std::string::npos;
        CHECK(named);
    }
}

TEST_CASE("address policy: public IPv4 neighbours of the refused ranges pass", "[notify][policy]") {
    AddressPolicy policy(false, {});
    for (std::string address : {"8.8.8.8", "1.1.1.1", "9.255.255.255", "11.0.0.1", "172.15.255.255", "172.32.0.1",
                                "192.167.255.255", "192.169.0.1", "100.63.255.255", "100.128.0.1", "169.253.1.1",
                                "126.255.255.255", "128.0.0.1", "223.255.255.255", "198.20.0.1"}) {
        INFO(address);
        Target t = policy.check("https://" + address + "/x?y=1", "callback_url");
        CHECK(t.host == address);
        CHECK(t.addresses == std::vector<std::string>{address});
        CHECK(t.port == 443);
        CHECK(t.pathAndQuery == "/x?y=1");
    }
}

TEST_CASE("address policy: every refused IPv6 range, as a literal host", "[notify][policy]") {
    AddressPolicy policy(false, {});
    const std::vector<std::pair<std::string, std::string>> refused = {
        {"::1", "loopback"},
        {"::", "unspecified"},
        {"fe80::1", "link-local"},
        {"febf:ffff::1", "link-local"},
        {"fec0::1", "site-local"},
        {"fc00::1", "unique-local"},
        {"fd12:3456:789a::1", "unique-local"},
        {"ff02::1", "multicast"},
        {"ff05::1:3", "multicast"},
        {"2001:db8::1", "documentation"},
        {"3fff::1", "documentation"},
        {"100::1", "discard"},
        {"2001::1", "Teredo"},
        {"64:ff9b:1::a00:1", "local-use NAT64"},
    };
    for (const auto& [address, kind] : refused) {
        requireRefused(policy, "http://[" + address + "]:8080/hook", address);
        CHECK_THAT(refusal(policy, "http://[" + address + "]:8080/hook").what(), Catch::Contains(kind));
    }
    Target ok = policy.check("http://[2606:4700:4700::1111]:8080/hook", "callback_url");
    CHECK(ok.host == "2606:4700:4700::1111");
    CHECK(ok.port == 8080);
    CHECK(ok.authority() == "[2606:4700:4700::1111]:8080");
    CHECK(ok.url == "http://[2606:4700:4700::1111]:8080/hook");
}

TEST_CASE("address policy: IPv6 forms that embed a refused IPv4 address are refused", "[notify][policy]") {
    AddressPolicy policy(false, {});
    // Mapped, translated, compatible, NAT64 and 6to4 forms of loopback, private, link-local.
    requireRefused(policy, "http://[::ffff:127.0.0.1]/", "127.0.0.1");
    requireRefused(policy, "http://[::ffff:7f00:1]/", "127.0.0.1");
    requireRefused(policy, "http://[::ffff:10.1.2.3]/", "10.1.2.3");
    requireRefused(policy, "http://[::ffff:169.254.169.254]/", "169.254.169.254");
    requireRefused(policy, "http://[::ffff:0:192.168.0.1]/", "192.168.0.1");
    requireRefused(policy, "http://[::127.0.0.1]/", "127.0.0.1");
    requireRefused(policy, "http://[::8.8.8.8]/", "IPv4-compatible");
    requireRefused(policy, "http://[64:ff9b::127.0.0.1]/", "127.0.0.1");
    requireRefused(policy, "http://[64:ff9b::a9fe:a9fe]/", "169.254.169.254");
    requireRefused(policy, "http://[2002:7f00:1::]/", "127.0.0.1");
    requireRefused(policy, "http://[2002:c0a8:101::1]/", "192.168.1.1");
    CHECK_THAT(refusal(policy, "http://[::ffff:127.0.0.1]/").what(), Catch::Contains("IPv4-mapped"));
    CHECK_THAT(refusal(policy, "http://[2002:7f00:1::]/").what(), Catch::Contains("6to4"));
    CHECK_THAT(refusal(policy, "http://[64:ff9b::7f00:1]/").what(), Catch::Contains("NAT64"));

    // The same forms of public addresses pass.
    for (std::string host : {"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"}) {
        INFO(host);
        CHECK_NOTHROW(policy.check("http://[" + host + "]/", "callback_url"));
    }
}

TEST_CASE("address policy: refusedRange classifies numeric addresses on its own", "[notify][policy]") {
    CHECK(AddressPolicy::refusedRange("127.0.0.1") == "a loopback address");
    CHECK(AddressPolicy::refusedRange("8.8.8.8") == std::nullopt);
    CHECK(AddressPolicy::refusedRange("2606:4700::1") == std::nullopt);
    CHECK(AddressPolicy::refusedRange("::ffff:127.0.0.1")->find("IPv4-mapped") != std::string::npos);
    CHECK_THROWS_AS(AddressPolicy::refusedRange("example.com"), std::invalid_argument);
}

TEST_CASE("address policy: localhost and names that resolve to refused addresses are refused", "[notify][policy]") {
    AddressPolicy system(false, {});
    ApiError e = refusal(system, "http://localhost:8080/hook", "source_url");
    CHECK(e.field() == "source_url");
    CHECK_THAT(e.what(), Catch::Contains("localhost"));
    CHECK_THAT(e.what(), Catch::Contains("loopback"));

    AddressPolicy policy(false, {},
                         fakeDns({{"internal.example", {"10.0.0.5"}},
                                  {"mixed.example", {"93.184.216.34", "192.168.0.10"}},
                                  {"v6.example", {"2606:4700::1", "fd00::5"}},
                                  {"public.example", {"93.184.216.34", "2606:2800:220:1::1"}},
                                  {"upper.example", {"::FFFF:7F00:1"}},
                                  {"junk.example", {"bogus"}}}));
    requireRefused(policy, "https://internal.example/hook", "10.0.0.5");
    CHECK_THAT(refusal(policy, "https://internal.example/hook").what(), Catch::Contains("internal.example"));
    // One refused address among several is enough: the connection could use it.
    requireRefused(policy, "https://mixed.example/hook", "192.168.0.10");
    requireRefused(policy, "https://v6.example/hook", "fd00::5");
    Target t = policy.check("https://PUBLIC.example./hook", "callback_url");
    CHECK(t.host == "public.example");
    CHECK(t.addresses == std::vector<std::string>{"93.184.216.34", "2606:2800:220:1::1"});
    CHECK_FALSE(t.allowListed);
    // Resolver answers are checked in canonical form, and must be addresses.
    requireRefused(policy, "https://upper.example/hook", "::ffff:127.0.0.1");
    CHECK_THAT(refusal(policy, "https://junk.example/").what(), Catch::Contains("not an IP address"));
    // A name that does not resolve is refused with the resolver's reason.
    ApiError nx = refusal(policy, "https://nowhere.example/");
    CHECK_THAT(nx.what(), Catch::Contains("nowhere.example") && Catch::Contains("could not be resolved"));
}

TEST_CASE("address policy: allowPrivateNetwork lets every range through", "[notify][policy]") {
    AddressPolicy policy(true, {}, fakeDns({{"internal.example", {"10.0.0.5"}}}));
    for (std::string url : {"http://127.0.0.1:9/", "http://[::1]/", "http://169.254.169.254/latest/meta-data",
                            "http://internal.example/", "http://[::ffff:10.0.0.1]/"}) {
        INFO(url);
        CHECK_NOTHROW(policy.check(url, "callback_url"));
    }
    // It still has to be a good URL that resolves.
    CHECK(refusal(policy, "ftp://127.0.0.1/").code() == "invalid_param");
    CHECK_THAT(refusal(policy, "http://nowhere.example/").what(), Catch::Contains("could not be resolved"));
}

TEST_CASE("address policy: allowHosts, exact and wildcard, case-insensitive", "[notify][policy]") {
    AddressPolicy policy(false, {"Hooks.Internal", "*.corp.example", "127.0.0.1", "[::1]"},
                         fakeDns({{"hooks.internal", {"10.1.1.1"}},
                                  {"a.corp.example", {"10.2.2.2"}},
                                  {"deep.b.corp.example", {"fd00::2"}},
                                  {"corp.example", {"10.3.3.3"}},
                                  {"other.internal", {"10.4.4.4"}},
                                  {"evilcorp.example", {"10.5.5.5"}}}));
    CHECK(policy.check("http://hooks.internal/x", "callback_url").allowListed);
    CHECK(policy.check("http://HOOKS.INTERNAL/x", "callback_url").allowListed);
    CHECK(policy.check("http://a.corp.example/x", "callback_url").allowListed);
    CHECK(policy.check("http://deep.b.corp.example/x", "callback_url").allowListed);
    CHECK(policy.check("http://127.0.0.1:1234/x", "callback_url").allowListed);
    CHECK(policy.check("http://[::1]:1234/x", "callback_url").allowListed);
    CHECK(policy.check("http://[0:0::1]:1234/x", "callback_url").allowListed);

    // The wildcard needs a label before the suffix, and other hosts stay refused.
    requireRefused(policy, "http://corp.example/x", "10.3.3.3");
    requireRefused(policy, "http://evilcorp.example/x", "10.5.5.5");
    requireRefused(policy, "http://other.internal/x", "10.4.4.4");
    requireRefused(policy, "http://127.0.0.2/x", "127.0.0.2");
    CHECK(policy.isAllowListed("x.corp.example"));
    CHECK_FALSE(policy.isAllowListed("corp.example"));
    CHECK_FALSE(policy.isAllowListed("xcorp.example"));
}

TEST_CASE("address policy: bad URLs are refused before any lookup", "[notify][policy]") {
    AddressPolicy policy(true, {}, fakeDns({{"example.com", {"93.184.216.34"}}}));
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"", "empty"},
        {"example.com/hook", "only http and https"},
        {"ftp://example.com/file", "only http and https"},
        {"file:///etc/passwd", "only http and https"},
        {"gopher://example.com/", "only http and https"},
        {"javascript:alert(1)", "only http and https"},
        {"http://", "no host"},
        {"http:///path", "no host"},
        {"http://user:secret@example.com/", "user names and passwords"},
        {"http://user@example.com/", "user names and passwords"},
        {"http://example.com:0/", "port"},
        {"http://example.com:65536/", ""},
        {"http://example.com:99999/", ""},
        {"http://example.com:abc/", ""},
        {"http://exa mple.com/", ""},
        {"http://[fe80::1%25eth0]/", ""},
        {"http://[::1/", ""},
        {"http://" + std::string(9000, 'a') + ".com/", "longer than"},
    };
    for (const auto& [url, words] : bad) {
        INFO(url.substr(0, 80));
        ApiError e = refusal(policy, url, "source_url");
        CHECK(e.status() == 400);
        CHECK(e.code() == "invalid_param");
        CHECK(e.field() == "source_url");
        CHECK_THAT(e.what(), Catch::StartsWith("source_url: ") && Catch::Contains(words));
    }
}

TEST_CASE("address policy: the target is normalised, without userinfo or fragment", "[notify][policy]") {
    AddressPolicy policy(false, {}, fakeDns({{"example.com", {"93.184.216.34"}}}));
    Target t = policy.check("HTTPS://Example.COM/a/b.png?size=1#frag", "source_url");
    CHECK(t.scheme == "https");
    CHECK(t.host == "example.com");
    CHECK(t.port == 443);
    CHECK(t.pathAndQuery == "/a/b.png?size=1");
    CHECK(t.url == "https://example.com/a/b.png?size=1");
    CHECK(t.authority() == "example.com:443");

    Target h = policy.check("http://example.com", "source_url");
    CHECK(h.port == 80);
    CHECK(h.pathAndQuery == "/");
}

}  // namespace pixelmill::notify
