// Tokens with scopes, the dashboard's session, the refusal to serve a public
// address open, and the per-client rate limit.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <regex>
#include <thread>

using namespace pixelmill::test;

namespace {

std::string bearer(const std::string& token) { return "Authorization: Bearer " + token; }

nlohmann::json waitForJob(HttpClient& http, const std::string& id, const std::string& token) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
        Response r = http.get("/v1/jobs/" + id + "?wait=5", {bearer(token)});
        REQUIRE(r.status == 200);
        auto job = r.json();
        std::string state = job["state"];
        if (state == "succeeded" || state == "failed" || state == "canceled") return job;
        REQUIRE(std::chrono::steady_clock::now() < deadline);
    }
}

// The value of a Set-Cookie for `name`, with its attributes.
std::string setCookie(const Response& r, const std::string& name) {
    std::string all = r.header("set-cookie");
    auto at = all.find(name + "=");
    return at == std::string::npos ? "" : all.substr(at);
}

std::string cookieValueOf(const std::string& setCookieLine) {
    auto eq = setCookieLine.find('=');
    return setCookieLine.substr(eq + 1, setCookieLine.find(';') - eq - 1);
}

}  // namespace

TEST_CASE("pixelmill token stores only a hash, and the daemon admits each token to its scopes") {
    TempDir dir;
    auto file = dir / "tokens";
    std::string reader = makeToken(file, "reader", "read");
    std::string submitter = makeToken(file, "uploader", "read,submit");
    std::string admin = makeToken(file, "ops", "admin");

    std::string stored = readFile(file);
    CHECK(stored.find(reader) == std::string::npos);
    CHECK(stored.find(submitter) == std::string::npos);
    CHECK(std::regex_search(stored, std::regex("reader +read +sha256:[0-9a-f]{64}")));
    CHECK(std::regex_search(stored, std::regex("uploader +read,submit +sha256:[0-9a-f]{64}")));
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    std::string out;
    CHECK(runCommand("'" + binaryPath().string() + "' token reader --append '" + file.string() + "' 2>&1", &out) != 0);
    CHECK(out.find("already") != std::string::npos);

    initVips();
    makePng(dir / "a.png", 320, 200);
    std::string png = readFile(dir / "a.png");

    DaemonOptions options;
    options.args = {"--token-file", file.string()};
    Daemon d(options);
    HttpClient& http = d.http();

    SECTION("health stays open, everything else needs a valid token") {
        CHECK(http.get("/healthz").status == 200);
        CHECK(http.get("/readyz").status == 200);
        for (std::string path : {"/v1/jobs", "/v1/status", "/v1/plugins", "/metrics", "/v1/originals"}) {
            INFO(path);
            Response none = http.get(path);
            CHECK(none.status == 401);
            CHECK(none.json()["error"]["code"] == "unauthorized");
            CHECK(none.header("www-authenticate") == "Bearer realm=\"pixelmill\"");
            CHECK(http.get(path, {bearer("pm_not-a-real-token")}).status == 401);
            CHECK(http.get(path, {"Authorization: Basic cmVhZGVyOng="}).status == 401);
            CHECK(http.get(path, {bearer(reader)}).status == 200);
        }
        Response anon = http.post("/v1/jobs?plugin=thumbnail&size=64", png, "application/octet-stream");
        CHECK(anon.status == 401);
        CHECK(http.get("/v1/jobs", {bearer(reader)}).json()["jobs"].empty());
    }

    SECTION("read cannot submit, submit can, and only admin deletes originals") {
        Response refused = http.post("/v1/jobs?plugin=thumbnail&size=64", png, "application/octet-stream", {bearer(reader)});
        CHECK(refused.status == 403);
        CHECK(refused.json()["error"]["code"] == "forbidden");
        CHECK(refused.header("www-authenticate") == "Bearer realm=\"pixelmill\", error=\"insufficient_scope\"");
        CHECK(refused.json()["error"]["message"].get<std::string>().find("submit") != std::string::npos);

        Response ok = http.post("/v1/jobs?plugin=thumbnail&size=64", png, "application/octet-stream", {bearer(submitter)});
        REQUIRE(ok.status == 202);
        auto job = waitForJob(http, ok.json()["id"], reader);
        REQUIRE(job["state"] == "succeeded");
        std::string output = job["outputs"][0]["url"];
        CHECK(http.get(output).status == 401);
        Response got = http.get(output, {bearer(reader)});
        CHECK(got.status == 200);
        // Behind tokens no shared cache keeps what one reader fetched.
        CHECK(got.header("cache-control") == "private, max-age=31536000, immutable");
        Response source = http.get("/v1/jobs/" + job["id"].get<std::string>() + "/original", {bearer(reader)});
        CHECK(source.status == 200);
        CHECK(source.header("cache-control") == "private, no-cache");

        std::string original = "/v1/originals/" + job["original"]["id"].get<std::string>();
        CHECK(http.request("DELETE", original, "", {bearer(submitter)}).status == 403);
        CHECK(http.request("DELETE", original, "", {bearer(admin)}).status == 204);
    }

    SECTION("the dashboard asks for a token once and keeps an HttpOnly, SameSite=Strict session") {
        Response page = http.get("/dashboard/jobs?state=failed");
        CHECK(page.status == 303);
        CHECK(page.header("location") == "/dashboard/login?next=/dashboard/jobs%3Fstate%3Dfailed");

        Response login = http.get("/dashboard/login?next=/dashboard/jobs");
        REQUIRE(login.status == 200);
        std::smatch m;
        REQUIRE(std::regex_search(login.body, m, std::regex("name=\"csrf\" value=\"([^\"]+)\"")));
        std::string csrf = m[1];
        std::string csrfCookie = "Cookie: pm_csrf=" + csrf;

        Response wrong = http.post("/dashboard/login", "csrf=" + csrf + "&token=pm_wrong&next=%2Fdashboard%2Fjobs",
                                   "application/x-www-form-urlencoded", {csrfCookie});
        CHECK(wrong.status == 401);
        CHECK(setCookie(wrong, "pm_session").empty());
        Response noCsrf = http.post("/dashboard/login", "token=" + reader, "application/x-www-form-urlencoded");
        CHECK(noCsrf.status == 403);

        Response right = http.post("/dashboard/login", "csrf=" + csrf + "&token=" + reader + "&next=%2Fdashboard%2Fjobs",
                                   "application/x-www-form-urlencoded", {csrfCookie});
        CHECK(right.status == 303);
        CHECK(right.header("location") == "/dashboard/jobs");
        std::string session = setCookie(right, "pm_session");
        CHECK(session.find("HttpOnly") != std::string::npos);
        CHECK(session.find("SameSite=Strict") != std::string::npos);
        std::string cookie = "Cookie: pm_csrf=" + csrf + "; pm_session=" + cookieValueOf(session);

        Response jobs = http.get("/dashboard/jobs", {cookie});
        CHECK(jobs.status == 200);
        CHECK(jobs.body.find("Sign out") != std::string::npos);
        CHECK(http.get("/v1/status", {cookie}).status == 200);
        // The session carries the token's scopes: a reader's session cannot act.
        CHECK(http.post("/dashboard/actions/retry", "csrf=" + csrf, "application/x-www-form-urlencoded", {cookie}).status == 403);

        // An open redirect is not possible through next.
        Response away = http.post("/dashboard/login", "csrf=" + csrf + "&token=" + reader + "&next=https%3A%2F%2Fevil.example",
                                  "application/x-www-form-urlencoded", {csrfCookie});
        CHECK(away.header("location") == "/dashboard");

        Response out = http.post("/dashboard/logout", "csrf=" + csrf, "application/x-www-form-urlencoded", {cookie});
        CHECK(out.status == 303);
        CHECK(http.get("/dashboard/jobs", {cookie}).status == 303);
        CHECK(http.get("/v1/status", {cookie}).status == 401);
    }
}

TEST_CASE("/metrics can be left open for a Prometheus without a token") {
    TempDir dir;
    makeToken(dir / "tokens", "reader", "read");
    DaemonOptions options;
    options.args = {"--token-file", (dir / "tokens").string(), "--public-metrics"};
    Daemon d(options);
    CHECK(d.http().get("/metrics").status == 200);
    CHECK(d.http().get("/v1/jobs").status == 401);
}

TEST_CASE("a non-loopback address is not served without tokens unless --insecure says so") {
    TempDir dir;
    std::string serve = "'" + binaryPath().string() + "' serve --listen 0.0.0.0:0 --data-dir '" + (dir / "data").string() +
                        "' --plugin-dir '" + fixturePluginDir().string() + "'";
    std::string out;
    CHECK(runCommand(serve + " 2>&1", &out) == 2);
    CHECK(out.find("--token-file") != std::string::npos);

    // With --insecure it starts and keeps serving until stopped.
    CHECK(runCommand("timeout 3 " + serve + " --insecure >/dev/null 2>&1") == 124);

    // A bad token file stops the start with the line that is wrong.
    writeFile(dir / "tokens", "someone read s3cret-in-clear\n");
    CHECK(runCommand(serve + " --token-file '" + (dir / "tokens").string() + "' 2>&1", &out) != 0);
    CHECK(out.find("tokens:1") != std::string::npos);
}

TEST_CASE("a client over --rate-limit gets 429 with Retry-After, others are not slowed") {
    TempDir dir;
    std::string a = makeToken(dir / "tokens", "alice", "read");
    std::string b = makeToken(dir / "tokens", "bob", "read");
    DaemonOptions options;
    options.args = {"--token-file", (dir / "tokens").string(), "--rate-limit", "2", "--rate-burst", "5"};
    Daemon d(options);
    HttpClient& http = d.http();

    int ok = 0, limited = 0;
    Response last;
    for (int i = 0; i < 12; ++i) {
        Response r = http.get("/v1/status", {bearer(a)});
        if (r.status == 200) ++ok;
        if (r.status == 429) {
            ++limited;
            last = r;
        }
    }
    CHECK(ok >= 5);
    CHECK(ok <= 7);  // the burst, plus what refilled while the loop ran
    CHECK(limited == 12 - ok);
    REQUIRE(limited > 0);
    CHECK(last.json()["error"]["code"] == "rate_limited");
    CHECK(std::stoi(last.header("retry-after")) >= 1);

    // Another token has its own bucket; health checks are never limited.
    CHECK(http.get("/v1/status", {bearer(b)}).status == 200);
    for (int i = 0; i < 10; ++i) CHECK(http.get("/healthz").status == 200);

    // The bucket refills at the rate.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    CHECK(http.get("/v1/status", {bearer(a)}).status == 200);
}
