#pragma once

#include "store/batch_queue.h"
#include "store/sqlite/db.h"

#include <exception>
#include <functional>
#include <future>
#include <optional>
#include <type_traits>
#include <vector>

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
    using Task = BatchQueue<Connection>::Task;
    using Done = BatchQueue<Connection>::Done;
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
    uint64_t commits() const { return queue_.commits(); }
    uint64_t tasks() const { return queue_.tasks(); }

private:
    using Item = BatchQueue<Connection>::Item;
    void write(std::vector<Item>& batch);

    std::unique_ptr<Connection> db_;
    BetweenCommits betweenCommits_;
    // The last batch's failures, held until the next batch: the thread that
    // rethrows one then never races the writer dropping the last reference
    // (whose count, inside libstdc++, ThreadSanitizer cannot see).
    std::vector<std::exception_ptr> errors_;
    BatchQueue<Connection> queue_;  // last: stopped first
};

}  // namespace pixelmill::sqlite
