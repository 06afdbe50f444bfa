#pragma once

#include "scheduler/executor.h"
#include "worker/channel.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

// The messages between the daemon and a plugin worker process, one JSON
// object per SOCK_SEQPACKET message (worker/channel.h). Every message has a
// "type"; each end builds and reads them only through the types below, so a
// field is named in one place and a message the other end does not know, or
// one with a field missing or of the wrong type, is a ProtocolError, never
// a default value.
namespace pixelmill::worker::protocol {

struct ProtocolError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Daemon → worker.
struct Run {  // run one attempt; the worker answers with Output…, Done
    std::string job;
    std::string plugin;
    std::string version;
    std::vector<std::pair<std::string, std::string>> params;
    std::string input;  // the source's path in the blob folder
    std::string mediaType;
};
struct Probe {  // read a source's header; the worker answers Probed
    std::string plugin;
    std::string version;
    std::string input;
    std::string mediaType;
};
struct Stop {};  // the running job should stop (canceled, timed out, draining)
struct Ack {     // the daemon's answer to an Output
    uint64_t seq = 0;
    bool ok = false;
};
using ToWorker = std::variant<Run, Probe, Stop, Ack>;

// Worker → daemon.
struct Ready {
    int pid = 0;
};
struct Output {  // a durable output blob, to be recorded; answered by Ack
    uint64_t seq = 0;
    uint32_t index = 0;
    std::string name;
    std::string mediaType;
    std::string sha256;
    uint64_t size = 0;
    bool created = false;  // this worker's write made the blob (for the store's byte count)
    int32_t width = -1;
    int32_t height = -1;
};
struct Progress {
    uint32_t done = 0;
    uint32_t total = 0;
};
struct Log {
    int level = 1;
    std::string message;
};
struct Done {
    ExecResult::Status status = ExecResult::Status::Ok;
    std::string message;
    double seconds = 0;
};
struct Probed {
    std::optional<int> width;
    std::optional<int> height;
    std::optional<int> pages;
    // Set when the source cannot be read. `unreadable`: the plugin said so,
    // and `error` is already the whole message for the client; otherwise
    // `error` is why the probe failed (plugin missing, an exception).
    std::string error;
    bool unreadable = false;
};
using FromWorker = std::variant<Ready, Output, Progress, Log, Done, Probed>;

nlohmann::json encode(const ToWorker& message);
nlohmann::json encode(const FromWorker& message);
ToWorker decodeToWorker(const nlohmann::json& message);
FromWorker decodeFromWorker(const nlohmann::json& message);

// Typed ends of a Channel. send: false when the other end is gone. receive:
// nullopt on timeout; throws when the other end has closed or sent
// something that is not one of these messages.
bool send(Channel& channel, const ToWorker& message);
bool send(Channel& channel, const FromWorker& message);
std::optional<FromWorker> receiveFromWorker(Channel& channel, std::chrono::milliseconds timeout);
std::optional<ToWorker> receiveToWorker(Channel& channel, std::chrono::milliseconds timeout);

// The wire names of a job's end (Done.status), one table for both ends.
const char* statusName(ExecResult::Status status);
std::optional<ExecResult::Status> statusFromName(std::string_view name);

}  // namespace pixelmill::worker::protocol
