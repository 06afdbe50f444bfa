#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pixelmill {

// Succeeded jobs' outputs as a cache: hits counted, the least used evicted
// when space runs short, and made again on demand.
class OutputCache {
public:
    virtual ~OutputCache() = default;

    // A download counts a hit (fire and forget).
    virtual void recordHit(const std::string& jobId) = 0;
    // Marks succeeded jobs evicted, least frequently used first (oldest first
    // among equals), until their outputs add up to `bytes`; returns the blobs
    // those outputs used.
    virtual std::vector<std::string> evictLeastUsed(uint64_t bytes) = 0;
    // An evicted job goes back to the queue to make its outputs again.
    virtual bool requeueEvicted(const std::string& jobId, int64_t now) = 0;
};

}  // namespace pixelmill
