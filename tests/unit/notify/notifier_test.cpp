// Notifier against a real SqliteJobStore and a loopback HTTP server: the
// signed webhook of a finished job, retries on the schedule until success,
// giving up, refused addresses, restarts, stop() during a send, and email
// through a local SMTP sink (tests/support/smtp_sink.py, Debian's
// python3-aiosmtpd).
#include "notify/notifier.h"

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/sha256.h"
#include "store/sqlite/sqlite_job_store.h"
#include "support/daemon.h"
#include "support/http_server.h"
#include "support/smtp_sink.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

extern char** environ;

namespace pixelmill::notify {
namespace {

using namespace std::chrono_literals;
using test::HttpServer;
using test::RecordedRequest;
using test::Reply;
using Outcome = AttemptResult::Outcome;
using Clock = std::chrono::steady_clock;

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
    auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
        if (condition()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return condition();
}

std::string renderJob(const Job& job) {
    return R"({"id":")" + job.id + R"(","state":")" + std::string(toString(job.state)) + R"("})";
}

class NotifyFixture {
public:
    NotifyFixture() { store_ = open(); }

    std::unique_ptr<SqliteJobStore> open() {
        SqliteJobStore::Options options;
        options.fsync = false;
        return std::make_unique<SqliteJobStore>((dir_ / "jobs.db").string(), options);
    }
    void reopen() {
        store_.reset();
        store_ = open();
    }
    SqliteJobStore& store() { return *store_; }
    const test::TempDir& dir() const { return dir_; }

    // A job that ran once and ended; its deliveries now exist in the store.
    std::string finishedJob(const std::string& callbackUrl, const std::string& callbackEmail = "",
                            Outcome outcome = Outcome::Succeeded, int outputs = 0) {
        int64_t now = nowMs();
        std::string content = newId();
        Original o;
        o.id = newId();
        o.sha256 = Sha256::hex(content);
        o.filename = "photo.png";
        o.mediaType = "image/png";
        o.sizeBytes = content.size();
        o.createdAt = now;
        NewJob j;
        j.id = newId();
        j.plugin = "thumbnail";
        j.pluginVersion = "1.2.0";
        j.params = R"({"size":256})";
        j.dedupKey = Sha256::hex(content + "thumbnail");
        j.callbackUrl = callbackUrl;
        j.callbackEmail = callbackEmail;
        j.createdAt = now;
        store().submit(o, j);
        auto claimed = store().claim(1, now, 60'000);
        REQUIRE(claimed.size() == 1);
        REQUIRE(claimed[0].id == j.id);
        for (int i = 0; i < outputs; ++i) {
            Output out;
            out.index = static_cast<uint32_t>(i);
            out.name = "page-" + std::to_string(i + 1) + ".png";
            out.mediaType = "image/png";
            out.sha256 = Sha256::hex(j.id + std::to_string(i));
            out.sizeBytes = 1000u + static_cast<uint64_t>(i);
            REQUIRE(store().putOutput(j.id, claimed[0].attempt, out));
        }
        AttemptResult result;
        result.outcome = outcome;
        if (outcome == Outcome::Failed) result.error = {"unprocessable", "the file is corrupt"};
        REQUIRE(store().finishAttempt(j.id, claimed[0].attempt, result));
        return j.id;
    }

    Delivery delivery(const std::string& jobId, const std::string& kind = "webhook") {
        auto job = store().getJob(jobId);
        REQUIRE(job);
        for (const auto& d : job->deliveries)
            if (d.kind == kind) return d;
        FAIL("no " << kind << " delivery for job " << jobId);
        return {};
    }
    bool deliveryState(const std::string& jobId, const std::string& state, const std::string& kind = "webhook") {
        return delivery(jobId, kind).state == state;
    }

    static NotifierOptions fast() {
        NotifierOptions o;
        o.webhookSecret = "s3cret";
        o.retrySchedule = {100ms, 100ms, 100ms, 100ms};
        o.pollInterval = 20ms;
        o.requestTimeout = 3s;
        o.connectTimeout = 1s;
        return o;
    }

    HttpServer server;
    AddressPolicy policy{false, {"127.0.0.1"}};

private:
    struct QuietLog {
        QuietLog() { log::init(log::Level::Error); }
    } quiet_;
    test::TempDir dir_{"pixelmill-notify"};
    std::unique_ptr<SqliteJobStore> store_;
};

}  // namespace

TEST_CASE_METHOD(NotifyFixture, "notifier: a finished job's webhook arrives once, signed over the exact body",
                 "[notify][notifier]") {
    server.on("/hook", Reply{});
    std::string id = finishedJob(server.url("/hook?token=abc"));
    Delivery pending = delivery(id);
    CHECK(pending.state == "pending");

    Notifier notifier(store(), store(), policy, renderJob, fast());
    notifier.start();
    notifier.wake();
    REQUIRE(server.waitForRequests(1, 5s));
    REQUIRE(eventually([&] { return deliveryState(id, "delivered"); }));

    RecordedRequest r = server.requests().at(0);
    CHECK(r.method == "POST");
    CHECK(r.target == "/hook?token=abc");
    CHECK(r.body == R"({"id":")" + id + R"(","state":"succeeded"})");
    CHECK(r.header("content-type") == "application/json");
    CHECK(r.header("x-pixelmill-signature") == "sha256=" + hmacSha256Hex("s3cret", r.body));
    CHECK(r.header("x-pixelmill-event") == "job.succeeded");
    CHECK(r.header("x-pixelmill-delivery") == std::to_string(pending.id));
    CHECK(r.header("expect").empty());

    Delivery d = delivery(id);
    CHECK(d.attempts == 1);
    CHECK(d.lastStatus == 200);
    CHECK(d.lastError.empty());
    CHECK(eventually([&] { return notifier.inFlight() == 0; }));
    std::this_thread::sleep_for(200ms);
    CHECK(server.requestCount() == 1);
    CHECK(store().countPendingDeliveries() == 0);
}

TEST_CASE_METHOD(NotifyFixture, "notifier: a failed job says job.failed, without a secret it goes unsigned",
                 "[notify][notifier]") {
    server.on("/hook", Reply{});
    std::string id = finishedJob(server.url("/hook"), "", Outcome::Failed);
    NotifierOptions options = fast();
    options.webhookSecret.clear();
    Notifier notifier(store(), store(), policy, renderJob, options);
    CHECK(notifier.deliverDue(10) == 1);  // on this thread
    REQUIRE(server.requestCount() == 1);
    RecordedRequest r = server.requests().at(0);
    CHECK(r.header("x-pixelmill-event") == "job.failed");
    CHECK(r.header("x-pixelmill-signature").empty());
    CHECK_THAT(r.body, Catch::Contains("\"failed\""));
    CHECK(deliveryState(id, "delivered"));
    CHECK(notifier.deliverDue(10) == 0);
}

TEST_CASE_METHOD(NotifyFixture, "notifier: a 500 is retried on the schedule until it succeeds", "[notify][notifier]") {
    std::atomic<int> calls{0};
    server.on("/hook", test::HttpServer::Handler([&](const RecordedRequest&) {
                  Reply r;
                  r.status = ++calls <= 2 ? 500 : 204;
                  return r;
              }));
    std::string id = finishedJob(server.url("/hook"));
    auto started = Clock::now();
    Notifier notifier(store(), store(), policy, renderJob, fast());
    notifier.start();

    SECTION("failed attempts are recorded while it retries") {
        REQUIRE(server.waitForRequests(1, 5s));
        REQUIRE(eventually([&] { return delivery(id).attempts >= 1 && delivery(id).lastStatus.has_value(); }));
        Delivery first = delivery(id);
        if (first.state == "pending") {
            CHECK(first.lastStatus == 500);
            CHECK(first.lastError == "callback_url answered 500");
        }
    }
    REQUIRE(eventually([&] { return deliveryState(id, "delivered"); }));
    Delivery d = delivery(id);
    CHECK(d.attempts == 3);
    CHECK(d.lastStatus == 204);
    CHECK(server.requestCount() == 3);
    CHECK(Clock::now() - started >= 200ms);  // two waits of 100 ms
    // The counters behind pixelmill_notifications_total.
    REQUIRE(eventually([&] { return notifier.tally("webhook").delivered == 1; }));
    CHECK(notifier.tally("webhook").retried == 2);
    CHECK(notifier.tally("webhook").givenUp == 0);
    CHECK(notifier.tally("email").delivered + notifier.tally("email").retried == 0);
    // Every attempt carries the same delivery id and a valid signature.
    for (const auto& r : server.requests()) {
        CHECK(r.header("x-pixelmill-delivery") == std::to_string(d.id));
        CHECK(r.header("x-pixelmill-signature") == "sha256=" + hmacSha256Hex("s3cret", r.body));
    }
}

TEST_CASE_METHOD(NotifyFixture, "notifier: after the last scheduled attempt the delivery is given up",
                 "[notify][notifier]") {
    Reply unavailable;
    unavailable.status = 503;
    server.on("/hook", unavailable);
    std::string id = finishedJob(server.url("/hook"));
    NotifierOptions options = fast();
    options.retrySchedule = {50ms, 50ms};
    Notifier notifier(store(), store(), policy, renderJob, options);
    notifier.start();

    REQUIRE(eventually([&] { return deliveryState(id, "failed"); }));
    Delivery d = delivery(id);
    CHECK(d.attempts == 3);
    CHECK(d.lastStatus == 503);
    CHECK(d.lastError == "callback_url answered 503");
    std::this_thread::sleep_for(300ms);
    CHECK(server.requestCount() == 3);
    CHECK(store().countPendingDeliveries() == 0);
    CHECK(notifier.tally("webhook").retried == 2);
    CHECK(notifier.tally("webhook").givenUp == 1);
    CHECK(notifier.tally("webhook").delivered == 0);
}

TEST_CASE_METHOD(NotifyFixture, "notifier: a callback on a refused address is never contacted", "[notify][notifier]") {
    server.on("/hook", Reply{});
    std::string id = finishedJob(server.url("/hook"));
    AddressPolicy strict(false, {});  // loopback refused
    NotifierOptions options = fast();
    options.retrySchedule = {};
    Notifier notifier(store(), store(), strict, renderJob, options);
    CHECK(notifier.deliverDue(1) == 1);
    Delivery d = delivery(id);
    CHECK(d.state == "failed");
    CHECK(d.attempts == 1);
    CHECK_FALSE(d.lastStatus.has_value());
    CHECK_THAT(d.lastError, Catch::Contains("127.0.0.1") && Catch::Contains("loopback"));
    CHECK(server.requestCount() == 0);
}

TEST_CASE_METHOD(NotifyFixture, "notifier: deliveries live in the store across restarts", "[notify][notifier]") {
    std::atomic<int> status{500};
    server.on("/hook", test::HttpServer::Handler([&](const RecordedRequest&) {
                  Reply r;
                  r.status = status.load();
                  return r;
              }));
    std::string id = finishedJob(server.url("/hook"));
    {
        NotifierOptions options = fast();
        options.retrySchedule = {50ms};
        Notifier first(store(), store(), policy, renderJob, options);
        CHECK(first.deliverDue(1) == 1);  // 500: pending again in 50 ms
    }
    CHECK(deliveryState(id, "pending"));
    reopen();
    status = 200;
    Notifier second(store(), store(), policy, renderJob, fast());
    second.start();
    REQUIRE(eventually([&] { return deliveryState(id, "delivered"); }));
    CHECK(delivery(id).attempts == 2);
    CHECK(server.requestCount() == 2);
}

TEST_CASE_METHOD(NotifyFixture, "notifier: stop() cuts a slow send short and leaves it due", "[notify][notifier]") {
    Reply slow;
    slow.delay = 5s;
    server.on("/hook", slow);
    std::string id = finishedJob(server.url("/hook"));
    Notifier notifier(store(), store(), policy, renderJob, fast());
    notifier.start();
    REQUIRE(server.waitForRequests(1, 5s));
    REQUIRE(eventually([&] { return notifier.inFlight() == 1; }));
    auto stopping = Clock::now();
    notifier.stop();
    CHECK(Clock::now() - stopping < 2s);
    CHECK(notifier.inFlight() == 0);
    Delivery d = delivery(id);
    CHECK(d.state == "pending");
    CHECK(d.attempts == 1);
    CHECK_THAT(d.lastError, Catch::Contains("interrupted"));
    CHECK(d.nextAttemptAt <= nowMs());
}

TEST_CASE_METHOD(NotifyFixture, "notifier: the email names the job, its state, error and output links",
                 "[notify][notifier][email]") {
    std::string id = finishedJob("", "someone@example.com", Outcome::Failed);
    NotifierOptions options = fast();
    options.publicUrl = "https://pm.example.com/";
    options.mailFrom = "robot@pm.example.com";
    Notifier notifier(store(), store(), policy, renderJob, options);
    auto job = store().getJob(id);
    REQUIRE(job);
    std::string m = notifier.emailMessage(*job, delivery(id, "email"), 0);
    CHECK_THAT(m, Catch::StartsWith("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
    CHECK_THAT(m, Catch::Contains("\r\nFrom: pixelmill <robot@pm.example.com>\r\n"));
    CHECK_THAT(m, Catch::Contains("\r\nTo: <someone@example.com>\r\n"));
    CHECK_THAT(m, Catch::Contains("\r\nSubject: pixelmill: job " + id + " failed\r\n"));
    CHECK_THAT(m, Catch::Contains("\r\nMessage-ID: <pixelmill." + id + "."));
    CHECK_THAT(m, Catch::Contains("@pm.example.com>\r\n"));
    CHECK_THAT(m, Catch::Contains("\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    CHECK_THAT(m, Catch::Contains("\r\n\r\nJob " + id + " failed.\r\n"));
    CHECK_THAT(m, Catch::Contains("Error:    unprocessable: the file is corrupt\r\n"));
    CHECK_THAT(m, Catch::Contains("Job:      https://pm.example.com/v1/jobs/" + id + "\r\n"));
    CHECK_THAT(m, Catch::Contains("No outputs."));
    // Every line ends in CRLF: no bare LF in the message.
    for (size_t i = 0; i < m.size(); ++i)
        if (m[i] == '\n') REQUIRE((i > 0 && m[i - 1] == '\r'));
}

TEST_CASE_METHOD(NotifyFixture, "notifier: an email without an SMTP server is given up at once",
                 "[notify][notifier][email]") {
    std::string id = finishedJob("", "someone@example.com");
    Notifier notifier(store(), store(), policy, renderJob, fast());
    CHECK(notifier.deliverDue(1) == 1);
    Delivery d = delivery(id, "email");
    CHECK(d.state == "failed");
    CHECK_THAT(d.lastError, Catch::Contains("--smtp-url"));
    CHECK(notifier.tally("email").givenUp == 1);
    CHECK(notifier.tally("email").retried == 0);
    CHECK(notifier.tally("webhook").givenUp == 0);
}

TEST_CASE_METHOD(NotifyFixture, "notifier: an email reaches the SMTP server with links to every output",
                 "[notify][notifier][email]") {
    if (!test::SmtpSink::available()) {
        WARN("skipped: /usr/bin/python3 cannot import aiosmtpd (apt-get install python3-aiosmtpd)");
        return;
    }
    test::SmtpSink sink(dir() / "mail");
    server.on("/hook", Reply{});
    std::string id = finishedJob(server.url("/hook"), "someone@example.com", Outcome::Succeeded, 2);
    NotifierOptions options = fast();
    options.smtpUrl = "smtp://127.0.0.1:" + std::to_string(sink.port());
    options.publicUrl = "https://pm.example.com";
    options.mailFrom = "robot@pm.example.com";
    Notifier notifier(store(), store(), policy, renderJob, options);
    notifier.start();

    REQUIRE(eventually([&] { return deliveryState(id, "delivered", "email"); }, 10s));
    CHECK(eventually([&] { return deliveryState(id, "delivered", "webhook"); }));
    CHECK(delivery(id, "email").lastStatus == 250);
    REQUIRE(std::filesystem::exists(sink.message(1)));
    std::string m = test::readFile(sink.message(1));
    INFO(m);
    CHECK_THAT(m, Catch::Contains("Subject: pixelmill: job " + id + " succeeded"));
    CHECK_THAT(m, Catch::Contains("To: <someone@example.com>"));
    CHECK_THAT(m, Catch::Contains("Date: "));
    CHECK_THAT(m, Catch::Contains("Message-ID: <pixelmill." + id));
    CHECK_THAT(m, Catch::Contains("Content-Type: text/plain; charset=utf-8"));
    CHECK_THAT(m, Catch::Contains("State:    succeeded"));
    CHECK_THAT(m, Catch::Contains("page-1.png (image/png, 1000 bytes)"));
    CHECK_THAT(m, Catch::Contains("https://pm.example.com/v1/jobs/" + id + "/outputs/0"));
    CHECK_THAT(m, Catch::Contains("https://pm.example.com/v1/jobs/" + id + "/outputs/1"));
    CHECK(test::readFile(sink.envelope(1)) == "robot@pm.example.com\nsomeone@example.com\n");
}

TEST_CASE("notifier: --smtp-url says whether TLS is required", "[notify][email]") {
    CHECK(smtpTarget("smtp://mail:25").url == "smtp://mail:25");
    CHECK_FALSE(smtpTarget("smtp://mail:25").requireTls);
    CHECK(smtpTarget("smtps://u:p@mail:465").requireTls);
    SmtpTarget required = smtpTarget("smtp://mail:587?starttls=required");
    CHECK(required.url == "smtp://mail:587");
    CHECK(required.requireTls);
    CHECK(smtpTarget("smtp://mail:587?tls=required").requireTls);
    CHECK_FALSE(smtpTarget("smtp://mail:587?starttls=optional").requireTls);
    CHECK_THROWS_AS(smtpTarget("smtp://mail:587?starttls=maybe"), std::invalid_argument);
    CHECK_THROWS_AS(smtpTarget("smtp://mail:587?verify=no"), std::invalid_argument);
}

TEST_CASE_METHOD(NotifyFixture, "notifier: with starttls=required a server without STARTTLS never gets the message",
                 "[notify][notifier][email]") {
    if (!test::SmtpSink::available()) {
        WARN("skipped: /usr/bin/python3 cannot import aiosmtpd (apt-get install python3-aiosmtpd)");
        return;
    }
    test::SmtpSink sink(dir() / "mail");  // speaks plain SMTP only: no STARTTLS
    std::string id = finishedJob("", "someone@example.com");
    NotifierOptions options = fast();
    options.smtpUrl = "smtp://127.0.0.1:" + std::to_string(sink.port()) + "?starttls=required";
    Notifier notifier(store(), store(), policy, renderJob, options);
    CHECK(notifier.deliverDue(1) == 1);
    Delivery d = delivery(id, "email");
    CHECK(d.state != "delivered");
    CHECK_FALSE(d.lastError.empty());
    CHECK_FALSE(std::filesystem::exists(sink.message(1)));
}

}  // namespace pixelmill::notify
