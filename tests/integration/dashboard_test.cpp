// The dashboard over HTTP, against the real daemon: pages list what was
// seeded, filters and paging hold, user-controlled text stays text, and
// state changes only through POSTs that carry the CSRF token.
#include "support/daemon.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <regex>
#include <set>
#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;

namespace {

const std::string kEvil = "<img src=x onerror=alert(1)>.png";
const std::string kEvilEscaped = "&lt;img src=x onerror=alert(1)&gt;.png";

// A multipart upload of `bytes` named `filename`, with form fields; returns the job.
nlohmann::json submitBytes(Daemon& d, const std::string& bytes, const std::string& filename, const std::string& plugin,
                           const std::map<std::string, std::string>& fields = {}) {
    std::vector<FormPart> parts{{"plugin", plugin, "", ""}};
    for (const auto& [k, v] : fields) parts.push_back({k, v, "", ""});
    parts.push_back({"file", bytes, filename, "application/octet-stream"});
    Response r = d.http().postForm("/v1/jobs", parts);
    INFO(r.body);
    REQUIRE((r.status == 202 || r.status == 200));
    return r.json();
}

std::string submitText(Daemon& d, const std::string& name, const std::string& plugin,
                       const std::map<std::string, std::string>& fields = {}) {
    return submitBytes(d, "content of " + name, name, plugin, fields)["id"];
}

std::string unescape(std::string s) {
    for (size_t at = 0; (at = s.find("&amp;", at)) != std::string::npos; ++at) s.replace(at, 5, "&");
    return s;
}

int count(const std::string& text, const std::string& needle) {
    int n = 0;
    for (size_t at = 0; (at = text.find(needle, at)) != std::string::npos; at += needle.size()) ++n;
    return n;
}

// The job ids a jobs table lists, in order.
std::vector<std::string> listedIds(const std::string& html) {
    static const std::regex row(R"re(name="id" value="([0-9a-f-]{36})")re");
    std::vector<std::string> ids;
    for (auto it = std::sregex_iterator(html.begin(), html.end(), row); it != std::sregex_iterator(); ++it)
        ids.push_back((*it)[1]);
    return ids;
}

std::optional<std::string> link(const std::string& html, const std::string& rel) {
    std::smatch m;
    if (!std::regex_search(html, m, std::regex("rel=\"" + rel + "\" href=\"([^\"]+)\""))) return std::nullopt;
    return unescape(m[1]);
}

// A browser's session: the CSRF cookie the dashboard sets, and the same
// token as its forms carry it.
struct Session {
    std::string token;

    explicit Session(Daemon& d) {
        Response page = d.http().get("/dashboard/jobs");
        REQUIRE(page.status == 200);
        std::string cookie = page.header("set-cookie");
        INFO(cookie);
        std::smatch m;
        REQUIRE(std::regex_search(cookie, m, std::regex("pm_csrf=([0-9a-f]{64})")));
        token = m[1];
        CHECK(cookie.find("HttpOnly") != std::string::npos);
        CHECK(cookie.find("SameSite=Strict") != std::string::npos);
        CHECK(cookie.find("Path=/dashboard") != std::string::npos);
        CHECK(page.body.find("name=\"csrf\" value=\"" + token + "\"") != std::string::npos);
    }
    std::vector<std::string> headers(Daemon& d) const { return {"Cookie: pm_csrf=" + token, "Origin: " + d.base()}; }
    Response post(Daemon& d, const std::string& path, const std::string& form) const {
        return d.http().post(path, "csrf=" + token + "&" + form, "application/x-www-form-urlencoded", headers(d));
    }
};

std::string jobState(Daemon& d, const std::string& id) { return d.http().get("/v1/jobs/" + id).json()["state"]; }

}  // namespace

TEST_CASE("dashboard: every page answers 200 with the seeded jobs") {
    Daemon d;
    TempDir files;
    makePng(files / "photo.png", 320, 200, false, 1);
    Response ok = d.submit((files / "photo.png").string(), "thumbnail", {{"size", "64"}});
    std::string succeeded = ok.json()["id"];
    REQUIRE(d.waitForJob(succeeded)["state"] == "succeeded");
    std::string failed = submitText(d, "broken.txt", "flaky", {{"permanent", "true"}});
    d.waitForJob(failed);
    std::vector<std::string> slow;
    for (int i = 0; i < 3; ++i) slow.push_back(submitText(d, "long-" + std::to_string(i) + ".txt", "slow", {{"ms", "600000"}}));
    d.waitForJob(slow[0], {"running"});

    Response overview = d.http().get("/dashboard");
    REQUIRE(overview.status == 200);
    CHECK(overview.header("content-type").find("text/html") == 0);
    CHECK(overview.header("content-security-policy").find("script-src 'self'") != std::string::npos);
    CHECK(overview.body.find("this source is never accepted") != std::string::npos);  // the latest failure, inline
    CHECK(overview.body.find("/dashboard/jobs/" + failed) != std::string::npos);
    CHECK(overview.body.find("<svg class=\"chart\"") != std::string::npos);
    CHECK(overview.body.find("Throughput") != std::string::npos);

    Response jobs = d.http().get("/dashboard/jobs");
    REQUIRE(jobs.status == 200);
    auto ids = listedIds(jobs.body);
    CHECK(ids.size() == 5);
    CHECK(ids.front() == slow.back());  // newest first
    CHECK(ids.back() == succeeded);
    CHECK(jobs.body.find("photo.png") != std::string::npos);

    Response job = d.http().get("/dashboard/jobs/" + succeeded);
    REQUIRE(job.status == 200);
    CHECK(job.body.find("src=\"/v1/jobs/" + succeeded + "/outputs/0\"") != std::string::npos);
    CHECK(job.body.find("src=\"/v1/jobs/" + succeeded + "/original\"") != std::string::npos);
    CHECK(job.body.find("attempt 1 succeeded") != std::string::npos);

    Response failedPage = d.http().get("/dashboard/jobs/" + failed);
    CHECK(failedPage.body.find("data-action=\"retry\"") != std::string::npos);
    CHECK(failedPage.body.find("unprocessable") != std::string::npos);
    CHECK(d.http().get("/dashboard/jobs/" + slow[0]).body.find("data-action=\"cancel\"") != std::string::npos);

    Response originals = d.http().get("/dashboard/originals");
    REQUIRE(originals.status == 200);
    CHECK(originals.body.find("broken.txt") != std::string::npos);
    CHECK(count(originals.body, "name=\"original\" value=") == 5);

    Response plugins = d.http().get("/dashboard/plugins");
    REQUIRE(plugins.status == 200);
    CHECK(plugins.body.find("id=\"plugin-thumbnail\"") != std::string::npos);
    CHECK(plugins.body.find("1 – 4096") != std::string::npos);  // the size parameter's range, from the schema

    Response submit = d.http().get("/dashboard/submit?plugin=resize");
    REQUIRE(submit.status == 200);
    CHECK(submit.body.find("enctype=\"multipart/form-data\"") != std::string::npos);
    CHECK(submit.body.find("name=\"resize.width\"") != std::string::npos);

    Response css = d.http().get("/dashboard/static/style.css");
    CHECK(css.status == 200);
    CHECK(css.header("content-type").find("text/css") == 0);
    CHECK(d.http().get("/dashboard/static/app.js").header("content-type").find("javascript") != std::string::npos);
    CHECK(d.http().get("/dashboard/static/nope.css").status == 404);

    Response missing = d.http().get("/dashboard/jobs/00000000-0000-4000-8000-000000000000", {"Accept: text/html"});
    CHECK(missing.status == 404);
    CHECK(missing.header("content-type").find("text/html") == 0);
    CHECK(d.http().get("/", {}).header("location") == "/dashboard");
}

TEST_CASE("dashboard: filters, search and cursor paging") {
    Daemon d;
    std::vector<std::string> all;  // oldest first
    for (int i = 0; i < 7; ++i) all.push_back(submitText(d, "alpha-" + std::to_string(i) + ".txt", "noop"));
    for (int i = 0; i < 3; ++i) all.push_back(submitText(d, "Beta-" + std::to_string(i) + ".txt", "noop"));
    std::string failed = submitText(d, "gamma.txt", "flaky", {{"permanent", "true"}});
    all.push_back(failed);
    for (const auto& id : all) d.waitForJob(id);

    SECTION("by state and plugin") {
        auto failedOnly = listedIds(d.http().get("/dashboard/jobs?state=failed").body);
        CHECK(failedOnly == std::vector<std::string>{failed});
        CHECK(listedIds(d.http().get("/dashboard/jobs?plugin=noop").body).size() == 10);
        CHECK(listedIds(d.http().get("/dashboard/jobs?state=failed&plugin=noop").body).empty());
        CHECK(d.http().get("/dashboard/jobs?state=bogus").status == 400);
    }
    SECTION("search by filename prefix, any case, and by id prefix") {
        auto beta = listedIds(d.http().get("/dashboard/jobs?q=beta").body);
        CHECK(beta == std::vector<std::string>{all[9], all[8], all[7]});
        CHECK(listedIds(d.http().get("/dashboard/jobs?q=ALPHA-3").body) == std::vector<std::string>{all[3]});
        CHECK(listedIds(d.http().get("/dashboard/jobs?q=" + all[5].substr(0, 8)).body) ==
              std::vector<std::string>{all[5]});
        CHECK(listedIds(d.http().get("/dashboard/jobs?q=" + all[5]).body) == std::vector<std::string>{all[5]});
        CHECK(listedIds(d.http().get("/dashboard/jobs?q=delta").body).empty());
        // What a browser sends: percent-encoding, '+' for a space.
        CHECK(listedIds(d.http().get("/dashboard/jobs?q=%42eta-1").body) == std::vector<std::string>{all[8]});
        CHECK(listedIds(d.http().get("/dashboard/jobs?q=beta&plugin=noop&state=succeeded").body).size() == 3);
    }
    SECTION("paging walks every job once, both ways") {
        std::vector<std::string> seen;
        std::vector<std::vector<std::string>> pages;
        std::string path = "/dashboard/jobs?limit=4";
        for (int guard = 0; guard < 10; ++guard) {
            Response r = d.http().get(path);
            REQUIRE(r.status == 200);
            pages.push_back(listedIds(r.body));
            seen.insert(seen.end(), pages.back().begin(), pages.back().end());
            auto older = link(r.body, "next");
            if (!older) break;
            CHECK(older->find("limit=4") != std::string::npos);
            path = *older;
        }
        std::vector<std::string> expected(all.rbegin(), all.rend());
        CHECK(seen == expected);
        REQUIRE(pages.size() == 3);
        // Back from the last page to the first.
        Response last = d.http().get(path);
        auto newer = link(last.body, "prev");
        REQUIRE(newer);
        CHECK(listedIds(d.http().get(*newer).body) == pages[1]);
        auto filtered = listedIds(d.http().get("/dashboard/jobs?plugin=noop&limit=4&before=" + std::string("999999")).body);
        CHECK(filtered.size() == 4);
    }
}

TEST_CASE("dashboard: user-controlled strings are shown escaped") {
    Daemon d;
    TempDir files;
    makePng(files / "e.png", 40, 30, false, 7);
    auto job = submitBytes(d, readFile(files / "e.png"), kEvil, "flaky", {{"permanent", "true"}});
    REQUIRE(job["original"]["filename"] == kEvil);  // stored as given
    std::string id = job["id"];
    d.waitForJob(id);
    std::string tagged = submitText(d, "t.txt", "slow", {{"ms", "0"}, {"tag", "<script>alert(2)</script>"}});
    d.waitForJob(tagged);

    for (const std::string& path : std::vector<std::string>{"/dashboard", "/dashboard/jobs", "/dashboard/jobs/" + id,
                                                            "/dashboard/originals", "/dashboard/jobs?q=%3Cimg"}) {
        INFO(path);
        Response r = d.http().get(path);
        REQUIRE(r.status == 200);
        CHECK(r.body.find(kEvilEscaped) != std::string::npos);
        CHECK(r.body.find("<img src=x") == std::string::npos);
    }
    Response page = d.http().get("/dashboard/jobs/" + tagged);
    CHECK(page.body.find("&lt;script&gt;alert(2)&lt;/script&gt;") != std::string::npos);
    CHECK(page.body.find("<script>alert(2)") == std::string::npos);
    Response notice = d.http().get("/dashboard/jobs?notice=%3Cscript%3Ealert(3)%3C/script%3E");
    CHECK(notice.body.find("&lt;script&gt;alert(3)&lt;/script&gt;") != std::string::npos);
    CHECK(notice.body.find("<script>alert(3)") == std::string::npos);
}

TEST_CASE("dashboard: a POST without a valid CSRF token is refused and changes nothing") {
    Daemon d;
    std::string failed = submitText(d, "f.txt", "flaky", {{"permanent", "true"}});
    d.waitForJob(failed);
    Session session(d);
    const std::string form = "id=" + failed + "&return=/dashboard/jobs";
    auto post = [&](const std::string& body, const std::vector<std::string>& headers) {
        return d.http().post("/dashboard/actions/retry", body, "application/x-www-form-urlencoded", headers);
    };

    SECTION("no token at all") {
        Response r = post(form, {"Origin: " + d.base()});
        CHECK(r.status == 403);
        CHECK(r.body.find("CSRF") != std::string::npos);
    }
    SECTION("the cookie without the form field") {
        CHECK(post(form, session.headers(d)).status == 403);
    }
    SECTION("the form field without the cookie") {
        CHECK(post("csrf=" + session.token + "&" + form, {"Origin: " + d.base()}).status == 403);
    }
    SECTION("a token that does not match the cookie") {
        std::string wrong = session.token;
        wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
        CHECK(post("csrf=" + wrong + "&" + form, session.headers(d)).status == 403);
    }
    SECTION("the right token from another site") {
        Response r = post("csrf=" + session.token + "&" + form,
                          {"Cookie: pm_csrf=" + session.token, "Origin: http://evil.example"});
        CHECK(r.status == 403);
        Response viaReferer = post("csrf=" + session.token + "&" + form,
                                   {"Cookie: pm_csrf=" + session.token, "Referer: http://evil.example/page"});
        CHECK(viaReferer.status == 403);
    }
    SECTION("a JSON client gets the API's error body") {
        Response r = post(form, {"Accept: application/json"});
        CHECK(r.status == 403);
        CHECK(r.json()["error"]["code"] == "csrf_failed");
    }
    SECTION("the submit form too") {
        Response r = d.http().postForm("/dashboard/actions/submit",
                                       {{"plugin", "noop", "", ""}, {"file", "x", "x.txt", "text/plain"}});
        CHECK(r.status == 403);
        CHECK(listedIds(d.http().get("/dashboard/jobs").body).size() == 1);
    }
    CHECK(jobState(d, failed) == "failed");
    CHECK(d.http().get("/v1/jobs/" + failed).json()["attempts"] == 1);
}

TEST_CASE("dashboard: actions with the token change state") {
    Daemon d;
    Session session(d);

    SECTION("retry a failed job") {
        std::string failed = submitText(d, "f.txt", "flaky", {{"permanent", "true"}});
        d.waitForJob(failed);
        Response r = session.post(d, "/dashboard/actions/retry", "id=" + failed + "&return=/dashboard/jobs/" + failed);
        CHECK(r.status == 303);
        CHECK(r.header("location").rfind("/dashboard/jobs/" + failed + "?notice=Retried", 0) == 0);
        auto again = d.waitForJob(failed);
        CHECK(again["attempts"] == 2);
        CHECK(again["state"] == "failed");  // the fixture never succeeds
    }
    SECTION("cancel one job, then several at once") {
        std::vector<std::string> ids;
        for (int i = 0; i < 3; ++i) ids.push_back(submitText(d, "s" + std::to_string(i) + ".txt", "slow", {{"ms", "600000"}}));
        Response one = session.post(d, "/dashboard/actions/cancel", "id=" + ids[0]);
        CHECK(one.status == 303);
        CHECK(one.header("location").rfind("/dashboard/jobs?notice=Canceled", 0) == 0);
        CHECK(jobState(d, ids[0]) == "canceled");
        Response both = session.post(d, "/dashboard/actions/cancel", "id=" + ids[1] + "&id=" + ids[2] +
                                                                         "&return=%2Fdashboard%2Fjobs%3Fplugin%3Dslow");
        CHECK(both.status == 303);
        CHECK(both.header("location").rfind("/dashboard/jobs?plugin=slow&notice=Canceled%202%20jobs", 0) == 0);
        CHECK(jobState(d, ids[1]) == "canceled");
        CHECK(jobState(d, ids[2]) == "canceled");
        // Canceling again is reported, not hidden.
        Response again = session.post(d, "/dashboard/actions/cancel", "id=" + ids[1]);
        CHECK(again.header("location").find("problem=") != std::string::npos);
    }
    SECTION("an off-site return path is not followed") {
        Response r = session.post(d, "/dashboard/actions/retry", "id=00000000-0000-4000-8000-000000000000&return=//evil.example/");
        CHECK(r.status == 303);
        CHECK(r.header("location").rfind("/dashboard/jobs?problem=", 0) == 0);
    }
    SECTION("process pending originals with a plugin") {
        TempDir files;
        makePng(files / "o.png", 200, 100, false, 3);
        Response up = d.http().postFile("/v1/originals", "file", (files / "o.png").string());
        REQUIRE(up.status == 201);
        std::string original = up.json()["id"];
        CHECK(d.http().get("/dashboard/originals?pending=true").body.find(original) != std::string::npos);
        Response r = session.post(d, "/dashboard/actions/process",
                                  "original=" + original + "&plugin=thumbnail&thumbnail.size=48&resize.width=9");
        CHECK(r.status == 303);
        CHECK(r.header("location").rfind("/dashboard/jobs?plugin=thumbnail&notice=Batch", 0) == 0);
        auto jobs = d.http().get("/v1/jobs?original=" + original).json()["jobs"];
        REQUIRE(jobs.size() == 1);
        CHECK(jobs[0]["params"]["size"] == 48);
        CHECK(d.waitForJob(jobs[0]["id"])["outputs"][0]["width"] == 48);
        CHECK(d.http().get("/dashboard/originals?pending=true").body.find(original) == std::string::npos);
    }
    SECTION("submit a new job from the upload form") {
        TempDir files;
        makePng(files / "u.png", 300, 150, false, 4);
        const std::string boundary = "pmdashboardtestboundary";
        std::string body;
        auto field = [&](const std::string& name, const std::string& value) {
            body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
        };
        field("csrf", session.token);
        field("plugin", "thumbnail");
        field("thumbnail.size", "32");
        field("resize.width", "");
        body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u.png\"\r\n"
                "Content-Type: image/png\r\n\r\n" + readFile(files / "u.png") + "\r\n--" + boundary + "--\r\n";
        Response r = d.http().post("/dashboard/actions/submit", body, "multipart/form-data; boundary=" + boundary,
                                   session.headers(d));
        INFO(r.body);
        REQUIRE(r.status == 303);
        std::smatch m;
        std::string location = r.header("location");
        REQUIRE(std::regex_search(location, m, std::regex("^/dashboard/jobs/([0-9a-f-]{36})\\?notice=")));
        auto job = d.waitForJob(m[1]);
        CHECK(job["state"] == "succeeded");
        CHECK(job["original"]["filename"] == "u.png");
        CHECK(job["outputs"][0]["width"] == 32);

        // A plugin that refuses the file: the form comes back with the reason.
        std::string bad = body;
        bad.replace(bad.find("thumbnail\r\n"), 9, "pdf2png");
        Response refused = d.http().post("/dashboard/actions/submit", bad, "multipart/form-data; boundary=" + boundary,
                                         session.headers(d));
        CHECK(refused.status == 415);
        CHECK(refused.body.find("error-box") != std::string::npos);
        CHECK(refused.body.find("application/pdf") != std::string::npos);
    }
}

TEST_CASE("dashboard: GET never changes state") {
    Daemon d;
    std::string failed = submitText(d, "f.txt", "flaky", {{"permanent", "true"}});
    std::string slow = submitText(d, "s.txt", "slow", {{"ms", "600000"}});
    d.waitForJob(failed);
    d.waitForJob(slow, {"running"});
    Session session(d);
    std::vector<std::string> paths = {"/dashboard/actions/retry?id=" + failed + "&csrf=" + session.token,
                                      "/dashboard/actions/cancel?id=" + slow + "&csrf=" + session.token,
                                      "/dashboard/actions/process?csrf=" + session.token,
                                      "/dashboard?retry=" + failed,
                                      "/dashboard/jobs?id=" + failed + "&action=retry",
                                      "/dashboard/jobs/" + failed + "?action=retry",
                                      "/dashboard/jobs/" + slow + "?action=cancel",
                                      "/dashboard/originals?process=1",
                                      "/dashboard/submit?plugin=noop"};
    for (const auto& path : paths) {
        INFO(path);
        Response r = d.http().get(path, session.headers(d));
        CHECK(r.status != 303);
        if (path.rfind("/dashboard/actions/", 0) == 0) CHECK(r.status == 405);
    }
    CHECK(jobState(d, failed) == "failed");
    CHECK(jobState(d, slow) == "running");
    CHECK(d.http().get("/v1/jobs").json()["jobs"].size() == 2);
}

TEST_CASE("dashboard: the job page shows webhook delivery attempts, the URL as text") {
    Daemon d(DaemonOptions{.args = {"--allow-private-network", "--notify-retry-base", "0.2"}});
    // Nothing listens on port 9 of loopback: every attempt fails.
    const std::string hook = "http://127.0.0.1:9/hook?next=\"><script>alert(4)</script>";
    auto job = submitBytes(d, "hooked", "h.txt", "noop", {{"callback_url", hook}});
    std::string id = job["id"];
    d.waitForJob(id);
    Response page;
    for (int i = 0; i < 100; ++i) {
        page = d.http().get("/dashboard/jobs/" + id);
        if (page.body.find("delivery-") != std::string::npos && d.http().get("/v1/jobs/" + id).json()["callback"]["attempts"] >= 1)
            break;
        std::this_thread::sleep_for(100ms);
    }
    page = d.http().get("/dashboard/jobs/" + id);
    INFO(page.body);
    CHECK(page.body.find("Notifications") != std::string::npos);
    CHECK(page.body.find("webhook") != std::string::npos);
    CHECK(page.body.find("&lt;script&gt;alert(4)&lt;/script&gt;") != std::string::npos);
    CHECK(page.body.find("<script>alert(4)") == std::string::npos);
    CHECK(page.body.find("href=\"http://127.0.0.1:9") == std::string::npos);  // never a link
}
