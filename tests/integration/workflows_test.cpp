// The seed users' push workflows through the v1 API: URL sources, signed
// webhooks that survive a restart, and email through a local SMTP sink.
#include "support/daemon.h"
#include "support/http_server.h"
#include "support/images.h"
#include "support/smtp_sink.h"

#include <catch2/catch.hpp>

#include <openssl/hmac.h>

#include <thread>

using namespace pixelmill::test;
using namespace std::chrono_literals;

namespace {

std::string hmacHex(const std::string& key, const std::string& body) {
    unsigned char out[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(body.data()),
         body.size(), out, &len);
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < len; ++i) {
        s.push_back(hex[out[i] >> 4]);
        s.push_back(hex[out[i] & 15]);
    }
    return s;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 15s) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (pred()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return pred();
}

}  // namespace

TEST_CASE("source_url: the daemon downloads the source, sniffs it and runs the job") {
    HttpServer origin;
    TempDir files;
    makeJpeg(files / "remote.jpg", 900, 600);
    origin.on("/img/remote.jpg", Reply{200, {{"Content-Type", "text/plain"}}, readFile(files / "remote.jpg")});
    origin.on("/moved", Reply::redirect("/img/remote.jpg"));
    origin.on("/huge.jpg", Reply{200, {}, "\xff\xd8\xff", 4 << 20});

    SECTION("private addresses are refused unless allowed") {
        Daemon d;
        Response r = d.http().post("/v1/jobs", nlohmann::json{{"plugin", "thumbnail"}, {"source_url", origin.url("/img/remote.jpg")}}.dump(),
                                   "application/json");
        CHECK(r.status == 400);
        CHECK(r.json()["error"]["field"] == "source_url");
        CHECK(origin.requestCount() == 0);
        Response hook = d.http().postFile("/v1/jobs", "file", (files / "remote.jpg").string(),
                                          {{"plugin", "thumbnail", "", ""}, {"callback_url", "http://127.0.0.1:9/x", "", ""}});
        CHECK(hook.status == 400);
        CHECK(hook.json()["error"]["field"] == "callback_url");
    }
    SECTION("allowed: followed through a redirect, in one round trip with wait") {
        Daemon d(DaemonOptions{.args = {"--allow-private-network", "--max-upload-bytes", "1MiB"}});
        Response r = d.http().post("/v1/jobs?wait=20",
                                   nlohmann::json{{"plugin", "thumbnail"}, {"params", {{"size", 90}}},
                                                  {"source_url", origin.url("/moved")}}.dump(),
                                   "application/json");
        REQUIRE(r.status == 202);
        auto job = r.json();
        CHECK(job["state"] == "succeeded");
        CHECK(job["original"]["media_type"] == "image/jpeg");
        CHECK(job["original"]["filename"] == "remote.jpg");
        CHECK(decodeImage(d.http().get(job["outputs"][0]["url"].get<std::string>()).body).width == 90);

        Response big = d.http().post("/v1/jobs", nlohmann::json{{"plugin", "thumbnail"}, {"source_url", origin.url("/huge.jpg")}}.dump(),
                                     "application/json");
        CHECK(big.status == 413);
        CHECK(filesUnder(d.dataDir() / "tmp").empty());

        Response orig = d.http().post("/v1/originals", nlohmann::json{{"source_url", origin.url("/img/remote.jpg")}}.dump(),
                                      "application/json");
        CHECK(orig.status == 200);  // the same bytes as the job's source
        CHECK(orig.json()["id"] == job["original"]["id"]);
    }
}

TEST_CASE("callback_url gets one signed POST of the finished job, retried until it is taken, across a restart") {
    HttpServer receiver;
    std::atomic<int> answer{503};
    receiver.on("/hook", [&](const RecordedRequest&) { return Reply{answer.load(), {}, "ok"}; });
    Daemon d(DaemonOptions{.args = {"--allow-private-network", "--webhook-secret", "s3cret", "--notify-retry-base", "0.2"}});
    TempDir files;
    makeJpeg(files / "p.jpg", 400, 300);
    Response r = d.submit((files / "p.jpg").string(), "thumbnail", {{"callback_url", receiver.url("/hook")}});
    REQUIRE(r.status == 202);
    std::string id = r.json()["id"];
    CHECK(r.json()["callback_url"] == receiver.url("/hook"));
    d.waitForJob(id);

    // Refused twice (503), then the daemon is killed before it tries again.
    REQUIRE(receiver.waitForRequests(2, 10s));
    d.kill9();
    answer = 200;
    d.start();
    REQUIRE(eventually([&] {
        auto job = d.http().get("/v1/jobs/" + id).json();
        return job["callback"].is_object() && job["callback"]["state"] == "delivered";
    }));
    auto job = d.http().get("/v1/jobs/" + id).json();
    CHECK(job["callback"]["attempts"].get<int>() >= 3);
    CHECK(job["callback"]["last_status"] == 200);

    auto last = receiver.requests().back();
    CHECK(last.method == "POST");
    CHECK(last.header("content-type").find("application/json") == 0);
    CHECK(last.header("x-pixelmill-signature") == "sha256=" + hmacHex("s3cret", last.body));
    auto body = nlohmann::json::parse(last.body);
    CHECK(body["id"] == id);
    CHECK(body["state"] == "succeeded");
    CHECK(body["outputs"].size() == 1);
}

TEST_CASE("callback_email sends a message with links to the outputs through SMTP") {
    if (!SmtpSink::available()) {
        WARN("skipped: /usr/bin/python3 cannot import aiosmtpd (Debian package python3-aiosmtpd)");
        return;
    }
    TempDir mail;
    SmtpSink sink(mail / "box");
    Daemon d(DaemonOptions{.args = {"--smtp-url", "smtp://127.0.0.1:" + std::to_string(sink.port()),
                                    "--public-url", "http://pixelmill.example"}});
    TempDir files;
    makeJpeg(files / "p.jpg", 400, 300);
    Response r = d.submit((files / "p.jpg").string(), "thumbnail", {{"callback_email", "ops@example.com"}});
    REQUIRE(r.status == 202);
    std::string id = r.json()["id"];
    REQUIRE(eventually([&] { return std::filesystem::exists(sink.message(1)); }));
    std::string message = readFile(sink.message(1));
    CHECK(message.find("ops@example.com") != std::string::npos);
    CHECK(message.find(id) != std::string::npos);
    CHECK(message.find("http://pixelmill.example/v1/jobs/" + id + "/outputs/0") != std::string::npos);
    REQUIRE(eventually([&] { return d.http().get("/v1/jobs/" + id).json()["email"]["state"] == "delivered"; }));

    Response bad = d.submit((files / "p.jpg").string(), "thumbnail", {{"callback_email", "not an address"}});
    CHECK(bad.status == 400);
    CHECK(bad.json()["error"]["field"] == "callback_email");
}

TEST_CASE("dedup: every submitter's callback_url gets the job's end, and no one sees another's callback") {
    HttpServer first, second;
    first.on("/hook", Reply{200, {}, "ok"});
    first.on("/late", Reply{200, {}, "ok"});
    second.on("/hook", Reply{200, {}, "ok"});
    Daemon d(DaemonOptions{.args = {"--allow-private-network"}, .workers = 1});
    auto submit = [&](const std::string& callback) {
        return d.http().postForm("/v1/jobs", {{"file", "the same text, twice\n", "same.txt", "text/plain"},
                                              {"plugin", "slow", "", ""},
                                              {"ms", "1500", "", ""},
                                              {"callback_url", callback, "", ""}});
    };
    Response a = submit(first.url("/hook"));
    REQUIRE(a.status == 202);
    std::string id = a.json()["id"];
    Response b = submit(second.url("/hook"));
    REQUIRE(b.status / 100 == 2);
    CHECK(b.json()["id"] == id);  // one job for both
    CHECK(b.json()["callback_url"] == second.url("/hook"));
    CHECK(b.body.find(first.url("/hook")) == std::string::npos);

    d.waitForJob(id, {"succeeded"}, 30s);
    REQUIRE(first.waitForRequests(1, 15s));
    REQUIRE(second.waitForRequests(1, 15s));
    for (auto [server, other] : {std::pair{&first, &second}, std::pair{&second, &first}}) {
        auto request = server->requests().front();
        auto body = nlohmann::json::parse(request.body);
        CHECK(body["id"] == id);
        CHECK(body["state"] == "succeeded");
        CHECK(body["callback_url"] == server->url("/hook"));
        CHECK(request.body.find(other->url("/hook")) == std::string::npos);
    }

    // A submitter answered with the succeeded job (200) is notified at once.
    Response late = submit(first.url("/late"));
    CHECK(late.status == 200);
    CHECK(late.json()["callback_url"] == first.url("/late"));
    CHECK(late.body.find(first.url("/hook")) == std::string::npos);
    REQUIRE(first.waitForRequests(2, 15s));
    CHECK(first.requests().back().path == "/late");
    std::this_thread::sleep_for(500ms);
    CHECK(first.requestCount() == 2);  // nothing twice
    CHECK(second.requestCount() == 1);
}
