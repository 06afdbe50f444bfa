#pragma once

#include "jobs/model/job.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pixelmill {

// What the pages of http/dashboard read; nothing else depends on them.
// Each is served by an index (migration 003), so that the pages stay in the
// milliseconds at 100k jobs (bench/dashboard.sh measures them).
class DashboardReads {
public:
    virtual ~DashboardReads() = default;

    struct DashboardJobQuery {
        std::optional<JobState> state;
        std::string plugin;
        std::string search;                // a job id prefix, or a filename prefix (ASCII case-insensitive)
        std::optional<int64_t> beforeSeq;  // older than this (next page)
        std::optional<int64_t> afterSeq;   // newer than this (previous page)
        int limit = 50;
    };
    struct DashboardJobPage {
        std::vector<Job> jobs;               // newest first, with their original; no outputs, deliveries, history
        std::optional<int64_t> olderCursor;  // pass as beforeSeq for the next page
        std::optional<int64_t> newerCursor;  // pass as afterSeq for the previous page
    };
    struct FinishedJob {
        int64_t finishedAt = 0;
        JobState state = JobState::Succeeded;
        std::optional<double> durationSeconds;
    };
    struct ErrorCount {
        std::string plugin;
        std::string code;
        uint64_t jobs = 0;
    };
    struct OriginalUsage {
        uint64_t jobs = 0;
        std::vector<Job> latest;  // id, plugin, state, created_at only
    };
    virtual DashboardJobPage dashboardJobs(const DashboardJobQuery& query) = 0;
    // Every job that finished at or after `since` (unix ms), oldest first.
    virtual std::vector<FinishedJob> finishedSince(int64_t since) = 0;
    // Failed jobs by plugin and error code, most first.
    virtual std::vector<ErrorCount> failuresByCode() = 0;
    // The jobs that failed last, latest first (no children).
    virtual std::vector<Job> latestFailures(int limit) = 0;
    // For each original: how many jobs used it and the `latest` newest of them.
    virtual std::map<std::string, OriginalUsage> originalUsage(const std::vector<std::string>& originalIds,
                                                               int latest) = 0;
};

}  // namespace pixelmill
