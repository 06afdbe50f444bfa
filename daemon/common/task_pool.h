#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pixelmill {

// Raises the calling thread's niceness by `by` (Linux keeps it per thread;
// threads started afterwards inherit it). Needs no privilege; a failure
// leaves the thread as it was.
void lowerThreadPriority(int by);

// A few threads for slow, blocking work that must not hold an HTTP reactor
// thread (downloading a source_url, say). Thread-safe.
class TaskPool {
public:
    // `nice`: added to the threads' niceness (lowerThreadPriority), so that
    // a busy pool yields the cores to the reactor threads.
    explicit TaskPool(int threads, int nice = 0);
    ~TaskPool();  // shutdown()
    // Runs what is queued, then joins the threads; posts after it run inline.
    void shutdown();
    TaskPool(const TaskPool&) = delete;
    TaskPool& operator=(const TaskPool&) = delete;

    void post(std::function<void()> task);
    // Queues `task` unless `maxQueued` tasks already wait (returns false then;
    // nothing runs). After shutdown() it runs inline, as post() does.
    bool tryPost(std::function<void()> task, size_t maxQueued);
    size_t queued() const;
    // True on one of this pool's threads (a task may then run nested work inline).
    bool onPoolThread() const;

private:
    void loop();

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace pixelmill
