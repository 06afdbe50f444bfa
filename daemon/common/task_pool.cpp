#include "common/task_pool.h"

#include "common/log.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>

namespace pixelmill {

namespace {
thread_local const TaskPool* tlsPool = nullptr;
}  // namespace

void lowerThreadPriority(int by) {
    errno = 0;
    int current = ::getpriority(PRIO_PROCESS, 0);  // 0: this thread
    if (current == -1 && errno != 0) return;
    (void)::setpriority(PRIO_PROCESS, 0, std::min(19, current + by));
}

TaskPool::TaskPool(int threads, int nice) {
    for (int i = 0; i < threads; ++i)
        threads_.emplace_back([this, nice] {
            if (nice > 0) lowerThreadPriority(nice);
            loop();
        });
}

TaskPool::~TaskPool() { shutdown(); }

void TaskPool::shutdown() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

void TaskPool::post(std::function<void()> task) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            queue_.push_back(std::move(task));
            wake_.notify_one();
            return;
        }
    }
    task();
}

bool TaskPool::tryPost(std::function<void()> task, size_t maxQueued) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            if (queue_.size() >= maxQueued) return false;
            queue_.push_back(std::move(task));
            wake_.notify_one();
            return true;
        }
    }
    task();
    return true;
}

size_t TaskPool::queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

bool TaskPool::onPoolThread() const { return tlsPool == this; }

void TaskPool::loop() {
    tlsPool = this;
    for (;;) {
        std::function<void()> task;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            task = std::move(queue_.front());
            queue_.pop_front();
        }
        try {
            task();
        } catch (const std::exception& e) {
            log::error("task_failed", {{"error", e.what()}});
        }
    }
}

}  // namespace pixelmill
