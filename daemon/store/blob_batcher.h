#pragma once

#include "store/blob_store.h"

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pixelmill {

// Commits the blobs one job produces in batches, in the background: every
// blob added while a batch is being made durable goes into the next batch,
// so a plugin that emits 50 pages pays a few sync rounds, not 50, and its
// pages still become visible while it renders the rest. A blob's
// `onDurable` runs (on the batcher's thread, in the order added) only after
// its batch was committed durably, so whatever it records never names bytes
// a power cut could take.
//
// Thread-safe: add() may be called from any thread (parallel_for tasks);
// mutex_ guards the queue, closing_ and error_. One per job.
class BlobBatcher {
public:
    // Records a durable blob; false if it could not be (the batcher then stops).
    using OnDurable = std::function<bool(const BlobRef&)>;

    explicit BlobBatcher(BlobStore& store) : store_(store) {}
    ~BlobBatcher() { finish(false); }
    BlobBatcher(const BlobBatcher&) = delete;
    BlobBatcher& operator=(const BlobBatcher&) = delete;

    // Queues a finished writer. False once a batch failed (nothing queued then).
    bool add(std::unique_ptr<BlobWriter> writer, OnDurable onDurable);
    // Waits for the batches under way. keep: commit what is queued too;
    // otherwise it is dropped, temp files and all. Returns the first error
    // (empty: every blob added was committed and recorded, or dropped).
    std::string finish(bool keep);

private:
    struct Item {
        std::unique_ptr<BlobWriter> writer;
        OnDurable onDurable;
    };
    void loop();

    BlobStore& store_;
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<Item> queue_;
    bool closing_ = false;
    std::string error_;
    std::thread thread_;  // started by the first add()
};

}  // namespace pixelmill
