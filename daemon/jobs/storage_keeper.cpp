#include "jobs/storage_keeper.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

#include <chrono>

namespace pixelmill {

namespace {
constexpr auto kRoundPeriod = std::chrono::seconds(5);  // the quota is checked this often unless nudged
constexpr double kKeyPurgeSeconds = 60;
}  // namespace

StorageKeeper::StorageKeeper(Store store, BlobStore& blobs, StorageOptions options)
    : store_(store), blobs_(blobs), options_(options),
      loop_("storage-keeper", BackgroundLoop::every(kRoundPeriod, [this] { periodicRound(); })) {}

StorageKeeper::~StorageKeeper() { stop(); }

void StorageKeeper::start() {
    nextSweep_ = monotonicSeconds() + options_.sweepIntervalSeconds;
    nextKeyPurge_ = monotonicSeconds() + kKeyPurgeSeconds;
    loop_.start(kRoundPeriod);
}

void StorageKeeper::stop() { loop_.stop(); }

void StorageKeeper::nudge() {
    if (options_.quotaBytes == 0) return;
    loop_.nudge();
}

uint64_t StorageKeeper::evictions() const {
    std::lock_guard lock(mutex_);
    return evictions_;
}

bool StorageKeeper::removeIfUnreferenced(const std::string& sha256) {
    // Through the store: with several daemons, none may refer to the blob meanwhile.
    return store_.references.removeBlobIfUnreferenced(sha256, [&] { blobs_.remove(sha256); });
}

int StorageKeeper::evictUntil(uint64_t target) {
    std::lock_guard evicting(evictMutex_);
    int evicted = 0;
    while (blobs_.totalBytes() > target) {
        std::vector<std::string> freed = store_.cache.evictLeastUsed(blobs_.totalBytes() - target);
        if (freed.empty()) break;  // nothing left to evict: originals alone fill the quota
        // An evicted output's blob may still serve another job or original.
        for (const std::string& sha : freed) removeIfUnreferenced(sha);
        evicted += 1;
    }
    if (evicted > 0) {
        {
            std::lock_guard lock(mutex_);
            evictions_ += static_cast<uint64_t>(evicted);
        }
        log::info("outputs_evicted", {{"rounds", evicted},
                                      {"used_bytes", blobs_.totalBytes()},
                                      {"quota_bytes", options_.quotaBytes}});
    }
    return evicted;
}

void StorageKeeper::makeRoom(uint64_t bytes) {
    if (options_.quotaBytes == 0) return;
    if (bytes > options_.quotaBytes)
        throw ApiError::insufficientStorage("the file is larger than the storage quota of " +
                                            std::to_string(options_.quotaBytes) + " bytes");
    if (blobs_.totalBytes() + bytes <= options_.quotaBytes) return;
    evictUntil(options_.quotaBytes - bytes);
    if (blobs_.totalBytes() + bytes > options_.quotaBytes)
        throw ApiError::insufficientStorage("the storage quota of " + std::to_string(options_.quotaBytes) +
                                            " bytes is full of originals; delete some");
}

bool StorageKeeper::deleteOriginal(std::string_view id) {
    auto sha = store_.originals.purgeOriginal(id, nowMs());  // 409 while a job needs it
    if (!sha) return false;
    removeIfUnreferenced(*sha);
    log::info("original_deleted", {{"original", std::string(id)}});
    return true;
}

void StorageKeeper::runOnce() {
    if (options_.quotaBytes > 0 && blobs_.totalBytes() > options_.quotaBytes) evictUntil(options_.quotaBytes);
    if (options_.originalRetentionSeconds > 0) {
        int64_t cutoff = nowMs() - static_cast<int64_t>(options_.originalRetentionSeconds * 1000);
        for (const std::string& id : store_.originals.originalsToExpire(cutoff, 500)) {
            try {
                // The purge checks again, in its transaction: a job may have come to need it meanwhile.
                auto sha = store_.originals.purgeOriginal(id, nowMs());
                if (!sha) continue;
                removeIfUnreferenced(*sha);
                log::info("original_expired", {{"original", id}});
            } catch (const ApiError& e) {
                if (e.status() != 409) throw;  // needed again: kept until no job needs it
            }
        }
    }
}

int StorageKeeper::purgeIdempotencyKeys() {
    constexpr int kStep = 1000;  // rows per statement: one short write at a time
    const int64_t before = nowMs() - kIdempotencyKeyLifetimeMs;
    int removed = 0;
    while (removed < kKeysPerPurge) {
        int n = store_.queue.purgeIdempotencyKeys(before, kStep);
        removed += n;
        if (n < kStep) break;
    }
    if (removed > 0) log::info("idempotency_keys_purged", {{"removed", removed}});
    return removed;
}

void StorageKeeper::sweepUnreferenced() {
    int64_t olderThan = nowMs() - static_cast<int64_t>(options_.graceSeconds * 1000);
    int removed = 0;
    for (const std::string& sha : blobs_.listOlderThan(olderThan))
        if (removeIfUnreferenced(sha)) ++removed;
    if (removed > 0) log::info("blobs_swept", {{"removed", removed}});
}

void StorageKeeper::periodicRound() {
    try {
        runOnce();
        if (monotonicSeconds() >= nextSweep_) {
            nextSweep_ = monotonicSeconds() + options_.sweepIntervalSeconds;
            sweepUnreferenced();
        }
        if (monotonicSeconds() >= nextKeyPurge_) {
            nextKeyPurge_ = monotonicSeconds() + kKeyPurgeSeconds;
            purgeIdempotencyKeys();
        }
    } catch (const std::exception& e) {
        log::warn("storage_keeper_failed", {{"error", e.what()}});
    }
}

}  // namespace pixelmill
