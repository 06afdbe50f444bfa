#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

namespace pixelmill::http {

// Holds the answers of ?wait= requests until their job ends or their time is
// up, without holding an HTTP or worker thread: each waiter is a closure that
// sends the response, run once on this class's own thread.
// At most `limit` answers wait at once: each holds a connection and memory.
// Thread-safe: one mutex guards the tables; answers run outside it.
class JobWaiters {
public:
    using Answer = std::function<void()>;
    static constexpr size_t kDefaultLimit = 10'000;

    explicit JobWaiters(size_t limit = kDefaultLimit);
    ~JobWaiters();
    // Answers everything still waiting and stops; call before the HTTP
    // server that owns the connections goes away.
    void shutdown();
    JobWaiters(const JobWaiters&) = delete;
    JobWaiters& operator=(const JobWaiters&) = delete;

    // Runs `answer` once, soon after notify(jobId) or at `deadline`; false
    // (and `answer` dropped, never run) when `limit` answers already wait.
    bool wait(const std::string& jobId, std::chrono::steady_clock::time_point deadline, Answer answer);
    size_t limit() const { return limit_; }
    // The job has ended: answer its waiters.
    void notify(const std::string& jobId);
    size_t pending() const;

private:
    struct Entry;
    using Deadlines = std::multimap<std::chrono::steady_clock::time_point, std::shared_ptr<Entry>>;
    struct Entry {
        std::string jobId;
        Answer answer;
        Deadlines::iterator deadline;
    };
    void loop();

    size_t limit_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::unordered_map<std::string, std::vector<std::shared_ptr<Entry>>> byJob_;
    Deadlines byDeadline_;
    std::deque<std::shared_ptr<Entry>> ready_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace pixelmill::http
