#pragma once

#include "common/background_loop.h"
#include "store/blob_references.h"
#include "store/blob_store.h"
#include "store/job_queue.h"
#include "store/original_store.h"
#include "store/output_cache.h"

#include <cstdint>
#include <mutex>

namespace pixelmill {

struct StorageOptions {
    uint64_t quotaBytes = 0;             // 0: no quota
    double originalRetentionSeconds = 0; // 0: keep originals until deleted
    double sweepIntervalSeconds = 600;   // unreferenced blobs are removed this often…
    double graceSeconds = 600;           // …once they are this old (a new reference may be on its way)
};

// Keeps the blob store within its quota and free of garbage. Outputs are a
// cache: past the quota, the outputs of the least frequently downloaded
// succeeded jobs are evicted first (a later download makes them again).
// Originals are kept until deleted or past the retention. Blobs nothing
// refers to any more are swept after a grace period. Idempotency-Keys past
// their 24 hours are purged every minute, a bounded number per pass.
//
// Thread-safe: makeRoom() may be called from any thread; a background thread
// does the periodic work.
class StorageKeeper {
public:
    // The parts of the store it keeps in bounds.
    struct Store {
        OriginalStore& originals;  // expired and purged
        OutputCache& cache;        // evicted when space runs short
        BlobReferences& references;  // a blob goes only when nothing refers to it
        JobQueue& queue;           // old Idempotency-Keys purged
    };
    StorageKeeper(Store store, BlobStore& blobs, StorageOptions options);
    ~StorageKeeper();
    StorageKeeper(const StorageKeeper&) = delete;
    StorageKeeper& operator=(const StorageKeeper&) = delete;

    void start();
    void stop();
    // Frees room for `bytes` more by evicting outputs; throws ApiError 507
    // when the quota cannot hold them.
    void makeRoom(uint64_t bytes);
    // Something was stored: check the quota soon.
    void nudge();
    // Removes the original's content (DELETE /v1/originals/{id}); false if
    // unknown. Throws ApiError 409 `conflict` naming the jobs that need it.
    bool deleteOriginal(std::string_view id);

    uint64_t quotaBytes() const { return options_.quotaBytes; }
    uint64_t usedBytes() const { return blobs_.totalBytes(); }
    uint64_t evictions() const;

    // One round of the periodic work, for tests and for the loop.
    void runOnce();
    // Removes expired Idempotency-Keys, at most kKeysPerPurge; returns how many.
    int purgeIdempotencyKeys();
    static constexpr int kKeysPerPurge = 10'000;

private:
    void periodicRound();
    void sweepUnreferenced();
    int evictUntil(uint64_t target);
    bool removeIfUnreferenced(const std::string& sha256);

    Store store_;
    BlobStore& blobs_;
    StorageOptions options_;
    mutable std::mutex mutex_;  // guards evictions_
    std::mutex evictMutex_;     // one eviction at a time
    uint64_t evictions_ = 0;
    double nextSweep_ = 0;      // the loop's thread only (set by start())
    double nextKeyPurge_ = 0;
    BackgroundLoop loop_;  // last: its thread ends before what it uses goes away
};

}  // namespace pixelmill
