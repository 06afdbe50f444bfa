#include "scheduler/outcomes.h"

#include <utility>

namespace pixelmill {

AttemptResult decideOutcome(const AttemptReport& r, int64_t now, int64_t backoffMs) {
    using S = ExecResult::Status;
    using O = AttemptResult::Outcome;
    AttemptResult ended;
    auto fail = [&](const char* code, std::string message) {
        ended.outcome = O::Failed;
        ended.error = {code, std::move(message)};
    };
    auto retryOrFail = [&](const char* code, std::string message) {
        if (r.attempt < r.maxAttempts) {
            ended.outcome = O::Retry;
            ended.retryAt = now + backoffMs;
            ended.error = {code, std::move(message)};
        } else {
            fail(code, std::move(message) + " (after " + std::to_string(r.attempt) + " attempts)");
        }
    };
    const std::string& message = r.result.message;
    switch (r.result.status) {
        case S::Ok:
            // The plugin was told its output was taken, and the store refused it afterwards.
            if (!r.storageError.empty()) {
                retryOrFail("insufficient_storage", r.storageError);
                break;
            }
            ended.outcome = O::Succeeded;
            ended.durationSeconds = r.result.seconds;
            break;
        case S::Canceled:
            if (r.canceled) ended.outcome = O::Canceled;
            else if (r.drained) {
                ended.outcome = O::Retry;
                ended.retryAt = now;
                ended.error = {"shutting_down", "the daemon stopped while the job ran; it will run again"};
            } else if (r.timedOut)
                fail("timeout", "the job ran longer than " + std::to_string(r.timeoutSeconds) + " s");
            else fail("internal", "the plugin stopped without being asked to: " + message);
            break;
        case S::InvalidParam: fail("invalid_param", message); break;
        case S::Unprocessable: fail("unprocessable", message); break;
        case S::Unsupported: fail("unsupported_media_type", message); break;
        case S::Unavailable: fail("plugin_unavailable", message); break;
        case S::Transient:
            if (r.storageError.empty()) retryOrFail("transient", message);
            else retryOrFail("insufficient_storage", r.storageError);
            break;
        case S::Crashed:
            // One more try on a fresh worker; a second crash is the input's doing.
            if (r.attempt >= 2) fail("plugin_crashed", message + " (twice)");
            else retryOrFail("plugin_crashed", message);
            break;
        case S::Internal: retryOrFail("internal", message); break;
    }
    return ended;
}

JobState stateAfter(AttemptResult::Outcome outcome) {
    using O = AttemptResult::Outcome;
    switch (outcome) {
        case O::Succeeded: return JobState::Succeeded;
        case O::Failed: return JobState::Failed;
        case O::Canceled: return JobState::Canceled;
        case O::Retry: break;
    }
    return JobState::Queued;
}

}  // namespace pixelmill
