#include "http/api/job_waiters.h"

#include "common/log.h"

#include <algorithm>

namespace pixelmill::http {

JobWaiters::JobWaiters(size_t limit) : limit_(limit), thread_([this] { loop(); }) {}

JobWaiters::~JobWaiters() { shutdown(); }

void JobWaiters::shutdown() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool JobWaiters::wait(const std::string& jobId, std::chrono::steady_clock::time_point deadline, Answer answer) {
    if (stopping_) {
        answer();
        return true;
    }
    auto entry = std::make_shared<Entry>();
    entry->jobId = jobId;
    {
        std::lock_guard lock(mutex_);
        if (byDeadline_.size() >= limit_) return false;
        entry->answer = std::move(answer);
        byJob_[jobId].push_back(entry);
        entry->deadline = byDeadline_.emplace(deadline, entry);
    }
    wake_.notify_all();
    return true;
}

void JobWaiters::notify(const std::string& jobId) {
    {
        std::lock_guard lock(mutex_);
        auto it = byJob_.find(jobId);
        if (it == byJob_.end()) return;
        for (auto& e : it->second) {
            byDeadline_.erase(e->deadline);
            ready_.push_back(std::move(e));
        }
        byJob_.erase(it);
    }
    wake_.notify_all();
}

size_t JobWaiters::pending() const {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& [id, entries] : byJob_) n += entries.size();
    return n;
}

void JobWaiters::loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        auto now = std::chrono::steady_clock::now();
        // Time is up for these: answer with the job as it stands.
        while (!byDeadline_.empty() && (byDeadline_.begin()->first <= now || stopping_)) {
            auto entry = byDeadline_.begin()->second;
            byDeadline_.erase(byDeadline_.begin());
            auto& list = byJob_[entry->jobId];
            list.erase(std::remove(list.begin(), list.end(), entry), list.end());
            if (list.empty()) byJob_.erase(entry->jobId);
            ready_.push_back(entry);
        }
        if (!ready_.empty()) {
            std::deque<std::shared_ptr<Entry>> batch;
            batch.swap(ready_);
            lock.unlock();
            for (auto& e : batch) {
                try {
                    e->answer();
                } catch (const std::exception& ex) {
                    log::warn("long_poll_answer_failed", {{"job", e->jobId}, {"error", ex.what()}});
                }
                e->answer = nullptr;  // release the response writer now
            }
            lock.lock();
            continue;
        }
        if (stopping_) return;
        if (byDeadline_.empty()) wake_.wait(lock);
        else {
            // A copy: wait_until reads the deadline again after waking, and
            // notify() may have erased that map entry meanwhile.
            auto next = byDeadline_.begin()->first;
            wake_.wait_until(lock, next);
        }
    }
}

}  // namespace pixelmill::http
