// The HTTP layer's defences: each route's declared scope decides who may call
// it whatever the spelling of the path; non-canonical targets are refused;
// routes that take no body refuse one before reading it;
// with auth off, only this server's own host names are answered.
#include "support/daemon.h"
#include "support/images.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <regex>
#include <thread>

using namespace pixelmill::test;

namespace {

struct Raw {
    int status = 0;
    std::string head;  // lower-cased
    std::string body;
    bool has(const std::string& text) const { return body.find(text) != std::string::npos; }
    std::string code() const {
        std::smatch m;
        return std::regex_search(body, m, std::regex("\"code\": ?\"([a-z_]+)\"")) ? std::string(m[1]) : "";
    }
};

// One request on a fresh connection, exactly as written (no client folds
// the path), read up to the end of the first answer.
Raw raw(int port, const std::string& method, const std::string& target, const std::vector<std::string>& headers = {},
        const std::string& body = "", bool sendBody = true) {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
    for (const auto& h : headers) req += h + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT")
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n";
    if (sendBody) req += body;
    int fd = connectLoopback(port);
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    std::string in;
    Raw r;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    size_t need = std::string::npos;
    char buf[65536];
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        size_t end = in.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        if (in.compare(0, 12, "HTTP/1.1 100") == 0) {  // an interim answer: the real one follows
            in.erase(0, end + 4);
            continue;
        }
        if (need == std::string::npos) {
            r.head = in.substr(0, end);
            for (char& c : r.head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::smatch m;
            size_t length = 0;
            if (std::regex_search(r.head, m, std::regex("content-length: *([0-9]+)"))) length = std::stoul(m[1]);
            need = end + 4 + length;
        }
        if (in.size() >= need) break;
    }
    ::close(fd);
    if (in.size() >= 12) r.status = std::stoi(in.substr(9, 3));
    if (need != std::string::npos) r.body = in.substr(std::min(in.size(), r.head.size() + 4));
    return r;
}

// Refused by authorisation (not by the route itself, e.g. a dashboard CSRF check).
bool refusedByScope(const Raw& r) {
    return r.status == 401 || (r.status == 403 && r.has("; this needs")) ||
           (r.status == 303 && r.head.find("location: /dashboard/login") != std::string::npos);
}

enum Need { Open = 0, Read = 1, Submit = 2, Admin = 3 };

struct RouteCase {
    std::string method;
    std::string path;
    Need need;
};

// Every route of the daemon, with an id that does not exist.
const std::vector<RouteCase>& everyRoute() {
    static const std::string x = "00000000-0000-4000-8000-000000000000";
    static const std::vector<RouteCase> all = {
        {"GET", "/", Open},
        {"GET", "/healthz", Open},
        {"GET", "/readyz", Open},
        {"GET", "/openapi.json", Open},
        {"GET", "/docs", Open},
        {"GET", "/dashboard/login", Open},
        {"POST", "/dashboard/login", Open},
        {"POST", "/dashboard/logout", Open},
        {"GET", "/dashboard/static/style.css", Open},
        {"GET", "/s/" + std::string(82, 'A'), Open},  // a share link: its token is the credential
        {"GET", "/metrics", Read},
        {"GET", "/v1/status", Read},
        {"GET", "/v1/plugins", Read},
        {"POST", "/v1/plugins/reload", Admin},
        {"GET", "/v1/jobs", Read},
        {"POST", "/v1/jobs", Submit},
        {"GET", "/v1/jobs/" + x, Read},
        {"DELETE", "/v1/jobs/" + x, Submit},
        {"GET", "/v1/jobs/" + x + "/attempts", Read},
        {"POST", "/v1/jobs/" + x + "/cancel", Submit},
        {"POST", "/v1/jobs/" + x + "/retry", Submit},
        {"GET", "/v1/jobs/" + x + "/outputs/0", Read},
        {"POST", "/v1/jobs/" + x + "/outputs/0/link", Read},
        {"GET", "/v1/jobs/" + x + "/original", Read},
        {"POST", "/v1/originals", Submit},
        {"GET", "/v1/originals", Read},
        {"GET", "/v1/originals/" + x, Read},
        {"GET", "/v1/originals/" + x + "/content", Read},
        {"DELETE", "/v1/originals/" + x, Admin},
        {"POST", "/v1/batches", Submit},
        {"GET", "/v1/batches/" + x, Read},
        {"POST", "/documents", Submit},
        {"GET", "/documents/" + x, Read},
        {"GET", "/documents/" + x + "/pages/1", Read},
        {"POST", "/ascii", Submit},
        {"POST", "/upload", Submit},
        {"GET", "/image/" + x, Read},
        {"GET", "/image/" + x + "/ascii", Read},
        {"GET", "/image/" + x + "/original", Read},
        {"GET", "/list", Read},
        {"GET", "/status", Read},
        {"POST", "/resize", Submit},
        {"GET", "/resize/status/" + x, Read},
        {"GET", "/resize/" + x, Read},
        {"POST", "/thumbnail", Submit},
        {"GET", "/thumbnail/" + x, Read},
        {"GET", "/photos/pending", Read},
        {"PUT", "/photos/process", Submit},
        {"GET", "/dashboard", Read},
        {"GET", "/dashboard/jobs", Read},
        {"GET", "/dashboard/jobs/" + x, Read},
        {"GET", "/dashboard/originals", Read},
        {"GET", "/dashboard/plugins", Read},
        {"GET", "/dashboard/submit", Read},
        {"POST", "/dashboard/actions/retry", Submit},
        {"POST", "/dashboard/actions/cancel", Submit},
        {"POST", "/dashboard/actions/process", Submit},
        {"POST", "/dashboard/actions/submit", Submit},
        {"POST", "/dashboard/actions/link", Read},
    };
    return all;
}

// A dashboard session cookie for `token`, through the login form.
std::string sessionFor(int port, const std::string& token) {
    Raw form = raw(port, "GET", "/dashboard/login");
    REQUIRE(form.status == 200);
    std::smatch m;
    REQUIRE(std::regex_search(form.body, m, std::regex("name=\"csrf\" value=\"([^\"]+)\"")));
    std::string csrf = m[1];
    Raw in = raw(port, "POST", "/dashboard/login", {"Cookie: pm_csrf=" + csrf, "Content-Type: application/x-www-form-urlencoded"},
                 "csrf=" + csrf + "&token=" + token + "&next=%2Fdashboard");
    REQUIRE(in.status == 303);
    REQUIRE(std::regex_search(in.head, m, std::regex("set-cookie: pm_session=([^;\r\n]+)")));
    return "Cookie: pm_session=" + std::string(m[1]);
}

}  // namespace

TEST_CASE("every route is authorised by its declared scope, for tokens and dashboard sessions alike") {
    TempDir dir;
    auto file = dir / "tokens";
    std::string reader = makeToken(file, "reader", "read");
    std::string submitter = makeToken(file, "uploader", "read,submit");
    std::string admin = makeToken(file, "ops", "admin");
    DaemonOptions options;
    options.args = {"--token-file", file.string()};
    Daemon d(options);
    int port = d.port();

    struct Who {
        std::string name;
        std::vector<std::string> headers;
        int level;  // -1: nobody
    };
    std::vector<Who> callers = {
        {"no token", {}, -1},
        {"read", {"Authorization: Bearer " + reader}, Read},
        {"read,submit", {"Authorization: Bearer " + submitter}, Submit},
        {"admin", {"Authorization: Bearer " + admin}, Admin},
        {"reader's dashboard session", {sessionFor(port, reader)}, Read},
        {"admin's dashboard session", {sessionFor(port, admin)}, Admin},
    };
    for (const RouteCase& route : everyRoute()) {
        for (const Who& who : callers) {
            INFO(route.method << " " << route.path << " as " << who.name);
            Raw r = raw(port, route.method, route.path, who.headers);
            bool allowed = route.need == Open || who.level >= route.need;
            CHECK(refusedByScope(r) == !allowed);
            CHECK(r.status != 0);
            CHECK(r.status != 500);
            if (!allowed && who.level < 0 && r.status != 303) CHECK(r.status == 401);
            if (!allowed && who.level >= 0) CHECK(r.status == 403);
        }
    }
    // A page that no route has still asks a person to sign in first.
    Raw page = raw(port, "GET", "/dashboard/nowhere");
    CHECK(page.status == 303);
    CHECK(raw(port, "GET", "/dashboard/nowhere", callers[1].headers).status == 404);
}

TEST_CASE("a non-canonical request target is 400 invalid_path, whoever sends it, and runs nothing") {
    TempDir dir;
    auto file = dir / "tokens";
    std::string submitter = makeToken(file, "uploader", "read,submit");
    std::string admin = makeToken(file, "ops", "admin");
    DaemonOptions options;
    options.args = {"--token-file", file.string()};
    Daemon d(options);
    int port = d.port();

    std::vector<std::vector<std::string>> identities = {
        {}, {"Authorization: Bearer " + submitter}, {"Authorization: Bearer " + admin}};
    for (const RouteCase& route : everyRoute()) {
        const std::string& p = route.path;
        std::vector<std::string> bad = {"/" + p, "X" + p.substr(1), "/." + p, p + "/.", p + "/..", "/v1/../" + p.substr(1)};
        if (p != "/") bad.push_back(p.substr(0, p.rfind('/')) + "/" + p.substr(p.rfind('/')));  // a // in the middle
        if (p.find('/', 1) != std::string::npos) {
            std::string enc = p;
            enc.replace(enc.find('/', 1), 1, "%2F");
            bad.push_back(enc);
            std::string lower = p;
            lower.replace(lower.find('/', 1), 1, "%2f");
            bad.push_back(lower);
        }
        for (const auto& target : bad) {
            for (const auto& who : identities) {
                INFO(route.method << " " << target << (who.empty() ? " without a token" : " with " + who[0].substr(22, 6)));
                Raw r = raw(port, route.method, target, who);
                CHECK(r.status == 400);
                CHECK(r.code() == "invalid_path");
            }
        }
        // A trailing slash is another path: no route has it.
        if (p != "/") {
            INFO(route.method << " " << p << "/");
            Raw r = raw(port, route.method, p + "/", identities[2]);
            CHECK(r.status == 404);
            int anonymous = raw(port, route.method, p + "/", {}).status;
            CHECK((anonymous == 401 || (anonymous == 303 && p.starts_with("/dashboard"))));
        }
    }
    // An encoded character that is not a separator is fine.
    CHECK(raw(port, "GET", "/v1/jobs/a%20b", identities[1]).status == 404);
}

TEST_CASE("a read,submit token cannot delete an original or reload plugins through another spelling of the path") {
    TempDir dir;
    auto file = dir / "tokens";
    std::string submitter = makeToken(file, "uploader", "read,submit");
    DaemonOptions options;
    options.args = {"--token-file", file.string()};
    Daemon d(options);
    int port = d.port();
    initVips();
    makePng(dir / "a.png", 64, 48);
    std::string png = readFile(dir / "a.png");
    std::string auth = "Authorization: Bearer " + submitter;

    Raw stored = raw(port, "POST", "/v1/originals?filename=a.png", {auth, "Content-Type: image/png"}, png);
    REQUIRE(stored.status == 201);
    std::smatch m;
    REQUIRE(std::regex_search(stored.body, m, std::regex("\"id\": ?\"([^\"]+)\"")));
    std::string id = m[1];
    for (std::string target : {"/v1/originals/" + id, "//v1/originals/" + id, "/v1//originals/" + id,
                               "/v1/originals/" + id + "/", "Xv1/originals/" + id, "/v1%2Foriginals/" + id,
                               "/./v1/originals/" + id, "/v1/x/../originals/" + id}) {
        INFO("DELETE " << target);
        Raw r = raw(port, "DELETE", target, {auth});
        CHECK(r.status != 204);
        CHECK((r.status == 403 || r.status == 400 || r.status == 404));
    }
    Raw content = raw(port, "GET", "/v1/originals/" + id + "/content", {auth});
    CHECK(content.status == 200);
    CHECK(content.body == png);
    for (std::string target : {"//v1/plugins/reload", "/v1/plugins/reload/", "/v1//plugins/reload"})
        CHECK(raw(port, "POST", target, {auth}).status != 200);
    CHECK(raw(port, "POST", "/v1/plugins/reload", {auth}).status == 403);
}

TEST_CASE("routes that take no body refuse one before reading it, and forms take at most four files") {
    TempDir dir;
    Daemon d;
    int port = d.port();

    SECTION("an open route with a body is 400 unexpected_body, without waiting for the body") {
        for (std::string target : {"/healthz", "/readyz", "/docs", "/dashboard/static/style.css", "/nowhere"}) {
            INFO(target);
            auto started = std::chrono::steady_clock::now();
            // Ten megabytes announced, none sent: the answer cannot have waited for them.
            Raw r = raw(port, "GET", target, {"Content-Length: 10000000"}, "", false);
            CHECK(r.status == 400);
            CHECK(r.code() == "unexpected_body");
            CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
        }
        Raw chunked = raw(port, "DELETE", "/v1/jobs/x", {"Transfer-Encoding: chunked"}, "", false);
        CHECK(chunked.code() == "unexpected_body");
        // Expect: 100-continue gets the refusal instead of the go-ahead.
        Raw expect = raw(port, "GET", "/healthz", {"Content-Length: 5", "Expect: 100-continue"}, "", false);
        CHECK(expect.status == 400);
        CHECK(filesUnder(d.dataDir() / "tmp").empty());
        // A method the path does not have is 405, also before the body.
        Raw wrong = raw(port, "DELETE", "/v1/plugins", {"Content-Length: 10000000"}, "", false);
        CHECK(wrong.status == 405);
        CHECK(wrong.head.find("allow: get") != std::string::npos);
        // Without a body the same routes answer.
        CHECK(raw(port, "GET", "/healthz").status == 200);
    }

    SECTION("the open login form takes a small body only") {
        Raw big = raw(port, "POST", "/dashboard/login", {"Content-Type: application/x-www-form-urlencoded"},
                      "token=" + std::string(100000, 'a'));
        CHECK(big.status == 413);
        CHECK(big.has("16 KiB"));
    }

    SECTION("five file parts are refused, naming the limit") {
        std::string boundary = "XyZ";
        std::string body;
        for (int i = 0; i < 5; ++i)
            body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f" +
                    std::to_string(i) + ".png\"\r\n\r\nabc\r\n";
        body += "--" + boundary + "--\r\n";
        Raw r = raw(port, "POST", "/v1/jobs?plugin=thumbnail",
                    {"Content-Type: multipart/form-data; boundary=" + boundary}, body);
        CHECK(r.status == 400);
        CHECK(r.code() == "bad_multipart");
        CHECK(r.has("at most 4 file parts"));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        CHECK(filesUnder(d.dataDir() / "tmp").empty());
    }
}

TEST_CASE("with auth off, only this server's own host names are answered (DNS rebinding)") {
    TempDir dir;
    Daemon d(DaemonOptions{.args = {"--public-url", "https://img.example.com:8443/base"}});
    int port = d.port();
    auto withHost = [&](const std::string& method, const std::string& target, const std::string& host) {
        std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
        auto answers = rawAnswers(port, req, 1, 5000);
        return answers.empty() ? 0 : answers[0].status;
    };
    std::string p = std::to_string(port);
    for (const std::string& host : std::vector<std::string>{"127.0.0.1:" + p, "localhost:" + p, "LOCALHOST", "[::1]:" + p, "img.example.com",
                             "img.example.com:8443"}) {
        INFO(host);
        CHECK(withHost("GET", "/v1/status", host) == 200);
    }
    for (const std::string& host : std::vector<std::string>{"evil.example:" + p, "evil.example", "127.0.0.1.evil.example", "localhost.evil.example:" + p,
                             "img.example.com.evil.example"}) {
        INFO(host);
        CHECK(withHost("GET", "/v1/status", host) == 421);
        CHECK(withHost("DELETE", "/v1/jobs/x", host) == 421);
        CHECK(withHost("GET", "/dashboard", host) == 421);
    }
    auto noHost = rawAnswers(port, "GET /v1/status HTTP/1.1\r\nConnection: close\r\n\r\n", 1, 5000);
    REQUIRE(noHost.size() == 1);
    CHECK(noHost[0].status == 421);
    CHECK(noHost[0].body.find("misdirected_request") != std::string::npos);
    // Health checks answer whatever name a load balancer uses.
    CHECK(withHost("GET", "/healthz", "evil.example") == 200);
    CHECK(withHost("GET", "/readyz", "evil.example") == 200);
}

TEST_CASE("with tokens, any Host is answered: the token is the guard") {
    TempDir dir;
    std::string reader = makeToken(dir / "tokens", "reader", "read");
    Daemon d(DaemonOptions{.args = {"--token-file", (dir / "tokens").string()}});
    std::string req = "GET /v1/status HTTP/1.1\r\nHost: pixelmill.internal\r\nAuthorization: Bearer " + reader +
                      "\r\nConnection: close\r\n\r\n";
    auto answers = rawAnswers(d.port(), req, 1, 5000);
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 200);
}

TEST_CASE("HEAD answers as GET would without the body, OPTIONS and 405 name the route's real methods") {
    Daemon d;
    int port = d.port();
    const std::string host = "Host: 127.0.0.1\r\n";
    // What comes after a HEAD's headers is the next answer, never a body: a
    // body there would be read as the start of the next response.
    auto afterHead = [&](const std::string& head) {
        std::string out = rawExchange(port, head + "GET /healthz HTTP/1.1\r\n" + host + "\r\n", 1500);
        INFO(out);
        size_t end = out.find("\r\n\r\n");
        REQUIRE(end != std::string::npos);
        CHECK(out.compare(end + 4, 15, "HTTP/1.1 200 OK") == 0);
        CHECK(out.ends_with("\r\n\r\nok\n"));
        return out.substr(0, end);
    };

    std::string health = afterHead("HEAD /healthz HTTP/1.1\r\n" + host + "\r\n");
    CHECK(health.starts_with("HTTP/1.1 200 OK"));
    CHECK(health.find("Content-Length: 3") != std::string::npos);  // what GET sends: "ok\n"

    std::string refused = afterHead("HEAD /v1/batches HTTP/1.1\r\n" + host + "\r\n");  // POST only
    CHECK(refused.starts_with("HTTP/1.1 405"));
    CHECK(refused.find("Allow: POST, OPTIONS") != std::string::npos);
    CHECK(afterHead("HEAD /no/such/path HTTP/1.1\r\n" + host + "\r\n").starts_with("HTTP/1.1 404"));
    // Refused before its route is looked at: still no body.
    std::string odd = rawExchange(port, "HEAD //healthz HTTP/1.1\r\n" + host + "\r\n", 1000);
    CHECK(odd.starts_with("HTTP/1.1 400"));
    CHECK(odd.ends_with("\r\n\r\n"));

    Response options = d.http().request("OPTIONS", "/v1/jobs");
    CHECK(options.status == 204);
    CHECK(options.header("allow") == "GET, HEAD, POST, OPTIONS");
    Response put = d.http().request("PUT", "/healthz");
    CHECK(put.status == 405);
    CHECK(put.header("allow") == "GET, HEAD, OPTIONS");
    CHECK(put.json()["error"]["code"] == "method_not_allowed");

    // A stored file: the same headers as its GET, its length, no bytes.
    TempDir files;
    makePng(files / "a.png", 64, 64);
    Response submitted = d.http().post("/v1/jobs?plugin=thumbnail&size=16", readFile(files / "a.png"),
                                       "application/octet-stream");
    REQUIRE(submitted.status == 202);
    auto job = d.waitForJob(submitted.json()["id"]);
    REQUIRE(job["state"] == "succeeded");
    const std::string url = job["outputs"][0]["url"];
    Response got = d.http().get(url);
    Response head = d.http().request("HEAD", url);
    CHECK(head.status == 200);
    CHECK(head.body.empty());
    CHECK(head.header("content-length") == std::to_string(got.body.size()));
    CHECK(head.header("etag") == got.header("etag"));
    CHECK(head.header("content-type") == got.header("content-type"));
    CHECK(head.header("cache-control") == got.header("cache-control"));
}
