#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace pixelmill {

// What a running attempt may tell the scheduler and ask of it. Implemented
// by the scheduler, one per attempt; every method is safe from any thread
// the plugin runs on.
class JobControl {
public:
    virtual ~JobControl() = default;
    virtual bool shouldStop() const = 0;
    // Stores one output; false if it could not be kept (the job then fails transiently).
    virtual bool addOutput(uint32_t index, const std::string& name, const std::string& mediaType,
                           std::span<const unsigned char> bytes, int32_t width, int32_t height) = 0;
    // Records an output whose bytes another process already stored as a blob.
    virtual bool addStoredOutput(uint32_t index, const std::string& name, const std::string& mediaType,
                                 const std::string& sha256, uint64_t size, int32_t width, int32_t height) = 0;
    virtual void progress(uint32_t done, uint32_t total) = 0;
    virtual void log(int level, const std::string& message) = 0;
    // Runs fn(user, i) for i in [0, count) on spare workers and this thread.
    virtual void parallelFor(uint32_t count, void (*fn)(void*, uint32_t), void* user) = 0;
};

struct ExecRequest {
    std::string jobId;
    std::string plugin;
    std::string pluginVersion;
    std::vector<std::pair<std::string, std::string>> params;  // validated, as text
    std::string inputPath;
    std::string mediaType;
};

// How a plugin call ended, in the daemon's terms.
struct ExecResult {
    enum class Status { Ok, InvalidParam, Unprocessable, Unsupported, Canceled, Transient, Internal, Crashed, Unavailable };
    Status status = Status::Ok;
    std::string message;
    double seconds = 0;  // the plugin's own processing time
};

// What a plugin read from a source's header, in the executor's terms.
struct ProbeResult {
    std::optional<int> width;
    std::optional<int> height;
    std::optional<int> pages;
    std::string error;  // non-empty: the source cannot be read
    bool unreadable = false;  // the plugin said so, and `error` is the whole message for the client
};

// Runs one attempt of a job: in this process, or elsewhere. Thread-safe:
// the scheduler calls it from all its workers at once.
class Executor {
public:
    virtual ~Executor() = default;
    virtual ExecResult execute(const ExecRequest& request, JobControl& control) = 0;
    // True if a plugin that crashes takes the daemon with it (plugins run in
    // this process): then an attempt is known durably to have begun before
    // it runs, so that a job that kills the daemon every time runs out of attempts.
    virtual bool sharesProcess() const { return false; }
};

}  // namespace pixelmill
