#pragma once

#include <functional>
#include <string>
#include <thread>

namespace pixelmill::pg {

// LISTENs on a channel on a connection of its own, in a thread of its own,
// and calls `wake` when another daemon notifies (a notification whose
// payload is `selfId` came from this daemon: its workers know already).
// After a lost connection it reconnects (with a backoff) and calls `wake`
// once, since notifications may have been missed meanwhile.
// Thread-safe: the thread is the only one to touch the connection; the
// destructor stops it through an eventfd and joins it.
class WorkWatcher {
public:
    WorkWatcher(std::string conninfo, std::string channel, std::string selfId, std::function<void()> wake);
    ~WorkWatcher();
    WorkWatcher(const WorkWatcher&) = delete;
    WorkWatcher& operator=(const WorkWatcher&) = delete;

private:
    void loop();
    void wakeSafely();
    // Waits up to `ms` for the stop signal; true if it came.
    bool stopRequested(int ms);

    std::string conninfo_;
    std::string channel_;
    std::string selfId_;
    std::function<void()> wake_;
    int stopFd_ = -1;
    std::thread thread_;
};

}  // namespace pixelmill::pg
