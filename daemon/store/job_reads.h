#pragma once

#include "jobs/model/job.h"
#include "jobs/model/listing.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace pixelmill {

// Jobs and batches as clients read them, and the counts /v1/status shows.
class JobReads {
public:
    virtual ~JobReads() = default;

    virtual std::optional<Job> getJob(std::string_view id) = 0;
    virtual JobPage listJobs(const JobFilter& filter) = 0;

    virtual std::optional<Batch> getBatch(std::string_view id) = 0;

    // Jobs by state and originals, from one read (one round trip to a database server).
    virtual StoreCounts counts() = 0;
    StateCounts countByState() { return counts().jobs; }
    uint64_t countOriginals() { return counts().originals; }
    // Jobs queued, and since when the longest-waiting ready one (queued, due)
    // has waited, if any.
    virtual uint64_t countQueued() = 0;
    virtual std::optional<int64_t> oldestReadySince(int64_t now) = 0;
};

}  // namespace pixelmill
