#pragma once

#include "store/job_store.h"

#include <cstdint>

namespace pixelmill {

// The job a store has just inserted as `seq`, queued over `original`: built
// from what is known rather than read back (submit is the hot path).
Job queuedJob(const NewJob& job, const Original& original, int64_t seq);

}  // namespace pixelmill
