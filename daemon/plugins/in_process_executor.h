#pragma once

#include "plugins/plugin_host.h"
#include "scheduler/executor.h"

namespace pixelmill {

// Calls plugins on the scheduler's own worker threads: the fastest executor,
// for plugins that are trusted not to crash the process. Thread-safe.
class InProcessExecutor final : public Executor {
public:
    explicit InProcessExecutor(const PluginHost& host) : host_(host) {}
    ExecResult execute(const ExecRequest& request, JobControl& control) override;
    bool sharesProcess() const override { return true; }

private:
    const PluginHost& host_;
};

}  // namespace pixelmill
