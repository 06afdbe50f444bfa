#pragma once

#include "jobs/model/submission.h"
#include "scheduler/executor.h"

#include <cstdint>
#include <string>

namespace pixelmill {

// What is known when an attempt returns: how the executor says it ended,
// and what the scheduler had asked of it or seen meanwhile.
struct AttemptReport {
    ExecResult result;
    bool canceled = false;     // the job was canceled while it ran
    bool drained = false;      // the daemon asked it to stop (shutting down)
    bool timedOut = false;     // it ran past the job timeout
    std::string storageError;  // an output could not be stored (empty: none)
    int attempt = 1;           // this attempt's number, from 1
    int maxAttempts = 1;
    double timeoutSeconds = 0;  // the job timeout, for the message
};

// How an attempt's end is recorded: the one table from "what the plugin and
// the executor said" to the job's next state, whether it is tried again, and
// when. Pure: `now` and `backoffMs` (the delay before a retry, chosen by the
// caller with its jitter) are given.
//
//   executor said   | also                  | outcome                  | error code
//   ----------------+-----------------------+--------------------------+------------------------
//   Ok              |                       | Succeeded                |
//   Ok              | an output not stored  | Retry (backoff) or Failed| insufficient_storage
//   Canceled        | job canceled          | Canceled                 |
//   Canceled        | daemon draining       | Retry now                | shutting_down
//   Canceled        | past the timeout      | Failed                   | timeout
//   Canceled        | none of these         | Failed                   | internal
//   InvalidParam    |                       | Failed                   | invalid_param
//   Unprocessable   |                       | Failed                   | unprocessable
//   Unsupported     |                       | Failed                   | unsupported_media_type
//   Unavailable     |                       | Failed                   | plugin_unavailable
//   Transient       | an output not stored  | Retry (backoff) or Failed| insufficient_storage
//   Transient       |                       | Retry (backoff) or Failed| transient
//   Crashed         | first attempt         | Retry (backoff) or Failed| plugin_crashed
//   Crashed         | attempt 2 or later    | Failed                   | plugin_crashed ("twice")
//   Internal        |                       | Retry (backoff) or Failed| internal
//
// "Retry (backoff) or Failed": a retry at now + backoffMs while attempts are
// left (attempt < maxAttempts), else Failed with "(after N attempts)".
// A job claimed but never started is not an attempt: it is given back to the
// queue without one (JobQueue::releaseClaims), and does not come here.
AttemptResult decideOutcome(const AttemptReport& report, int64_t now, int64_t backoffMs);

// The job's state once `outcome` is recorded (Retry: queued again).
JobState stateAfter(AttemptResult::Outcome outcome);

}  // namespace pixelmill
