#pragma once

#include "scheduler/executor.h"
#include "store/blob_store.h"
#include "worker/channel.h"

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace pixelmill {
class Metrics;
}  // namespace pixelmill

namespace pixelmill::worker {

// The environment of a process that loads plugin code (a worker, a library
// check), from `env` (NAME=value strings, null-terminated): only what a
// library may need to run — PATH, HOME, TMPDIR, USER, LANG, LC_*, TZ,
// LD_LIBRARY_PATH, LD_PRELOAD, VIPS_*, G_*/GIO_*, MALLOC_*, the sanitizers' *SAN_OPTIONS —
// and never anything named PIXELMILL_*, nor any name holding SECRET, TOKEN,
// PASSWORD, PASSWD, CREDENTIAL or KEY, whatever its prefix.
std::vector<std::string> pluginEnvironment(char** env);

struct ProcessExecutorOptions {
    std::string binary;                // this program: `<binary> worker …` starts a worker
    std::vector<std::string> args;     // the worker's flags
    std::chrono::milliseconds stopGrace{2000};  // after a stop request, then SIGKILL
};

// Runs every plugin call in a supervised `pixelmill worker` process, so that a
// segfault, an abort, a runaway allocation (RLIMIT_AS) or a runaway loop
// (RLIMIT_CPU, or the job timeout) kills a worker, never the daemon. Workers
// are started on demand, reused while they live, and replaced when they die;
// the job that killed one reports Crashed, which the scheduler retries and
// then fails with plugin_crashed.
//
// Thread-safe: each call borrows a worker for its duration; the idle list
// has a mutex. A worker is killed when the thread that started it ends (its
// PR_SET_PDEATHSIG follows the parent thread, not the process), so call this
// from long-lived threads, as the scheduler's workers and the intake pool are.
class ProcessExecutor final : public Executor {
public:
    ProcessExecutor(ProcessExecutorOptions options, BlobStore& blobs);
    ~ProcessExecutor() override;

    ExecResult execute(const ExecRequest& request, JobControl& control) override;
    // Reads a source's header in a worker; error set when it cannot (or crashed).
    ProbeResult probe(const std::string& plugin, const std::string& version, const std::string& path,
                      const std::string& mediaType);

    uint64_t started() const { return started_.load(); }  // workers started so far
    uint64_t crashes() const { return crashes_.load(); }
    size_t alive() const;
    // Resident memory of every live worker, summed (from /proc).
    uint64_t residentBytes() const;
    // Workers started, crashed and alive, and their memory, as metric families.
    void report(Metrics& metrics) const;

private:
    struct Worker {
        pid_t pid = -1;
        std::unique_ptr<Channel> channel;
    };
    std::unique_ptr<Worker> acquire();
    void release(std::unique_ptr<Worker> worker);
    // Ends a worker for good; returns how it ended ("killed by SIGSEGV").
    std::string discard(std::unique_ptr<Worker> worker, bool kill);

    ProcessExecutorOptions options_;
    BlobStore& blobs_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Worker>> idle_;
    std::set<pid_t> live_;  // every worker started and not yet reaped
    std::atomic<uint64_t> started_{0};
    std::atomic<uint64_t> crashes_{0};
};

}  // namespace pixelmill::worker
