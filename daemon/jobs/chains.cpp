#include "jobs/chains.h"

#include "common/sha256.h"

#include <stdexcept>

namespace pixelmill {

using json = nlohmann::json;

std::string stepsJson(const std::vector<ChainStep>& steps) {
    json out = json::array();
    for (const ChainStep& s : steps)
        out.push_back({{"plugin", s.plugin}, {"version", s.version}, {"params", json::parse(s.params)}});
    return out.dump();
}

std::vector<ChainStep> parseSteps(const std::string& text) {
    json doc = json::parse(text, nullptr, false);
    if (!doc.is_array() || doc.empty()) throw std::invalid_argument("a job's steps are not a list of steps");
    std::vector<ChainStep> steps;
    for (const json& s : doc) {
        if (!s.is_object() || !s.contains("plugin") || !s["plugin"].is_string() || !s.contains("version") ||
            !s["version"].is_string() || !s.contains("params") || !s["params"].is_object())
            throw std::invalid_argument("a job's step is not {plugin, version, params}");
        steps.push_back({s["plugin"].get<std::string>(), s["version"].get<std::string>(), s["params"].dump()});
    }
    return steps;
}

std::string stepKey(const std::string& inputSha256, const ChainStep& step) {
    return Sha256::hex(inputSha256 + "\n" + step.plugin + "\n" + step.version + "\n" + step.params);
}

std::string chainDedupKey(const std::string& sourceSha256, const std::vector<ChainStep>& steps) {
    // Not a plugin's key: "steps" cannot be a plugin name's line of its own.
    return Sha256::hex(sourceSha256 + "\nsteps\n" + stepsJson(steps));
}

std::string baseName(const std::string& fileName) {
    std::string name = fileName.substr(fileName.find_last_of('/') + 1);
    if (auto dot = name.find_last_of('.'); dot != std::string::npos && dot > 0) name.resize(dot);
    return name.empty() ? "source" : name;
}

std::string outputBase(size_t step, const std::string& inputBase, const std::string& outputName, uint32_t index,
                       uint32_t count) {
    if (count <= 1) return inputBase;
    return step == 0 ? baseName(outputName) : inputBase + "-" + std::to_string(index + 1);
}

std::string chainOutputName(const std::string& base, const std::string& outputName) {
    auto dot = outputName.find_last_of('.');
    return base + (dot != std::string::npos && dot > 0 ? outputName.substr(dot) : "");
}

std::string stepsProgressJson(const StepsProgress& progress) {
    json out = json::array();
    for (const auto& [done, total] : progress) out.push_back({done, total});
    return out.dump();
}

namespace {

StepsProgress readProgress(const std::string& text, size_t steps) {
    StepsProgress out(steps, {0, 0});
    json doc = json::parse(text.empty() ? "[]" : text, nullptr, false);
    if (!doc.is_array()) return out;
    for (size_t i = 0; i < steps && i < doc.size(); ++i)
        if (doc[i].is_array() && doc[i].size() == 2 && doc[i][0].is_number_unsigned() && doc[i][1].is_number_unsigned())
            out[i] = {doc[i][0].get<uint32_t>(), doc[i][1].get<uint32_t>()};
    return out;
}

}  // namespace

nlohmann::ordered_json stepsView(const Job& job) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    if (job.steps.empty()) return out;
    std::vector<ChainStep> steps;
    try {
        steps = parseSteps(job.steps);
    } catch (const std::invalid_argument&) {
        return out;
    }
    StepsProgress progress = readProgress(job.stepsProgress, steps.size());
    // The step under way: the first whose work is not all done.
    size_t current = 0;
    while (current < steps.size() && progress[current].second > 0 && progress[current].first >= progress[current].second)
        ++current;
    for (size_t i = 0; i < steps.size(); ++i) {
        std::string state;
        switch (job.state) {
            case JobState::Queued: state = "queued"; break;
            case JobState::Succeeded: state = "succeeded"; break;
            case JobState::Running: state = i < current ? "succeeded" : i == current ? "running" : "queued"; break;
            case JobState::Failed: state = i < current ? "succeeded" : i == current ? "failed" : "canceled"; break;
            case JobState::Canceled: state = i < current ? "succeeded" : "canceled"; break;
        }
        nlohmann::ordered_json step;
        step["plugin"] = steps[i].plugin;
        step["params"] = nlohmann::ordered_json::parse(steps[i].params);
        step["state"] = state;
        step["progress"] = {{"done", progress[i].first}, {"total", progress[i].second}};
        out.push_back(std::move(step));
    }
    return out;
}

}  // namespace pixelmill
