#pragma once

#include "jobs/model/job.h"
#include "jobs/model/listing.h"
#include "jobs/model/submission.h"
#include "store/blob_references.h"
#include "store/cluster.h"
#include "store/dashboard_reads.h"
#include "store/delivery_queue.h"
#include "store/job_queue.h"
#include "store/job_reads.h"
#include "store/original_store.h"
#include "store/output_cache.h"
#include "store/preset_store.h"
#include "store/step_results.h"

#include <cstdint>

namespace pixelmill {

// A store's batched writes, for /metrics: transactions committed and the
// writes they held (writes per commit is tasks / commits).
struct WriteStats {
    uint64_t commits = 0;
    uint64_t tasks = 0;
};

// The condition, on jobs j, of a job that needs its original's content.
inline constexpr const char* kNeedsOriginal =
    "(j.state IN ('queued', 'running') OR (j.state = 'succeeded' AND j.evicted))";

// A whole store, as a database implements it: every role. Each part of the
// daemon takes only the roles it uses (store/*.h), so that what a part may
// do to the store reads from its constructor.
//
// Thread-safe: every method may be called from any thread. Writes are atomic
// and durable when they return. State changes are conditional on the state
// they start from, so a caller that lost a race (a job canceled while it ran)
// changes nothing.
class JobStore : public JobQueue,
                 public JobReads,
                 public OriginalStore,
                 public OutputCache,
                 public DeliveryQueue,
                 public ClusterMembership,
                 public BlobReferences,
                 public DashboardReads,
                 public PresetStore,
                 public StepResults {
public:
    ~JobStore() override = default;

    // counts() and nodes(nodesSince), one after the other; a database server
    // store reads them in one round trip.
    StatusSnapshot statusSnapshot(int64_t nodesSince) override { return {counts(), nodes(nodesSince)}; }
};

}  // namespace pixelmill
