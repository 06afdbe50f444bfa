#pragma once

#include "plugins/plugin_host.h"

#include <cstdint>
#include <string>

namespace pixelmill::worker {

struct WorkerOptions {
    int fd = 3;                 // the socket to the daemon
    std::string pluginDir;
    std::string pluginList;     // the libraries the daemon accepted (PluginHost::acceptedList); "": every .so
    std::string blobDir;        // the daemon's blob store, written directly
    std::string tmpDir;
    bool fsync = true;
    uint64_t memoryLimitBytes = 0;  // RLIMIT_AS; 0: none
    double cpuSecondsPerJob = 0;    // RLIMIT_CPU added per job; 0: none
    PluginLimits limits;
    unsigned threads = 1;       // for a plugin's parallel_for
    std::string logLevel = "info";
    std::string logFormat = "logfmt";
};

// `pixelmill worker`: a plugin worker process. It loads the plugins, then
// runs the jobs and probes the daemon sends, one at a time, writing outputs
// straight into the blob store. If a plugin crashes it, the daemon notices,
// fails or retries the job, and starts another worker.
int runWorker(const WorkerOptions& options);

}  // namespace pixelmill::worker
