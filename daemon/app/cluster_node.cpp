#include "app/cluster_node.h"

#include "common/clock.h"
#include "common/log.h"

#include <chrono>

namespace pixelmill {

namespace {
BackgroundLoop::Duration heartbeatPeriod(const ClusterNodeOptions& options) {
    return std::chrono::milliseconds(static_cast<int64_t>(options.heartbeatSeconds * 1000));
}
}  // namespace

ClusterNode::ClusterNode(ClusterMembership& cluster, NodeStatus self, Workers workers, Rescued rescued,
                         ClusterNodeOptions options)
    : cluster_(cluster), self_(std::move(self)), workers_(std::move(workers)), rescued_(std::move(rescued)),
      options_(options),
      loop_("cluster-beat", BackgroundLoop::every(heartbeatPeriod(options), [this] { beatOnLoop(); })) {}

ClusterNode::~ClusterNode() { stop(); }

void ClusterNode::start() {
    beat();
    // Whatever was left running by daemons that died while none was up.
    healthySince_ = nowMs() - static_cast<int64_t>(options_.nodeTimeoutSeconds * 1000);
    beat();
    loop_.start(heartbeatPeriod(options_));
}

void ClusterNode::stop() { loop_.stop(); }

void ClusterNode::beat() {
    int64_t now = nowMs();
    auto [busy, total] = workers_();
    NodeStatus status = self_;
    status.heartbeatAt = now;
    status.busy = busy;
    status.workers = total;
    cluster_.heartbeat(status, now + options_.leaseMs);
    if (healthySince_ == 0) healthySince_ = now;
    // Just back from an outage (or just started), the others may not have had
    // the chance to beat yet: judge them only after a whole timeout of ours.
    if (now - healthySince_ < static_cast<int64_t>(options_.nodeTimeoutSeconds * 1000)) return;
    int rescued = cluster_.rescueDeadNodes(now - static_cast<int64_t>(options_.nodeTimeoutSeconds * 1000), now);
    if (rescued > 0) {
        log::warn("jobs_rescued", {{"jobs", rescued}, {"node", self_.id},
                                   {"reason", "their daemon stopped sending heartbeats"}});
        rescued_(rescued);
    }
}

void ClusterNode::beatOnLoop() {
    try {
        beat();
        if (failing_) log::info("store_reachable", {{"node", self_.id}});
        failing_ = false;
    } catch (const std::exception& e) {
        healthySince_ = 0;
        if (!failing_) log::error("heartbeat_failed", {{"node", self_.id}, {"error", e.what()}});
        failing_ = true;
    }
}

}  // namespace pixelmill
