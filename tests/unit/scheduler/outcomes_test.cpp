// The table of attempt outcomes (scheduler/outcomes.h), one check per row.
#include "scheduler/outcomes.h"

#include <catch2/catch.hpp>

#include <string>

namespace pixelmill {
namespace {

using Status = ExecResult::Status;
using O = AttemptResult::Outcome;

constexpr int64_t kNow = 1'700'000'000'000;
constexpr int64_t kBackoff = 4'000;

AttemptReport report(Status status, int attempt = 1, int maxAttempts = 3) {
    AttemptReport r;
    r.result = ExecResult{status, "what the plugin said", 0.25};
    r.attempt = attempt;
    r.maxAttempts = maxAttempts;
    r.timeoutSeconds = 60;
    return r;
}

void checkRetry(const AttemptResult& a, const std::string& code) {
    CHECK(a.outcome == O::Retry);
    CHECK(a.retryAt == kNow + kBackoff);
    CHECK(a.error.code == code);
}

void checkFailed(const AttemptResult& a, const std::string& code) {
    CHECK(a.outcome == O::Failed);
    CHECK(a.error.code == code);
    CHECK(a.retryAt == 0);
}

}  // namespace

TEST_CASE("outcomes: Ok succeeds with the plugin's own duration", "[scheduler][outcomes]") {
    AttemptResult a = decideOutcome(report(Status::Ok), kNow, kBackoff);
    CHECK(a.outcome == O::Succeeded);
    CHECK(a.durationSeconds == Approx(0.25));
    CHECK(a.error.code.empty());
    CHECK(stateAfter(a.outcome) == JobState::Succeeded);
}

TEST_CASE("outcomes: Ok with an output the store refused is retried, then fails", "[scheduler][outcomes]") {
    AttemptReport r = report(Status::Ok);
    r.storageError = "disk full";
    AttemptResult a = decideOutcome(r, kNow, kBackoff);
    checkRetry(a, "insufficient_storage");
    CHECK(a.error.message == "disk full");

    r.attempt = 3;
    AttemptResult last = decideOutcome(r, kNow, kBackoff);
    checkFailed(last, "insufficient_storage");
    CHECK(last.error.message == "disk full (after 3 attempts)");
}

TEST_CASE("outcomes: a stopped plugin ends as what stopped it", "[scheduler][outcomes]") {
    SECTION("canceled by a user") {
        AttemptReport r = report(Status::Canceled);
        r.canceled = true;
        r.drained = true;  // a cancel wins over a drain: the user asked first
        AttemptResult a = decideOutcome(r, kNow, kBackoff);
        CHECK(a.outcome == O::Canceled);
        CHECK(stateAfter(a.outcome) == JobState::Canceled);
    }
    SECTION("drained: back to the queue at once, even on the last attempt") {
        AttemptReport r = report(Status::Canceled, 3, 3);
        r.drained = true;
        r.timedOut = true;
        AttemptResult a = decideOutcome(r, kNow, kBackoff);
        CHECK(a.outcome == O::Retry);
        CHECK(a.retryAt == kNow);
        CHECK(a.error.code == "shutting_down");
        CHECK(stateAfter(a.outcome) == JobState::Queued);
    }
    SECTION("past the timeout: failed, not retried") {
        AttemptReport r = report(Status::Canceled, 1, 3);
        r.timedOut = true;
        AttemptResult a = decideOutcome(r, kNow, kBackoff);
        checkFailed(a, "timeout");
        CHECK_THAT(a.error.message, Catch::Contains("longer than 60"));
    }
    SECTION("unasked: an internal failure") {
        AttemptResult a = decideOutcome(report(Status::Canceled), kNow, kBackoff);
        checkFailed(a, "internal");
        CHECK_THAT(a.error.message, Catch::Contains("what the plugin said"));
    }
}

TEST_CASE("outcomes: what the input or the plugin makes impossible fails at once", "[scheduler][outcomes]") {
    auto [status, code] = GENERATE(table<Status, std::string>({
        {Status::InvalidParam, "invalid_param"},
        {Status::Unprocessable, "unprocessable"},
        {Status::Unsupported, "unsupported_media_type"},
        {Status::Unavailable, "plugin_unavailable"},
    }));
    CAPTURE(code);
    AttemptResult a = decideOutcome(report(status, 1, 3), kNow, kBackoff);
    checkFailed(a, code);
    CHECK(a.error.message == "what the plugin said");
    CHECK(stateAfter(a.outcome) == JobState::Failed);
}

TEST_CASE("outcomes: transient and internal failures are retried after the backoff until attempts run out",
          "[scheduler][outcomes]") {
    auto [status, code] = GENERATE(table<Status, std::string>({
        {Status::Transient, "transient"},
        {Status::Internal, "internal"},
    }));
    CAPTURE(code);
    checkRetry(decideOutcome(report(status, 1, 3), kNow, kBackoff), code);
    checkRetry(decideOutcome(report(status, 2, 3), kNow, kBackoff), code);
    AttemptResult last = decideOutcome(report(status, 3, 3), kNow, kBackoff);
    checkFailed(last, code);
    CHECK(last.error.message == "what the plugin said (after 3 attempts)");
}

TEST_CASE("outcomes: a transient failure from storage says so", "[scheduler][outcomes]") {
    AttemptReport r = report(Status::Transient);
    r.storageError = "no space left on device";
    AttemptResult a = decideOutcome(r, kNow, kBackoff);
    checkRetry(a, "insufficient_storage");
    CHECK(a.error.message == "no space left on device");
}

TEST_CASE("outcomes: a crash is tried once more, a second one fails", "[scheduler][outcomes]") {
    checkRetry(decideOutcome(report(Status::Crashed, 1, 3), kNow, kBackoff), "plugin_crashed");
    AttemptResult twice = decideOutcome(report(Status::Crashed, 2, 3), kNow, kBackoff);
    checkFailed(twice, "plugin_crashed");
    CHECK(twice.error.message == "what the plugin said (twice)");
    // Only one attempt allowed: the first crash is the last.
    AttemptResult only = decideOutcome(report(Status::Crashed, 1, 1), kNow, kBackoff);
    checkFailed(only, "plugin_crashed");
    CHECK(only.error.message == "what the plugin said (after 1 attempts)");
}

TEST_CASE("outcomes: every outcome maps to one job state", "[scheduler][outcomes]") {
    CHECK(stateAfter(O::Succeeded) == JobState::Succeeded);
    CHECK(stateAfter(O::Failed) == JobState::Failed);
    CHECK(stateAfter(O::Canceled) == JobState::Canceled);
    CHECK(stateAfter(O::Retry) == JobState::Queued);
}

}  // namespace pixelmill
