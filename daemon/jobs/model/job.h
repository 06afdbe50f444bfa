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

// A source as uploaded, stored once per distinct content (sha256). To store
// one, fill all but purgedAt and seq; its id is used only if the content is new.
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
    std::optional<int64_t> purgedAt;  // content removed (deleted or past retention)
    int64_t seq = 0;                  // store order, the paging cursor
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

// One notification of a job's end: a webhook POST or an email.
struct Delivery {
    int64_t id = 0;
    std::string jobId;
    std::string kind;    // "webhook" or "email"
    std::string target;  // URL or address
    std::string state;   // "pending", "delivered", "failed"
    int attempts = 0;
    int64_t nextAttemptAt = 0;
    std::optional<int> lastStatus;
    std::string lastError;
};

// One attempt of a job, for its timeline.
struct AttemptRecord {
    int attempt = 0;
    int64_t startedAt = 0;
    std::optional<int64_t> finishedAt;
    std::string outcome;  // succeeded, failed, retry, canceled; empty while running
    std::optional<JobError> error;
    std::optional<double> durationSeconds;
};

struct Batch {
    std::string id;
    std::string plugin;
    std::string params;
    int64_t createdAt = 0;
    std::vector<std::string> jobIds;
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
    std::string callbackEmail;
    std::string batchId;
    int64_t hits = 0;      // output downloads
    bool evicted = false;  // outputs dropped for the storage quota
    std::string requestId;  // X-Request-Id of the request that made it; webhooks send it back
    std::string preset;     // the preset it was submitted with; "" for none
    // A chain: JSON [{"plugin", "version", "params"}] of its steps, in order
    // (plugin, pluginVersion and params are the first step's); "" for one plugin.
    std::string steps;
    // A chain's progress per step, JSON [[done, total], ...]; "" before it runs.
    std::string stepsProgress;

    Original original;                     // filled by reads
    std::vector<Output> outputs;           // filled by reads, in index order
    std::vector<Delivery> deliveries;      // filled by reads: the job's own and its subscribers' (dedup)
    std::vector<AttemptRecord> history;    // filled by getJob only
};

// The job as the client with these callbacks sees it: those callbacks and
// their deliveries only, never another submitter's (dedup shares one job).
Job asSeenBy(const Job& job, const std::string& callbackUrl, const std::string& callbackEmail);

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
    std::string sourceFilename;  // names a chain's outputs
    std::string steps;           // Job::steps
};

}  // namespace pixelmill
