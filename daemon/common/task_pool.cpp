#include "common/task_pool.h"

#include "common/log.h"

namespace pixelmill {

namespace {
thread_local const TaskPool* tlsPool = nullptr;
}  // namespace

TaskPool::TaskPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
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
