#pragma once

#include "jobs/model/job.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pixelmill {

// What each step of a chain made of one input, kept so that the same step
// on the same input (by any job, on any node) is not run again. A kept
// result holds its blobs as an output does; it goes with the job that made it.
class StepResults {
public:
    virtual ~StepResults() = default;

    // The outputs kept under `stepKey`, in index order; nullopt if none.
    virtual std::optional<std::vector<Output>> findStepOutputs(const std::string& stepKey) = 0;
    // Keeps what job `jobId` made under `stepKey`; a key kept already stays as it is.
    virtual void saveStepOutputs(const std::string& stepKey, const std::string& jobId,
                                 const std::vector<Output>& outputs, int64_t now) = 0;
    // A running chain's progress per step (Job::stepsProgress), while `attempt` is its current one.
    virtual void setStepsProgress(const std::string& jobId, int attempt, const std::string& stepsProgress) = 0;
};

}  // namespace pixelmill
