#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill {

enum class JobState { Queued, Running, Succeeded, Failed, Canceled };

std::string_view toString(JobState state);
std::optional<JobState> parseJobState(std::string_view text);
inline bool isFinal(JobState s) {
    return s == JobState::Succeeded || s == JobState::Failed || s == JobState::Canceled;
}

// A source as uploaded, stored once per distinct content (sha256).
struct Original {
    std::string id;
    std::string sha256;
    std::string filename;
    std::string mediaType;
    uint64_t sizeBytes = 0;
    std::optional<int> width;
    std::optional<int> height;
    std::optional<int> pages;
    int64_t createdAt = 0;  // unix ms
};

struct Output {
    uint32_t index = 0;
    std::string name;
    std::string mediaType;
    std::string sha256;  // blob holding the bytes
    uint64_t sizeBytes = 0;
    std::optional<int> width;
    std::optional<int> height;
};

struct JobError {
    std::string code;
    std::string message;
};

struct Job {
    std::string id;
    int64_t seq = 0;  // store order; newest first in listings
    std::string plugin;
    std::string pluginVersion;
    std::string params;  // canonical JSON object
    std::string dedupKey;
    std::string originalId;
    JobState state = JobState::Queued;
    int priority = 0;
    int attempts = 0;
    int maxAttempts = 3;
    int64_t runAfter = 0;    // unix ms; not claimed before
    int64_t leaseUntil = 0;  // unix ms; a running job past it belongs to nobody
    std::optional<JobError> error;
    uint32_t progressDone = 0;
    uint32_t progressTotal = 0;
    int64_t createdAt = 0;
    std::optional<int64_t> startedAt;
    std::optional<int64_t> finishedAt;
    std::optional<double> durationSeconds;
    std::string callbackUrl;
    std::string batchId;

    Original original;            // filled by reads
    std::vector<Output> outputs;  // filled by reads, in index order
};

// What the scheduler claims: enough to run an attempt.
struct ClaimedJob {
    std::string id;
    std::string plugin;
    std::string pluginVersion;
    std::string params;
    int attempt = 0;
    int maxAttempts = 0;
    int64_t createdAt = 0;
    int64_t runAfter = 0;
    std::string sourceSha256;
    std::string sourceMediaType;
};

}  // namespace pixelmill
