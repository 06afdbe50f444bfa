#pragma once

// What a submission brings to the store, and what it answers with.
#include "common/error.h"
#include "jobs/model/job.h"

#include <cstdint>
#include <optional>
#include <string>

namespace pixelmill {

// An Idempotency-Key as a submission brings it: the same client and key
// within kIdempotencyKeyLifetimeMs answer with the job the first one made,
// provided the request is the same (its fingerprint).
struct IdempotencyKey {
    std::string client;       // "token:NAME" or "ip:ADDRESS"
    std::string key;          // 1-255 printable ASCII characters
    std::string fingerprint;  // SHA-256 of the request's canonical fields
};

inline constexpr int64_t kIdempotencyKeyLifetimeMs = 24 * 3600 * 1000;

struct NewJob {
    std::string id;
    std::string plugin;
    std::string pluginVersion;
    std::string params;    // canonical JSON
    std::string dedupKey;  // sha256 of source + plugin + version + params
    int priority = 0;
    int maxAttempts = 3;
    std::string callbackUrl;
    std::string callbackEmail;
    int64_t createdAt = 0;
    std::string requestId;                     // the submitting request's X-Request-Id; "" for none
    std::string preset;                        // the preset named, if any; plugin and params are resolved
    std::string steps;                         // Job::steps; "" for one plugin
    std::optional<IdempotencyKey> idempotency;  // submit only: see JobQueue::submit
};

// The status a submit answers with: 200 when an equal job had already
// succeeded (dedup), 202 otherwise.
inline int submitStatus(const Job& job, bool created) {
    return !created && job.state == JobState::Succeeded ? 200 : 202;
}

struct SubmitOutcome {
    Job job;
    bool created = false;   // false: an equal job already existed (dedup), or the key's (replayed)
    int status = 202;       // submitStatus(), or the first answer's when replayed
    bool replayed = false;  // the Idempotency-Key was known: the job its first submission made
};

// What submit throws for a known Idempotency-Key sent with another request.
inline ApiError idempotencyConflict(const IdempotencyKey& key) {
    return ApiError(422, "idempotency_conflict",
                    "the Idempotency-Key '" + key.key +
                        "' was used for a different request (source, plugin, parameters, priority or callbacks); "
                        "use a new key for a new request",
                    "idempotency_key");
}

// A job of a batch: the original it uses and the job to create.
struct BatchItem {
    Original original;
    NewJob job;
};

// How one attempt ended, as the scheduler reports it.
struct AttemptResult {
    enum class Outcome { Succeeded, Failed, Retry, Canceled };
    Outcome outcome = Outcome::Succeeded;
    JobError error;                // Failed, Retry
    double durationSeconds = 0;    // Succeeded
    int64_t retryAt = 0;           // Retry: unix ms
    int64_t endedAt = 0;           // when the attempt returned, unix ms (0: when it is recorded)
};

}  // namespace pixelmill
