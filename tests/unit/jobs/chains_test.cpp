// The pieces of a chain that need no daemon: its stored steps, the keys its
// results are kept under, the names of its outputs, and its steps as a job
// resource shows them in each state.
#include "jobs/chains.h"

#include "jobs/job_service.h"

#include <catch2/catch.hpp>

namespace pixelmill {
namespace {

using json = nlohmann::json;

const std::vector<ChainStep> kSteps = {{"pdf2png", "1.0.0", R"({"dpi":72})"}, {"thumbnail", "1.0.0", R"({"size":64})"}};

Job chainJob(JobState state, const std::string& progress) {
    Job j;
    j.state = state;
    j.steps = stepsJson(kSteps);
    j.stepsProgress = progress;
    return j;
}

std::vector<std::string> statesOf(const Job& job) {
    std::vector<std::string> out;
    for (const auto& step : stepsView(job)) out.push_back(step["state"].get<std::string>());
    return out;
}

}  // namespace

TEST_CASE("chains: steps round-trip, and broken ones are refused", "[jobs][chains]") {
    auto steps = parseSteps(stepsJson(kSteps));
    REQUIRE(steps.size() == 2);
    CHECK(steps[1].plugin == "thumbnail");
    CHECK(steps[1].version == "1.0.0");
    CHECK(json::parse(steps[1].params) == json{{"size", 64}});
    for (const char* broken : {"", "[]", "{}", R"([{"plugin":"x"}])", R"([{"plugin":"x","version":"1","params":3}])"}) {
        CAPTURE(broken);
        CHECK_THROWS_AS(parseSteps(broken), std::invalid_argument);
    }
}

TEST_CASE("chains: a step's key changes with its input, plugin, version and parameters", "[jobs][chains]") {
    const ChainStep step = kSteps[1];
    const std::string key = stepKey("aaa", step);
    CHECK(stepKey("aaa", step) == key);
    CHECK(stepKey("bbb", step) != key);
    CHECK(stepKey("aaa", {"resize", step.version, step.params}) != key);
    CHECK(stepKey("aaa", {step.plugin, "1.0.1", step.params}) != key);
    CHECK(stepKey("aaa", {step.plugin, step.version, R"({"size":65})"}) != key);
    // A step's key is a single job's dedup key on the same input; a chain's key is neither.
    PluginDescriptor thumbnail{.name = "thumbnail", .version = "1.0.0"};
    CHECK(key == JobService::dedupKey("aaa", thumbnail, step.params));
    CHECK(chainDedupKey("aaa", kSteps) != JobService::dedupKey("aaa", thumbnail, step.params));
    CHECK(chainDedupKey("aaa", kSteps) != chainDedupKey("aaa", {kSteps[0]}));
}

TEST_CASE("chains: outputs are named after what they came from", "[jobs][chains]") {
    CHECK(baseName("report.pdf") == "report");
    CHECK(baseName("archive.tar.gz") == "archive.tar");
    CHECK(baseName(".hidden") == ".hidden");
    CHECK(baseName("") == "source");
    // One input, one output: the source's name is carried.
    CHECK(outputBase(0, "report", "page-1.png", 0, 1) == "report");
    // The first step fanned out: each page's own name.
    CHECK(outputBase(0, "report", "page-3.png", 2, 21) == "page-3");
    // A later step fanned out: the input's name, numbered.
    CHECK(outputBase(1, "page-3", "tile.png", 1, 4) == "page-3-2");
    CHECK(chainOutputName("page-3", "thumbnail.jpg") == "page-3.jpg");
    CHECK(chainOutputName("photo", "ascii.txt") == "photo.txt");
    CHECK(chainOutputName("photo", "noextension") == "photo");
}

TEST_CASE("chains: each step's state and progress follow the job's", "[jobs][chains]") {
    using States = std::vector<std::string>;
    CHECK(statesOf(chainJob(JobState::Queued, "")) == States{"queued", "queued"});
    CHECK(statesOf(chainJob(JobState::Running, "")) == States{"running", "queued"});
    CHECK(statesOf(chainJob(JobState::Running, "[[0,1],[0,0]]")) == States{"running", "queued"});
    CHECK(statesOf(chainJob(JobState::Running, "[[1,1],[2,21]]")) == States{"succeeded", "running"});
    CHECK(statesOf(chainJob(JobState::Succeeded, "[[1,1],[21,21]]")) == States{"succeeded", "succeeded"});
    CHECK(statesOf(chainJob(JobState::Failed, "[[1,1],[3,21]]")) == States{"succeeded", "failed"});
    CHECK(statesOf(chainJob(JobState::Failed, "[[0,1],[0,0]]")) == States{"failed", "canceled"});
    CHECK(statesOf(chainJob(JobState::Canceled, "[[1,1],[3,21]]")) == States{"succeeded", "canceled"});

    auto view = stepsView(chainJob(JobState::Running, "[[1,1],[2,21]]"));
    CHECK(view[1]["plugin"] == "thumbnail");
    CHECK(view[1]["params"]["size"] == 64);
    CHECK(view[1]["progress"]["done"] == 2);
    CHECK(view[1]["progress"]["total"] == 21);
    CHECK(stepsView(Job{}).empty());  // not a chain
}

}  // namespace pixelmill
