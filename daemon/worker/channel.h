#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <optional>

namespace pixelmill::worker {

// One end of the socket between the daemon and a plugin worker process:
// SOCK_SEQPACKET, so every JSON message arrives whole. Sending is
// thread-safe (a plugin may report from several threads); receiving is done
// by one thread.
class Channel {
public:
    static constexpr size_t kMaxMessage = 64 * 1024;

    explicit Channel(int fd) : fd_(fd) {}
    ~Channel();
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    // False when the other end is gone.
    bool send(const nlohmann::json& message);
    // A message, nullopt on timeout; throws std::runtime_error when the other
    // end has closed or sent something unreadable.
    std::optional<nlohmann::json> receive(std::chrono::milliseconds timeout);
    int fd() const { return fd_; }

private:
    int fd_;
    std::mutex sendMutex_;
};

// A connected pair for a new worker: {daemon end, worker end}.
std::pair<int, int> socketPair();

}  // namespace pixelmill::worker
