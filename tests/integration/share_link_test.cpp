// Share links: POST /v1/jobs/{id}/outputs/{index}/link makes a signed link
// that serves one output to anyone, no token asked, with the download's own
// headers, until it expires; a forged link, or one signed under a secret the
// daemon no longer has, is 404; the secret it makes itself survives restarts.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <regex>
#include <thread>

using namespace pixelmill::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string bearer(const std::string& token) { return "Authorization: Bearer " + token; }

Response makeLink(HttpClient& http, const std::string& job, const std::string& body, const std::string& token = "",
                  int index = 0) {
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (!token.empty()) headers.push_back(bearer(token));
    return http.request("POST", "/v1/jobs/" + job + "/outputs/" + std::to_string(index) + "/link", body, headers);
}

// The link of a new thumbnail job's output, made with `token` (none: auth off).
std::string linkOf(HttpClient& http, const std::string& job, int seconds, const std::string& token = "") {
    Response r = makeLink(http, job, json{{"expires_in", seconds}}.dump(), token);
    INFO(r.body);
    REQUIRE(r.status == 201);
    return r.json()["url"];
}

// Submits a PNG to the thumbnail plugin and waits for it; returns the job id.
std::string thumbnailJob(HttpClient& http, const std::string& png, const std::string& token = "") {
    std::vector<std::string> headers;
    if (!token.empty()) headers.push_back(bearer(token));
    Response r = http.request("POST", "/v1/jobs?plugin=thumbnail&size=64&wait=30", png, headers);
    INFO(r.body);
    REQUIRE(r.status == 202);
    REQUIRE(r.json()["state"] == "succeeded");
    return r.json()["id"];
}

void requireError(const Response& r, long status, const std::string& code, const std::string& field = "") {
    INFO(r.status << " " << r.body);
    REQUIRE(r.status == status);
    CHECK(r.json()["error"]["code"] == code);
    if (!field.empty()) CHECK(r.json()["error"]["field"] == field);
}

// The status code of the first answer to raw request bytes.
int rawStatus(int port, const std::string& requestLine) {
    std::string reply = rawExchange(port, requestLine + "\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 3000);
    std::smatch m;
    REQUIRE(std::regex_search(reply, m, std::regex("^HTTP/1\\.1 ([0-9]{3})")));
    return std::stoi(m[1]);
}

}  // namespace

TEST_CASE("a share link serves an output without a token, as the download does, until it expires") {
    initVips();
    TempDir dir;
    makePng(dir / "a.png", 320, 200);
    const std::string reader = makeToken(dir / "tokens", "reader", "read");
    const std::string uploader = makeToken(dir / "tokens", "uploader", "read,submit");
    Daemon d(DaemonOptions{.args = {"--token-file", (dir / "tokens").string()}});
    HttpClient& http = d.http();
    const std::string job = thumbnailJob(http, readFile(dir / "a.png"), uploader);

    // A token with the read scope is enough to make one.
    Response made = makeLink(http, job, R"({"expires_in": 600})", reader);
    INFO(made.body);
    REQUIRE(made.status == 201);
    const std::string url = made.json()["url"];
    CHECK(std::regex_match(url, std::regex("/s/[A-Za-z0-9_-]{20,120}")));
    const std::string expiresAt = made.json()["expires_at"];
    CHECK(std::regex_match(expiresAt, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
    CHECK(made.header("cache-control") == "no-store");

    Response download = http.get("/v1/jobs/" + job + "/outputs/0", {bearer(reader)});
    REQUIRE(download.status == 200);
    Response shared = http.get(url);  // no token at all
    INFO(shared.body.substr(0, 300));
    REQUIRE(shared.status == 200);
    CHECK(shared.body == download.body);
    for (const char* header : {"content-type", "content-length", "x-content-type-options", "content-security-policy",
                               "content-disposition", "etag"}) {
        INFO(header);
        CHECK_FALSE(download.header(header).empty());
        CHECK(shared.header(header) == download.header(header));
    }
    CHECK(shared.header("content-type") == "image/jpeg");
    CHECK(shared.header("x-content-type-options") == "nosniff");
    // No shared cache keeps it, and no browser past the link's expiry.
    const std::string caching = shared.header("cache-control");
    std::smatch age;
    REQUIRE(std::regex_match(caching, age, std::regex(R"(private, max-age=(\d+))")));
    CHECK(std::stoi(age[1]) > 500);
    CHECK(std::stoi(age[1]) <= 600);
    Response again = http.get(url, {"If-None-Match: " + shared.header("etag")});
    CHECK(again.status == 304);
    CHECK(again.header("etag") == shared.header("etag"));
    CHECK(http.request("HEAD", url).status == 200);

    SECTION("the link opens only its own output: nothing else answers without a token") {
        requireError(http.get("/v1/jobs/" + job + "/outputs/0"), 401, "unauthorized");
        requireError(makeLink(http, job, R"({"expires_in": 600})"), 401, "unauthorized");
        CHECK(rawStatus(d.port(), "GET /s/../v1/jobs HTTP/1.1") == 400);
        CHECK(rawStatus(d.port(), "GET //s/x HTTP/1.1") == 400);
        CHECK(rawStatus(d.port(), "GET /s/%2e%2e/v1/jobs HTTP/1.1") == 400);
        CHECK(rawStatus(d.port(), "GET /s/" + url.substr(3) + "/../../v1/jobs HTTP/1.1") == 400);
        CHECK(http.get("/s/").status == 401);                    // no route: only readers learn it is 404
        CHECK(http.get(url + "/x").status == 401);
        CHECK(http.get("/s/" + std::string(8000, 'A')).status == 404);  // refused unread
        requireError(http.get("/s/not-a-token"), 404, "not_found");
        CHECK(http.request("DELETE", url).status == 405);
    }

    SECTION("a forged link is 404, whichever byte changed") {
        for (size_t at : {size_t{3}, size_t{10}, url.size() / 2, url.size() - 2}) {
            std::string forged = url;
            forged[at] = forged[at] == 'A' ? 'B' : 'A';
            INFO(forged);
            requireError(http.get(forged), 404, "not_found");
        }
        requireError(http.get(url.substr(0, url.size() - 1)), 404, "not_found");
    }

    SECTION("past its expiry a link is 410 gone") {
        const std::string brief = linkOf(http, job, 1, reader);
        CHECK(http.get(brief).status == 200);
        std::this_thread::sleep_for(2100ms);
        requireError(http.get(brief), 410, "gone");
        CHECK(http.get(url).status == 200);
    }

    SECTION("expires_in outside 1 s to 30 days, or not an integer, is 400 naming it") {
        for (const char* body : {"{}", R"({"expires_in": null})", R"({"expires_in": "600"})",
                                        R"({"expires_in": 1.5})", R"({"expires_in": 0})", R"({"expires_in": -5})",
                                        R"({"expires_in": 2592001})", R"({"expires_in": true})",
                                        R"({"expires_in": 18446744073709551615})", ""}) {
            INFO("body: " << body);
            requireError(makeLink(http, job, body, reader), 400, "invalid_param", "expires_in");
        }
        requireError(makeLink(http, job, "expires_in=60", reader), 400, "bad_json");
        CHECK(makeLink(http, job, R"({"expires_in": 2592000})", reader).status == 201);
    }

    SECTION("a link to a job or output that does not exist is 404, and so is a link whose job was deleted") {
        requireError(makeLink(http, "00000000-0000-4000-8000-000000000000", R"({"expires_in": 60})", reader), 404,
                     "not_found");
        requireError(makeLink(http, job, R"({"expires_in": 60})", reader, 1), 404, "not_found");
        REQUIRE(http.request("DELETE", "/v1/jobs/" + job, "", {bearer(uploader)}).status == 204);
        requireError(http.get(url), 404, "not_found");
    }
}

TEST_CASE("share links work with auth off, a new secret revokes them, the generated one survives restarts") {
    initVips();
    TempDir dir;
    makePng(dir / "a.png", 200, 120);
    const auto data = dir / "data";
    std::string link, expected, flagged;
    {
        Daemon d(DaemonOptions{.dataDir = data});
        const std::string job = thumbnailJob(d.http(), readFile(dir / "a.png"));
        link = linkOf(d.http(), job, 3600);
        expected = d.http().get("/v1/jobs/" + job + "/outputs/0").body;
        CHECK(d.http().get(link).body == expected);
        REQUIRE(d.terminate() == 0);
    }
    struct stat st {};
    REQUIRE(::stat((data / "link-secret").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    const std::string generated = readFile(data / "link-secret");
    {
        // The same data folder, no flag: the secret made at the first start.
        Daemon d(DaemonOptions{.dataDir = data});
        Response r = d.http().get(link);
        CHECK(r.status == 200);
        CHECK(r.body == expected);
        REQUIRE(d.terminate() == 0);
    }
    CHECK(readFile(data / "link-secret") == generated);
    {
        // Another secret: every earlier link is revoked; new ones work.
        Daemon d(DaemonOptions{.args = {"--link-secret", "a-secret-shared-by-every-node-1"}, .dataDir = data});
        requireError(d.http().get(link), 404, "not_found");
        const std::string job = d.http().get("/v1/jobs").json()["jobs"][0]["id"];
        flagged = linkOf(d.http(), job, 3600);
        CHECK(d.http().get(flagged).status == 200);
        REQUIRE(d.terminate() == 0);
    }
    {
        // The same secret from the environment honours it.
        Daemon d(DaemonOptions{.env = {{"PIXELMILL_LINK_SECRET", "a-secret-shared-by-every-node-1"}}, .dataDir = data});
        CHECK(d.http().get(flagged).status == 200);
        REQUIRE(d.terminate() == 0);
    }
    {
        Daemon d(DaemonOptions{.args = {"--link-secret", "a-secret-shared-by-every-node-2"}, .dataDir = data});
        requireError(d.http().get(flagged), 404, "not_found");
    }

    std::string out;
    int rc = runCommand("'" + binaryPath().string() + "' serve --data-dir '" + (dir / "other").string() +
                            "' --link-secret short 2>&1",
                        &out);
    CHECK(rc == 2);
    CHECK(out.find("link-secret") != std::string::npos);
}

TEST_CASE("the dashboard's share button makes a 7-day link to that output, behind its CSRF check") {
    initVips();
    TempDir dir;
    makePng(dir / "a.png", 200, 120);
    Daemon d;
    const std::string job = thumbnailJob(d.http(), readFile(dir / "a.png"));
    Response page = d.http().get("/dashboard/jobs/" + job);
    REQUIRE(page.status == 200);
    CHECK(page.body.find("action=\"/dashboard/actions/link\"") != std::string::npos);
    std::smatch m;
    const std::string cookie = page.header("set-cookie");
    REQUIRE(std::regex_search(cookie, m, std::regex("pm_csrf=([0-9a-f]{64})")));
    const std::string csrf = m[1];
    const std::string form = "id=" + job + "&index=0";
    const std::vector<std::string> browser = {"Cookie: pm_csrf=" + csrf, "Origin: " + d.base()};

    CHECK(d.http().post("/dashboard/actions/link", form, "application/x-www-form-urlencoded", browser).status == 403);
    Response made = d.http().post("/dashboard/actions/link", "csrf=" + csrf + "&" + form,
                                  "application/x-www-form-urlencoded", browser);
    REQUIRE(made.status == 303);
    const std::string location = made.header("location");
    REQUIRE(location.rfind("/dashboard/jobs/" + job + "?notice=", 0) == 0);
    // The notice, as the page shows it, holds the whole link to copy.
    Response shown = d.http().get(location, browser);
    REQUIRE(shown.status == 200);
    REQUIRE(std::regex_search(shown.body, m, std::regex(R"(http://127\.0\.0\.1:\d+(/s/[A-Za-z0-9_-]+))")));
    Response shared = d.http().get(m[1]);
    REQUIRE(shared.status == 200);
    CHECK(shared.body == d.http().get("/v1/jobs/" + job + "/outputs/0").body);
    const std::string caching = shared.header("cache-control");
    std::smatch age;
    REQUIRE(std::regex_match(caching, age, std::regex(R"(private, max-age=(\d+))")));
    CHECK(std::stoi(age[1]) > 7 * 24 * 3600 - 60);
    CHECK(std::stoi(age[1]) <= 7 * 24 * 3600);

    // An output the job does not have: back to the page with the problem.
    Response none = d.http().post("/dashboard/actions/link", "csrf=" + csrf + "&id=" + job + "&index=9",
                                  "application/x-www-form-urlencoded", browser);
    CHECK(none.status == 303);
    CHECK(none.header("location").find("problem=") != std::string::npos);
}
