#pragma once

#include "common/background_loop.h"

#include <functional>
#include <string>

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
    // One connection: LISTENs and waits for notifications until it is lost
    // (then the next round reconnects at once) or stop() writes stopFd_.
    // Returns the backoff when it could not connect.
    BackgroundLoop::Duration listenOnce();
    void wakeSafely();

    std::string conninfo_;
    std::string channel_;
    std::string selfId_;
    std::function<void()> wake_;
    int stopFd_ = -1;
    int backoffMs_ = 100;      // the loop's thread only
    bool missedSome_ = false;  // the loop's thread only: a connection was lost, notifications may have gone by
    BackgroundLoop loop_;      // last: its thread ends before what it uses goes away
};

}  // namespace pixelmill::pg
