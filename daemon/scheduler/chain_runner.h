#pragma once

#include "jobs/chains.h"
#include "jobs/model/job.h"
#include "scheduler/executor.h"
#include "store/blob_store.h"
#include "store/step_results.h"

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace pixelmill {

// Runs one attempt of a chain (a job with steps): each step on every output
// of the step before, the inputs of a step spread over spare workers
// (JobControl::parallelFor). What a step makes of an input is kept under its
// step key and, found again, not made again: by a later attempt after a
// crash, or by another job. The last step's outputs become the job's, named
// after what they came from. Stops, times out and is canceled as the attempt is.
class ChainRunner {
public:
    // `results` may be null: then nothing is kept or reused.
    ChainRunner(Executor& executor, BlobStore& blobs, StepResults* results, JobControl& attempt, const ClaimedJob& job);

    ExecResult run();

private:
    struct StepRun {
        ExecResult result;
        std::vector<Output> outputs;  // in index order
        bool reused = false;
    };
    StepRun runStep(const ChainStep& step, const StepInput& input);
    // Progress, per step to the store (at most every 250 ms, and at each step's end) and overall to the attempt.
    void inputDone(size_t step, bool force);
    void writeProgress();

    Executor& executor_;
    BlobStore& blobs_;
    StepResults* const results_;
    JobControl& attempt_;
    const ClaimedJob& job_;
    std::mutex mutex_;
    StepsProgress progress_;
    double lastWrite_ = 0;
    std::atomic<double> seconds_{0};
};

}  // namespace pixelmill
