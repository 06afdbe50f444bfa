#pragma once

// Idempotency-Keys of a group of submissions (PostgresJobStore::submitGroup),
// inside its transaction: see JobStore::submit.
#include "store/job_store.h"
#include "store/postgres/pg.h"

#include <optional>
#include <vector>

namespace pixelmill::pg {

// Locks the items' keys (advisory, transaction-scoped, one order: two
// daemons' submissions with one key meet here) and answers each item whose
// key is kept and whose job exists with that job (replayed); nullopt for
// the others, and for items without a key. Throws idempotencyConflict()
// for a kept key sent with another fingerprint.
std::vector<std::optional<SubmitOutcome>> replayIdempotencyKeys(Connection& c,
                                                                const std::vector<const BatchItem*>& items);

// Records each item's key (items without one are skipped) for its outcome.
// No two items may carry the same client and key.
void recordIdempotencyKeys(Connection& c, const std::vector<const BatchItem*>& items,
                           const std::vector<SubmitOutcome>& outcomes);

}  // namespace pixelmill::pg
