// X-Request-Id through the real daemon: every answer carries one (the
// client's when sane), the daemon's log lines for the request name it, and
// the job's webhook sends it back.
#include "support/daemon.h"
#include "support/http_server.h"
#include "support/images.h"

#include <catch2/catch.hpp>

#include <sstream>
#include <string>

using namespace pixelmill::test;

namespace {

// The log lines that mention `needle`.
std::vector<std::string> linesWith(const std::string& log, const std::string& needle) {
    std::vector<std::string> out;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);)
        if (line.find(needle) != std::string::npos) out.push_back(line);
    return out;
}

}  // namespace

TEST_CASE("X-Request-Id: echoed, named in the request's log lines, remembered by the job and sent with its webhook") {
    HttpServer receiver;
    receiver.on("/hook", Reply{200, {}, "ok"});
    Daemon d(DaemonOptions{.args = {"--allow-private-network"}});
    TempDir files;
    makeJpeg(files / "p.jpg", 400, 300);

    Response r = d.http().post("/v1/jobs?plugin=thumbnail&size=64&callback_url=" + receiver.url("/hook"),
                               readFile(files / "p.jpg"), "image/jpeg", {"X-Request-Id: abc-123"});
    REQUIRE(r.status == 202);
    CHECK(r.header("x-request-id") == "abc-123");
    std::string id = r.json()["id"];
    d.waitForJob(id);

    // The submit was checked on the intake pool: its lines there carry the id too.
    auto lines = linesWith(d.log(), "request=abc-123");
    bool submitted = false;
    for (const std::string& line : lines) submitted |= line.find("event=job_submitted") != std::string::npos &&
                                                       line.find("job=" + id) != std::string::npos;
    CHECK(submitted);

    REQUIRE(receiver.waitForRequests(1));
    CHECK(receiver.requests().front().header("x-request-id") == "abc-123");
}

TEST_CASE("X-Request-Id: without one, or with one that is not sane, the answer carries a generated id") {
    Daemon d;
    Response plain = d.http().get("/v1/status");
    CHECK(plain.status == 200);
    std::string generated = plain.header("x-request-id");
    CHECK_FALSE(generated.empty());
    CHECK(d.http().get("/v1/status").header("x-request-id") != generated);

    Response tooLong = d.http().get("/v1/status", {"X-Request-Id: " + std::string(129, 'x')});
    CHECK_FALSE(tooLong.header("x-request-id").empty());
    CHECK(tooLong.header("x-request-id") != std::string(129, 'x'));
    CHECK(d.http().get("/v1/status", {"X-Request-Id: " + std::string(128, 'y')}).header("x-request-id") ==
          std::string(128, 'y'));

    // Answers the front end gives itself, and errors, carry it too.
    Response missing = d.http().get("/v1/nothing-here", {"X-Request-Id: lost-1"});
    CHECK(missing.status == 404);
    CHECK(missing.header("x-request-id") == "lost-1");
    Response bad = d.http().get("/v1/jobs/not-an-id", {"X-Request-Id: bad-2"});
    CHECK(bad.status == 404);
    CHECK(bad.header("x-request-id") == "bad-2");
}
