#pragma once

#include "jobs/model/job.h"

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace pixelmill {

// Fan-out of "this job has ended" (succeeded, failed, canceled or deleted)
// to whoever listens: long-polling clients, webhooks, metrics. Thread-safe.
// Listeners run on the thread that reports the event and must be quick.
class JobEvents {
public:
    using Listener = std::function<void(const std::string& jobId, JobState state)>;

    void subscribe(Listener listener) {
        std::lock_guard lock(mutex_);
        listeners_.push_back(std::move(listener));
    }

    void ended(const std::string& jobId, JobState state) const {
        std::vector<Listener> copy;
        {
            std::lock_guard lock(mutex_);
            copy = listeners_;
        }
        for (const Listener& l : copy) l(jobId, state);
    }

private:
    mutable std::mutex mutex_;
    std::vector<Listener> listeners_;
};

}  // namespace pixelmill
