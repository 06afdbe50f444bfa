#pragma once

#include "common/background_loop.h"

#include <pistache/peer.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace pixelmill::http {

struct GuardLimits {
    double headerTimeout = 10;     // a request's head must arrive within this
    double keepaliveTimeout = 75;  // an idle connection is closed after this (longer than the longest ?wait)
    double bodyGrace = 10;         // then a body must arrive at least at…
    double minBodyRate = 1024;     // …this many bytes per second over the last bodyGrace seconds
    size_t maxConnections = 1024;  // more are closed at once
    size_t maxPerClient = 64;      // open connections from one address; more are closed at once
};

// Keeps slow or idle clients from tying up the server: a once-a-second sweep
// closes connections whose head is late (slow loris), whose body trickles
// below a minimum rate, or that sit idle past the keep-alive timeout, and
// the number of open connections is capped, in all and per client address.
// The body rate is measured over a sliding window of the last bodyGrace
// seconds, so a fast start buys no long silence later. Pistache offers no timers to a
// handler, so the sweep is ours; it closes a connection by shutting its
// socket down, which the reactor then sees as a disconnect.
//
// Thread-safe: reactor threads update their connections' state (atomics);
// a mutex guards the table, and a connection is shut down only while the
// mutex is held and the reactor has not reported it gone, so a reused file
// descriptor is never touched.
class ConnectionGuard {
public:
    enum class Phase : int { Idle, Head, Body, Busy };

    struct Entry {
        int fd = -1;
        std::atomic<int> phase{static_cast<int>(Phase::Idle)};
        std::atomic<double> since{0};
        std::atomic<uint64_t> bodyBytes{0};
        std::string client;  // the peer's address
        // The sweeper's own (under its mutex): body bytes seen at past sweeps.
        double sampledSince = -1;
        std::deque<std::pair<double, uint64_t>> samples;
        void set(Phase p, double now) {
            phase = static_cast<int>(p);
            since = now;
            if (p == Phase::Body) bodyBytes = 0;
        }
    };

    explicit ConnectionGuard(GuardLimits limits);
    ~ConnectionGuard();
    ConnectionGuard(const ConnectionGuard&) = delete;
    ConnectionGuard& operator=(const ConnectionGuard&) = delete;

    // A new connection; nullptr (and the socket shut down) when over the cap.
    std::shared_ptr<Entry> admit(const std::shared_ptr<Pistache::Tcp::Peer>& peer);
    // The reactor reports the connection gone: it is never touched again.
    void leave(const Entry* entry);

    size_t open() const;
    uint64_t closedForSlowness() const { return closed_.load(); }
    // Connections closed at admission because all of them (max_connections)
    // or one client's share (max_connections_per_client) were taken.
    uint64_t refusedOverTotal() const { return refusedTotal_.load(); }
    uint64_t refusedOverClient() const { return refusedClient_.load(); }

private:
    // Once a second: shuts down the connections past their limits.
    void sweep();
    // Why `e` should be closed now, or nullptr (mutex held; updates its samples).
    const char* closeReason(Entry& e, double now, double age);
    // Forgets an entry (mutex held).
    void drop(const Entry* entry);

    GuardLimits limits_;
    mutable std::mutex mutex_;
    std::unordered_map<const Entry*, std::shared_ptr<Entry>> entries_;
    std::map<std::string, size_t, std::less<>> perClient_;
    std::atomic<uint64_t> closed_{0};
    std::atomic<uint64_t> refusedTotal_{0};
    std::atomic<uint64_t> refusedClient_{0};
    BackgroundLoop sweeper_;  // last: its thread ends before what it uses goes away
};

}  // namespace pixelmill::http
