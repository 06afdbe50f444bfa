// RouteIndex matches a path the way Pistache's router does for a canonical
// path; non-canonical targets are named; Host headers reduce to their host.
#include "http/server/route_rules.h"

#include <catch2/catch.hpp>

namespace pixelmill::http {
namespace {

RouteIndex sample() {
    RouteIndex index;
    index.add("GET", "/", RouteRule::open());
    index.add("GET", "/healthz", RouteRule::open());
    index.add("GET", "/v1/originals/:id", RouteRule::read());
    index.add("DELETE", "/v1/originals/:id", RouteRule::admin());
    index.add("GET", "/v1/originals/:id/content", RouteRule::read());
    index.add("POST", "/v1/plugins/reload", RouteRule::admin());
    index.add("GET", "/resize/:guid", RouteRule::read());
    index.add("GET", "/resize/status/:guid", RouteRule::read());
    index.add("GET", "/photos/pending", RouteRule::read());
    index.add("GET", "/photos/:id", RouteRule::read());
    index.add("POST", "/v1/jobs", RouteRule::submit());
    return index;
}

}  // namespace

TEST_CASE("route rules: the matched template's rule decides, per method", "[http][routes]") {
    RouteIndex index = sample();
    auto del = index.match("DELETE", "/v1/originals/abc");
    REQUIRE(del);
    CHECK(*del->path == "/v1/originals/:id");
    CHECK(del->rule.scope == RouteScope::Admin);
    CHECK(del->methodAllowed);
    CHECK(index.match("GET", "/v1/originals/abc")->rule.scope == RouteScope::Read);
    CHECK(index.match("HEAD", "/v1/originals/abc")->rule.scope == RouteScope::Read);
    CHECK(index.match("GET", "/")->rule.scope == RouteScope::Open);
    CHECK(index.match("POST", "/v1/jobs")->rule.maxBody == RouteRule::kUpload);
    CHECK(index.match("POST", "/v1/plugins/reload")->rule.maxBody == 0);

    // A literal segment wins over a parameter.
    CHECK(*index.match("GET", "/photos/pending")->path == "/photos/pending");
    CHECK(*index.match("GET", "/photos/other")->path == "/photos/:id");
    CHECK(*index.match("GET", "/resize/status/x")->path == "/resize/status/:guid");

    // No template: trailing slash, empty segment, more or fewer segments.
    CHECK_FALSE(index.match("DELETE", "/v1/originals/abc/"));
    CHECK_FALSE(index.match("DELETE", "/v1/originals/"));
    CHECK_FALSE(index.match("GET", "/v1/originals"));
    CHECK_FALSE(index.match("GET", "/healthz/x"));

    // A method the template lacks (405): the weakest rule of its methods, no body.
    auto put = index.match("PUT", "/v1/originals/abc");
    REQUIRE(put);
    CHECK_FALSE(put->methodAllowed);
    CHECK(put->rule.scope == RouteScope::Read);
    CHECK(put->rule.maxBody == 0);
    CHECK(put->allow == "GET, HEAD, DELETE, OPTIONS");  // HEAD where there is GET; OPTIONS everywhere
    CHECK(index.allowOf("/v1/originals/:id") == put->allow);
    CHECK(index.allowOf("/v1/originals/:name").empty());  // not a template that was added
    CHECK(index.match("POST", "/healthz")->rule.scope == RouteScope::Open);
}

TEST_CASE("route rules: only canonical request targets pass", "[http][routes]") {
    for (const char* ok : {"/", "/v1/jobs", "/v1/jobs?wait=5", "/v1/jobs/a%20b", "/v1/jobs?x=//../%2F",
                           "/dashboard/static/app.css", "/v1/jobs/.hidden", "/v1/jobs/a..b"}) {
        INFO(ok);
        CHECK(nonCanonicalTarget(ok) == nullptr);
    }
    for (const char* bad : {"", "v1/jobs", "Xv1/jobs", "*", "http://h/v1/jobs", "//v1/jobs", "/v1//jobs", "/v1/jobs//",
                            "/./v1/jobs", "/v1/./jobs", "/v1/../jobs", "/v1/jobs/.", "/v1/jobs/..", "/v1%2Fjobs",
                            "/v1%2fjobs", "/v1/%2e%2e/jobs", "/v1/jobs%5Cx", "/v1/jobs%00", "/v1/jobs%", "/v1/jobs%zz",
                            "//"}) {
        INFO(bad);
        CHECK(nonCanonicalTarget(bad) != nullptr);
    }
    CHECK(targetPath("/v1/jobs?wait=1") == "/v1/jobs");
}

TEST_CASE("route rules: a Host header or URL reduces to its host name", "[http][routes]") {
    CHECK(hostOfHeader("127.0.0.1:8080") == "127.0.0.1");
    CHECK(hostOfHeader("LocalHost") == "localhost");
    CHECK(hostOfHeader("localhost.:80") == "localhost");
    CHECK(hostOfHeader("[::1]:8080") == "[::1]");
    CHECK(hostOfHeader("[::1]x") == "");
    CHECK(hostOfHeader("") == "");
    CHECK(hostOfUrl("https://img.example.com:8443/base") == "img.example.com");
    CHECK(hostOfUrl("http://user@[::1]/") == "[::1]");
    CHECK(hostOfUrl("no scheme") == "");
}

}  // namespace pixelmill::http
