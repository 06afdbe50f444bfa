#pragma once

#include "store/batch_queue.h"
#include "store/postgres/pool.h"

#include <cstdint>
#include <exception>
#include <vector>

namespace pixelmill::pg {

// Writes posted without waiting for them (a running attempt's outputs,
// progress and end), committed by a thread of their own, all that arrived
// meanwhile in one transaction: one commit, one WAL flush for a batch instead
// of one for each. When a write fails, the transaction is rolled back and
// the batch split there: the writes before it are run again together, the
// one that failed is answered with its error, and the rest go on together;
// so one bad write fails alone and costs a couple of transactions more. Tasks
// must therefore build their effects afresh on every run (as
// Pool::transaction asks anyway), and writes are committed in the order
// posted. A write's `done` runs on the queue's thread once its transaction
// has committed or it has failed, before any later write is run again.
// The destructor writes what is still queued.
//
// Thread-safe. A task must not post to the same queue and wait.
class WriteQueue {
public:
    using Task = BatchQueue<Connection>::Task;
    using Done = BatchQueue<Connection>::Done;

    explicit WriteQueue(Pool& pool, size_t maxBatch = 256);
    ~WriteQueue();
    WriteQueue(const WriteQueue&) = delete;
    WriteQueue& operator=(const WriteQueue&) = delete;

    void post(Task task, Done done);

    // Transactions committed and writes they held, for tests and metrics.
    uint64_t commits() const { return queue_.commits(); }
    uint64_t tasks() const { return queue_.tasks(); }

private:
    using Item = BatchQueue<Connection>::Item;
    // Writes batch[from, end) in as few transactions as its failures allow.
    void write(std::vector<Item>& batch, size_t from, size_t end);
    // Counts and answers batch[from, end): committed, or failed with `error`.
    void answer(std::vector<Item>& batch, size_t from, size_t end, std::exception_ptr error);

    Pool& pool_;
    // The last batch's failures, held until the next batch (as in the SQLite
    // queue): whoever rethrows one never races the queue dropping the last reference.
    std::vector<std::exception_ptr> failures_;
    BatchQueue<Connection> queue_;  // last: stopped first
};

}  // namespace pixelmill::pg
