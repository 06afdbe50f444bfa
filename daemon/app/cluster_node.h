#pragma once

#include "common/background_loop.h"
#include "store/cluster.h"

#include <functional>
#include <string>

namespace pixelmill {

struct ClusterNodeOptions {
    double heartbeatSeconds = 2;    // how often this daemon says it is alive
    double nodeTimeoutSeconds = 15; // silent this long, a daemon is dead
    int64_t leaseMs = 90'000;       // each heartbeat extends this daemon's leases to now + leaseMs
};

// This daemon's part in a store shared with others (ClusterMembership::shared()): a
// thread that records a heartbeat with the busy workers, extends the leases
// of the jobs it runs, and puts back in the queue the jobs of daemons that
// stopped sending theirs (killed, frozen, cut off). Every daemon rescues; the
// store makes a rescue happen once.
// Thread-safe: start() and stop() from one thread.
class ClusterNode {
public:
    using Workers = std::function<std::pair<int, int>()>;  // busy, total
    using Rescued = std::function<void(int jobs)>;         // wake the workers

    ClusterNode(ClusterMembership& cluster, NodeStatus self, Workers workers, Rescued rescued,
                ClusterNodeOptions options);
    ~ClusterNode();
    ClusterNode(const ClusterNode&) = delete;
    ClusterNode& operator=(const ClusterNode&) = delete;

    // One beat and one rescue pass now (throws if the store is unreachable), then every heartbeatSeconds.
    void start();
    void stop();

    const NodeStatus& self() const { return self_; }

private:
    void beat();
    void beatOnLoop();

    ClusterMembership& cluster_;
    NodeStatus self_;
    Workers workers_;
    Rescued rescued_;
    ClusterNodeOptions options_;

    bool failing_ = false;     // the last beat failed: log the recovery once
    int64_t healthySince_ = 0; // unix ms of the first beat since start or an outage
    BackgroundLoop loop_;      // last: its thread ends before what it uses goes away
};

}  // namespace pixelmill
