#pragma once

// Chains (a submit with `steps`): one job whose steps run in order, each on
// every output of the step before. What the submit stores, what the
// executor keys and names, and what the job resource shows.
#include "jobs/model/job.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pixelmill {

// Steps in a chain at most.
inline constexpr size_t kMaxSteps = 8;

struct ChainStep {
    std::string plugin;
    std::string version;
    std::string params;  // canonical JSON object
};

// Job::steps: JSON [{"plugin", "version", "params"}].
std::string stepsJson(const std::vector<ChainStep>& steps);
// Job::steps back; throws std::invalid_argument when it is not that.
std::vector<ChainStep> parseSteps(const std::string& json);

// Where a step's result is kept and found again: the input's bytes, the
// plugin, its version and the canonical parameters.
std::string stepKey(const std::string& inputSha256, const ChainStep& step);

// The dedup key of a chain on a source: equal chains on equal bytes.
std::string chainDedupKey(const std::string& sourceSha256, const std::vector<ChainStep>& steps);

// One input of a step: an output of the step before (or the source), and
// the name its outputs are named after.
struct StepInput {
    std::string sha256;
    std::string mediaType;
    std::string base;  // file name without extension
};

// The base that an output of step `step`, made from an input with base
// `inputBase`, carries to the chain's outputs: the input's; when one input
// gave several outputs, the first step's own name for it ("page-3"), or at
// a later step the input's base with "-2" etc. after it.
std::string outputBase(size_t step, const std::string& inputBase, const std::string& outputName, uint32_t index,
                       uint32_t count);
// A chain's output name: `base` with the extension of the last step's `outputName`.
std::string chainOutputName(const std::string& base, const std::string& outputName);
// A file name without its last extension ("photo.jpg" -> "photo"; "" -> "source").
std::string baseName(const std::string& fileName);

// Job::stepsProgress: [[done, total], ...] per step.
using StepsProgress = std::vector<std::pair<uint32_t, uint32_t>>;
std::string stepsProgressJson(const StepsProgress& progress);

// The job resource's `steps`: [{"plugin", "params", "state", "progress"}],
// each step's state read from the job's and the steps' progress.
nlohmann::ordered_json stepsView(const Job& job);

}  // namespace pixelmill
