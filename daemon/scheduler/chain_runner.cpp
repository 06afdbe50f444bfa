#include "scheduler/chain_runner.h"

#include "common/clock.h"
#include "common/log.h"
#include "jobs/params.h"

#include <algorithm>
#include <stdexcept>

namespace pixelmill {

namespace {

constexpr double kProgressEverySeconds = 0.25;

// One plugin call of a step, as the plugin sees the attempt: its outputs are
// kept as blobs for the next step (or the job), not yet as the job's.
class StepControl final : public JobControl {
public:
    StepControl(JobControl& attempt, BlobStore& blobs) : attempt_(attempt), blobs_(blobs) {}

    bool shouldStop() const override { return attempt_.shouldStop(); }

    bool addOutput(uint32_t index, const std::string& name, const std::string& mediaType,
                   std::span<const unsigned char> bytes, int32_t width, int32_t height) override {
        try {
            auto writer = blobs_.writer();
            writer->write(bytes.data(), bytes.size());
            writer->finish();
            BlobRef blob = writer->commit();
            keep(index, name, mediaType, blob.sha256, blob.size, width, height);
            return true;
        } catch (const std::exception& e) {
            attempt_.log(3, "a step's output " + name + " could not be stored: " + e.what());
            return false;
        }
    }

    bool addStoredOutput(uint32_t index, const std::string& name, const std::string& mediaType,
                         const std::string& sha256, uint64_t size, int32_t width, int32_t height) override {
        keep(index, name, mediaType, sha256, size, width, height);
        return true;
    }

    void progress(uint32_t, uint32_t) override {}  // a chain counts inputs done, step by step
    void log(int level, const std::string& message) override { attempt_.log(level, message); }
    void parallelFor(uint32_t count, void (*fn)(void*, uint32_t), void* user) override {
        attempt_.parallelFor(count, fn, user);
    }

    std::vector<Output> outputs() {
        std::lock_guard lock(mutex_);
        std::vector<Output> out = outputs_;
        std::sort(out.begin(), out.end(), [](const Output& a, const Output& b) { return a.index < b.index; });
        return out;
    }

private:
    void keep(uint32_t index, const std::string& name, const std::string& mediaType, const std::string& sha256,
              uint64_t size, int32_t width, int32_t height) {
        Output o;
        o.index = index;
        o.name = name;
        o.mediaType = mediaType;
        o.sha256 = sha256;
        o.sizeBytes = size;
        if (width > 0) o.width = width;
        if (height > 0) o.height = height;
        std::lock_guard lock(mutex_);
        outputs_.push_back(std::move(o));
    }

    JobControl& attempt_;
    BlobStore& blobs_;
    std::mutex mutex_;
    std::vector<Output> outputs_;
};

}  // namespace

ChainRunner::ChainRunner(Executor& executor, BlobStore& blobs, StepResults* results, JobControl& attempt,
                         const ClaimedJob& job)
    : executor_(executor), blobs_(blobs), results_(results), attempt_(attempt), job_(job) {}

ChainRunner::StepRun ChainRunner::runStep(const ChainStep& step, const StepInput& input) {
    StepRun run;
    const std::string key = stepKey(input.sha256, step);
    if (results_) {
        try {
            if (auto kept = results_->findStepOutputs(key);
                kept && std::all_of(kept->begin(), kept->end(), [&](const Output& o) { return blobs_.exists(o.sha256); })) {
                run.outputs = std::move(*kept);
                run.reused = true;
                return run;
            }
        } catch (const std::exception& e) {
            log::warn("step_result_unread", {{"job", job_.id}, {"plugin", step.plugin}, {"error", e.what()}});
        }
    }
    if (!blobs_.exists(input.sha256)) {
        run.result = {ExecResult::Status::Transient, "a step's input is no longer stored", 0};
        return run;
    }
    ExecRequest request;
    request.jobId = job_.id;
    request.plugin = step.plugin;
    request.pluginVersion = step.version;
    request.params = ParamSchema::toText(nlohmann::json::parse(step.params));
    request.inputPath = blobs_.path(input.sha256);
    request.mediaType = input.mediaType;
    StepControl control(attempt_, blobs_);
    run.result = executor_.execute(request, control);
    seconds_.fetch_add(run.result.seconds);
    run.outputs = control.outputs();
    if (run.result.status == ExecResult::Status::Ok && results_) {
        try {
            results_->saveStepOutputs(key, job_.id, run.outputs, nowMs());
        } catch (const std::exception& e) {  // kept or not, this attempt goes on
            log::warn("step_result_not_kept", {{"job", job_.id}, {"plugin", step.plugin}, {"error", e.what()}});
        }
    }
    return run;
}

void ChainRunner::inputDone(size_t step, bool force) {
    std::lock_guard lock(mutex_);
    if (!force) ++progress_[step].first;
    double now = monotonicSeconds();
    if (!force && progress_[step].first < progress_[step].second && now - lastWrite_ < kProgressEverySeconds) return;
    lastWrite_ = now;
    writeProgress();
}

void ChainRunner::writeProgress() {
    uint32_t done = 0, total = 0;
    for (const auto& [d, t] : progress_) {
        done += d;
        total += t;
    }
    attempt_.progress(done, total);
    if (!results_) return;
    try {
        results_->setStepsProgress(job_.id, job_.attempt, stepsProgressJson(progress_));
    } catch (const std::exception& e) {  // advisory, as a job's progress is
        log::warn("progress_not_stored", {{"job", job_.id}, {"error", e.what()}});
    }
}

ExecResult ChainRunner::run() {
    std::vector<ChainStep> steps;
    try {
        steps = parseSteps(job_.steps);
    } catch (const std::invalid_argument& e) {
        return {ExecResult::Status::Internal, e.what(), 0};
    }
    progress_.assign(steps.size(), {0, 0});
    std::vector<StepInput> inputs{{job_.sourceSha256, job_.sourceMediaType, baseName(job_.sourceFilename)}};
    std::vector<Output> last;
    std::vector<std::string> lastBases;
    for (size_t s = 0; s < steps.size(); ++s) {
        {
            std::lock_guard lock(mutex_);
            progress_[s].second = static_cast<uint32_t>(inputs.size());
        }
        inputDone(s, true);
        std::vector<StepRun> runs(inputs.size());
        struct Task {
            ChainRunner* self;
            const ChainStep* step;
            size_t index;
            const std::vector<StepInput>* inputs;
            std::vector<StepRun>* runs;
        } task{this, &steps[s], s, &inputs, &runs};
        attempt_.parallelFor(static_cast<uint32_t>(inputs.size()), [](void* user, uint32_t i) {
            auto& t = *static_cast<Task*>(user);
            if (!t.self->attempt_.shouldStop()) (*t.runs)[i] = t.self->runStep(*t.step, (*t.inputs)[i]);
            else (*t.runs)[i].result = {ExecResult::Status::Canceled, "stopped", 0};
            // Only a success counts: a step that failed or was stopped shows its inputs not done.
            if ((*t.runs)[i].result.status == ExecResult::Status::Ok) t.self->inputDone(t.index, false);
        }, &task);
        for (const StepRun& run : runs)
            if (run.result.status != ExecResult::Status::Ok) {
                ExecResult failed = run.result;
                failed.message = "steps[" + std::to_string(s) + "] (" + steps[s].plugin + "): " + failed.message;
                failed.seconds = seconds_.load();
                return failed;
            }
        std::vector<StepInput> next;
        last.clear();
        lastBases.clear();
        for (size_t i = 0; i < runs.size(); ++i) {
            const auto count = static_cast<uint32_t>(runs[i].outputs.size());
            for (uint32_t j = 0; j < count; ++j) {
                const Output& o = runs[i].outputs[j];
                std::string base = outputBase(s, inputs[i].base, o.name, j, count);
                next.push_back({o.sha256, o.mediaType, base});
                last.push_back(o);
                lastBases.push_back(std::move(base));
            }
        }
        int reused = static_cast<int>(std::count_if(runs.begin(), runs.end(), [](const StepRun& r) { return r.reused; }));
        log::info("chain_step_done", {{"job", job_.id},
                                      {"step", static_cast<int>(s)},
                                      {"plugin", steps[s].plugin},
                                      {"inputs", static_cast<int>(inputs.size())},
                                      {"reused", reused},
                                      {"outputs", static_cast<int>(next.size())}});
        inputs = std::move(next);
        if (inputs.empty() && s + 1 < steps.size())
            return {ExecResult::Status::Unprocessable,
                    "steps[" + std::to_string(s) + "] (" + steps[s].plugin + ") made no outputs for the next step",
                    seconds_.load()};
    }
    for (size_t i = 0; i < last.size(); ++i) {
        const Output& o = last[i];
        if (!attempt_.addStoredOutput(static_cast<uint32_t>(i), chainOutputName(lastBases[i], o.name), o.mediaType,
                                      o.sha256, o.sizeBytes, o.width.value_or(0), o.height.value_or(0)))
            return {ExecResult::Status::Transient, "the outputs could not be stored", seconds_.load()};
    }
    return {ExecResult::Status::Ok, "", seconds_.load()};
}

}  // namespace pixelmill
