#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pixelmill {

// The plumbing of a store's write queue: tasks posted from any thread are
// taken by one thread of its own, up to `maxBatch` at a time (all that
// arrived meanwhile), and handed to `write`, which runs them many to a
// transaction on its connection and calls each one's `done`. The destructor
// writes what is still queued. Thread-safe.
template <class Connection>
class BatchQueue {
public:
    using Task = std::function<void(Connection&)>;
    using Done = std::function<void(std::exception_ptr)>;
    struct Item {
        Task task;
        Done done;
    };
    using Write = std::function<void(std::vector<Item>&)>;

    BatchQueue(size_t maxBatch, Write write) : maxBatch_(maxBatch), write_(std::move(write)) {}
    ~BatchQueue() { stop(); }
    BatchQueue(const BatchQueue&) = delete;
    BatchQueue& operator=(const BatchQueue&) = delete;

    // Starts the thread; `write` may then be called at any time.
    void start() { thread_ = std::thread([this] { loop(); }); }
    // Writes what is queued and joins the thread (idempotent). An owner whose
    // `write` uses its members calls it before those are destroyed.
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    void post(Task task, Done done) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(Item{std::move(task), std::move(done)});
        }
        wake_.notify_one();
    }

    // For `write`: `commits` transactions committed that held `tasks` writes.
    void count(uint64_t commits, uint64_t tasks) {
        std::lock_guard lock(mutex_);
        commits_ += commits;
        tasks_ += tasks;
    }
    // Transactions committed and writes they held, for tests and metrics.
    uint64_t commits() const {
        std::lock_guard lock(mutex_);
        return commits_;
    }
    uint64_t tasks() const {
        std::lock_guard lock(mutex_);
        return tasks_;
    }

private:
    void loop() {
        std::vector<Item> batch;
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
                if (queue_.empty() && stopping_) return;
                while (!queue_.empty() && batch.size() < maxBatch_) {
                    batch.push_back(std::move(queue_.front()));
                    queue_.pop_front();
                }
            }
            write_(batch);
            batch.clear();
        }
    }

    size_t maxBatch_;
    Write write_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Item> queue_;
    bool stopping_ = false;
    uint64_t commits_ = 0;
    uint64_t tasks_ = 0;
    std::thread thread_;
};

}  // namespace pixelmill
