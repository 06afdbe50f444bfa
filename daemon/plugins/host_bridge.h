#pragma once

#include "plugins/plugin_host.h"
#include "scheduler/executor.h"

#include <pixelmill/plugin.h>

#include <string>

// The opaque handle plugin.h promises: one per plugin call, pointing at the
// attempt's JobControl.
struct pm_host {
    pixelmill::JobControl* control;
};

namespace pixelmill {

// A pm_context whose callbacks forward to host->control.
pm_context makeContext(pm_host* host, const PluginLimits& limits);

// Maps a plugin's status to the daemon's.
ExecResult::Status fromPluginStatus(pm_status status);

// A JobControl for calls that produce nothing (probe): refuses outputs,
// never asks to stop, runs parallel work inline.
class NullControl final : public JobControl {
public:
    bool shouldStop() const override { return false; }
    bool addOutput(uint32_t, const std::string&, const std::string&, std::span<const unsigned char>, int32_t,
                   int32_t) override {
        return false;
    }
    bool addStoredOutput(uint32_t, const std::string&, const std::string&, const std::string&, uint64_t, int32_t,
                         int32_t) override {
        return false;
    }
    void progress(uint32_t, uint32_t) override {}
    void log(int, const std::string&) override {}
    void parallelFor(uint32_t count, void (*fn)(void*, uint32_t), void* user) override {
        for (uint32_t i = 0; i < count; ++i) fn(user, i);
    }
};

}  // namespace pixelmill
