#pragma once

#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace pixelmill {

// Attempts with an output write that failed: their end may not be recorded
// as succeeded (see JobStore::finishAttemptAsync). A store marks one when an
// output's write fails and forgets it when the attempt's end is written.
// Thread-safe.
class LostOutputs {
public:
    void mark(const std::string& jobId, int attempt) {
        std::lock_guard lock(mutex_);
        lost_.emplace(jobId, attempt);
    }
    bool contains(const std::string& jobId, int attempt) {
        std::lock_guard lock(mutex_);
        return lost_.contains({jobId, attempt});
    }
    // True if there was one.
    bool forget(const std::string& jobId, int attempt) {
        std::lock_guard lock(mutex_);
        return lost_.erase({jobId, attempt}) > 0;
    }

private:
    std::mutex mutex_;
    std::set<std::pair<std::string, int>> lost_;
};

}  // namespace pixelmill
