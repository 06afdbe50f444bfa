#pragma once

#include "jobs/model/listing.h"

#include <cstdint>
#include <string>
#include <vector>

namespace pixelmill {

// The daemons sharing a store. The defaults fit a store that one daemon owns
// (SQLite, the lock file).
class ClusterMembership {
public:
    virtual ~ClusterMembership() = default;

    // True when other daemons may share the store: then node heartbeats and
    // leases, not the start of a process, decide which running jobs are orphaned.
    virtual bool shared() const { return false; }
    // The id this daemon writes as the lease owner of the jobs it claims.
    virtual std::string nodeId() const { return {}; }
    // Records this daemon alive (insert or update) and extends the leases of
    // the jobs it runs to `leaseUntil`; a store may leave a lease alone while
    // most of it is left (heartbeatAt to leaseUntil is the lease's length).
    virtual void heartbeat(const NodeStatus& /*self*/, int64_t /*leaseUntil*/) {}
    // Running jobs owned by daemons whose last heartbeat is before `deadBefore`
    // go back to the queue (the attempt counts: a job that keeps killing nodes
    // fails in the end), their deliveries become due; those daemons are
    // forgotten. Returns how many jobs were requeued.
    virtual int rescueDeadNodes(int64_t /*deadBefore*/, int64_t /*now*/) { return 0; }
    // The daemons that sent a heartbeat after `since`, oldest start first.
    virtual std::vector<NodeStatus> nodes(int64_t /*since*/) { return {}; }
    // What /v1/status shows of the store: counts() and nodes(nodesSince), read
    // together (one round trip to a database server: a status call under load
    // waits for the server once, not twice).
    struct StatusSnapshot {
        StoreCounts counts;
        std::vector<NodeStatus> nodes;
    };
    virtual StatusSnapshot statusSnapshot(int64_t nodesSince) = 0;
};

}  // namespace pixelmill
