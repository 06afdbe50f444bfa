#pragma once

#include "store/sqlite/db.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <type_traits>

namespace pixelmill::sqlite {

// The single writer of an SQLite database, with group commit: tasks posted
// from any thread are run on one thread, many to a transaction, each inside
// its own savepoint so that one failing task rolls back alone. A task's
// completion runs only after the transaction that holds it has committed, so
// "done" always means "durable".
//
// Thread-safe. Tasks must not post to the same queue and wait (deadlock).
class WriteQueue {
public:
    using Task = std::function<void(Connection&)>;
    using Done = std::function<void(std::exception_ptr)>;
    // Runs on the writer's thread after each commit and its completions, outside
    // any transaction: the one moment no write is open (e.g. to restart the WAL).
    using BetweenCommits = std::function<void(Connection&)>;

    explicit WriteQueue(std::unique_ptr<Connection> connection, size_t maxBatch = 512,
                        BetweenCommits betweenCommits = {});
    ~WriteQueue();
    WriteQueue(const WriteQueue&) = delete;
    WriteQueue& operator=(const WriteQueue&) = delete;

    // Runs `task` in a transaction; `done` gets nullptr after commit or the
    // exception that failed the task or the commit. `done` runs on the writer
    // thread: keep it short.
    void post(Task task, Done done);

    // Runs `fn` and returns its result once committed; rethrows its failure.
    template <class Fn>
    auto run(Fn&& fn) -> std::invoke_result_t<Fn, Connection&> {
        using R = std::invoke_result_t<Fn, Connection&>;
        std::promise<void> committed;
        auto future = committed.get_future();
        if constexpr (std::is_void_v<R>) {
            post([&](Connection& c) { fn(c); },
                 [&](std::exception_ptr e) { e ? committed.set_exception(e) : committed.set_value(); });
            future.get();
        } else {
            std::optional<R> result;
            post([&](Connection& c) { result.emplace(fn(c)); },
                 [&](std::exception_ptr e) { e ? committed.set_exception(e) : committed.set_value(); });
            future.get();
            return std::move(*result);
        }
    }

    // Statistics for metrics: transactions committed and tasks run.
    uint64_t commits() const;
    uint64_t tasks() const;

private:
    struct Item {
        Task task;
        Done done;
    };
    void loop();

    std::unique_ptr<Connection> db_;
    size_t maxBatch_;
    BetweenCommits betweenCommits_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Item> queue_;
    bool stopping_ = false;
    uint64_t commits_ = 0;
    uint64_t tasks_ = 0;
    std::thread thread_;
};

}  // namespace pixelmill::sqlite
