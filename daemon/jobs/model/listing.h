#pragma once

// What the store's reads take and give: filters, pages, counts, nodes.
#include "common/error.h"
#include "jobs/model/job.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill {

struct JobFilter {
    std::optional<JobState> state;
    std::string plugin;
    std::string originalId;
    std::optional<int64_t> createdFrom;  // unix ms, inclusive
    std::optional<int64_t> createdTo;    // unix ms, exclusive
    int limit = 50;
    std::optional<int64_t> beforeSeq;    // cursor: only jobs older than this
};

struct JobPage {
    std::vector<Job> jobs;
    std::optional<int64_t> nextCursor;
};

using StateCounts = std::map<JobState, uint64_t>;

// What /v1/status and the dashboard's overview show: jobs by state and
// originals, as the stores' row_counts table names them ("jobs.<state>",
// "originals"); a negative sum (deltas folded out of order) reads as 0.
struct StoreCounts {
    StateCounts jobs{{JobState::Queued, 0}, {JobState::Running, 0}, {JobState::Succeeded, 0},
                     {JobState::Failed, 0}, {JobState::Canceled, 0}};
    uint64_t originals = 0;

    void add(std::string_view name, int64_t n) {
        auto count = static_cast<uint64_t>(n > 0 ? n : 0);
        if (name == "originals") originals = count;
        else if (name.starts_with("jobs."))
            if (auto st = parseJobState(name.substr(5))) jobs[*st] = count;
    }
};

struct OriginalFilter {
    bool pendingOnly = false;  // not used by any job yet
    int limit = 50;
    std::optional<int64_t> beforeSeq;
};

struct OriginalPage {
    std::vector<Original> originals;
    std::optional<int64_t> nextCursor;
};

// What purgeOriginal throws when jobs need the original: 409 conflict, the
// message and the error body's `jobs` naming them (the first `jobs` only).
inline ApiError originalInUse(std::string_view id, const std::vector<std::string>& jobs) {
    std::string list;
    for (const std::string& j : jobs) list += (list.empty() ? "" : ", ") + j;
    return ApiError::conflict("conflict", "original '" + std::string(id) + "' is needed by job" +
                                              (jobs.size() == 1 ? " " : "s ") + list +
                                              " (queued, running, or succeeded with evicted outputs to make "
                                              "again); cancel or delete them first")
        .naming(jobs);
}

// A daemon sharing the store with others (PostgreSQL), as /v1/status shows it.
struct NodeStatus {
    std::string id;       // unique per process start
    std::string address;  // host:port it serves
    std::string version;
    int64_t startedAt = 0;    // unix ms
    int64_t heartbeatAt = 0;  // unix ms, last sign of life
    int busy = 0;             // workers running a job
    int workers = 0;          // workers in its pool
};

}  // namespace pixelmill
