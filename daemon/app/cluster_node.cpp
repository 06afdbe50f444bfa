#include "app/cluster_node.h"

#include "common/clock.h"
#include "common/log.h"

#include <chrono>

namespace pixelmill {

ClusterNode::ClusterNode(JobStore& store, NodeStatus self, Workers workers, Rescued rescued,
                         ClusterNodeOptions options)
    : store_(store), self_(std::move(self)), workers_(std::move(workers)), rescued_(std::move(rescued)),
      options_(options) {}

ClusterNode::~ClusterNode() { stop(); }

void ClusterNode::start() {
    beat();
    // Whatever was left running by daemons that died while none was up.
    healthySince_ = nowMs() - static_cast<int64_t>(options_.nodeTimeoutSeconds * 1000);
    beat();
    thread_ = std::thread([this] { loop(); });
}

void ClusterNode::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void ClusterNode::beat() {
    int64_t now = nowMs();
    auto [busy, total] = workers_();
    NodeStatus status = self_;
    status.heartbeatAt = now;
    status.busy = busy;
    status.workers = total;
    store_.heartbeat(status, now + options_.leaseMs);
    if (healthySince_ == 0) healthySince_ = now;
    // Just back from an outage (or just started), the others may not have had
    // the chance to beat yet: judge them only after a whole timeout of ours.
    if (now - healthySince_ < static_cast<int64_t>(options_.nodeTimeoutSeconds * 1000)) return;
    int rescued = store_.rescueDeadNodes(now - static_cast<int64_t>(options_.nodeTimeoutSeconds * 1000), now);
    if (rescued > 0) {
        log::warn("jobs_rescued", {{"jobs", rescued}, {"node", self_.id},
                                   {"reason", "their daemon stopped sending heartbeats"}});
        rescued_(rescued);
    }
}

void ClusterNode::loop() {
    auto interval = std::chrono::milliseconds(static_cast<int64_t>(options_.heartbeatSeconds * 1000));
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wake_.wait_for(lock, interval, [&] { return stopping_; });
        if (stopping_) break;
        lock.unlock();
        try {
            beat();
            if (failing_) log::info("store_reachable", {{"node", self_.id}});
            failing_ = false;
        } catch (const std::exception& e) {
            healthySince_ = 0;
            if (!failing_) log::error("heartbeat_failed", {{"node", self_.id}, {"error", e.what()}});
            failing_ = true;
        }
        lock.lock();
    }
}

}  // namespace pixelmill
