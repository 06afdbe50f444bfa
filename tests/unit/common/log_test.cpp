#include "common/log.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace pixelmill;

TEST_CASE("log: a logfmt line names its level as --log-level does", "[log]") {
    std::string l = log::line(log::Format::Logfmt, "2026-12-06T10:00:00.123Z", log::Level::Warn, "job_attempt_ended",
                              {{"job", "6a8a"}, {"attempt", 2}, {"message", "a \"quoted\" word"}});
    CHECK(l == "ts=2026-12-06T10:00:00.123Z level=warn event=job_attempt_ended job=6a8a attempt=2 "
               "message=\"a \\\"quoted\\\" word\"");
    for (auto level : {log::Level::Debug, log::Level::Info, log::Level::Warn, log::Level::Error})
        CHECK(log::line(log::Format::Logfmt, "t", level, "e", {}) ==
              "ts=t level=" + std::string(log::levelName(level)) + " event=e");
}

TEST_CASE("log: a json line is one object that parses, numbers as numbers, whatever the values hold", "[log]") {
    std::string l = log::line(log::Format::Json, "2026-12-06T10:00:00.123Z", log::Level::Error, "upload_refused",
                              {{"job", "6a8a"},
                               {"attempt", 2},
                               {"seconds", 0.25},
                               {"ok", false},
                               {"nan", 0.0 / 0.0},
                               {"filename", std::string("caf\xc3\xa9 \xff\xfe.png\n\"x\"\t\x01", 18)}});
    INFO(l);
    CHECK(l.find('\n') == std::string::npos);  // one line, whatever a value holds
    auto j = nlohmann::json::parse(l);
    CHECK(j["ts"] == "2026-12-06T10:00:00.123Z");
    CHECK(j["level"] == "error");
    CHECK(j["event"] == "upload_refused");
    CHECK(j["job"] == "6a8a");
    CHECK(j["attempt"] == 2);
    CHECK(j["seconds"] == 0.25);
    CHECK(j["ok"] == false);
    CHECK(j["nan"].is_string());  // not a JSON number
    // Well-formed UTF-8 kept, stray bytes replaced, control characters escaped.
    CHECK(j["filename"] == "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd.png\n\"x\"\t\x01");
}

TEST_CASE("log: lines written for a request carry its id, in both formats, until its scope ends", "[log]") {
    CHECK(log::currentRequest().empty());
    {
        log::RequestScope outer("abc-123");
        CHECK(log::line(log::Format::Logfmt, "t", log::Level::Info, "job_submitted", {{"job", "6a8a"}}) ==
              "ts=t level=info event=job_submitted job=6a8a request=abc-123");
        {
            log::RequestScope inner("with space");
            CHECK(log::line(log::Format::Logfmt, "t", log::Level::Info, "e", {}) ==
                  "ts=t level=info event=e request=\"with space\"");
            auto j = nlohmann::json::parse(log::line(log::Format::Json, "t", log::Level::Info, "e", {{"n", 1}}));
            CHECK(j["request"] == "with space");
            CHECK(j["n"] == 1);
        }
        CHECK(log::currentRequest() == "abc-123");
    }
    CHECK(log::currentRequest().empty());
    CHECK(log::line(log::Format::Logfmt, "t", log::Level::Info, "e", {}) == "ts=t level=info event=e");
}
