#include "store/blob_batcher.h"

namespace pixelmill {

bool BlobBatcher::add(std::unique_ptr<BlobWriter> writer, OnDurable onDurable) {
    std::lock_guard lock(mutex_);
    if (!error_.empty() || closing_) return false;
    queue_.push_back({std::move(writer), std::move(onDurable)});
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    arrived_.notify_one();
    return true;
}

std::string BlobBatcher::finish(bool keep) {
    std::vector<Item> dropped;
    {
        std::lock_guard lock(mutex_);
        closing_ = true;
        if (!keep) dropped.swap(queue_);
        arrived_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
    dropped.clear();  // their writers remove the temp files
    std::lock_guard lock(mutex_);
    return error_;
}

void BlobBatcher::loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        arrived_.wait(lock, [&] { return !queue_.empty() || closing_; });
        if (queue_.empty()) return;  // closing, nothing left
        std::vector<Item> batch;
        batch.swap(queue_);
        bool failed = !error_.empty();
        lock.unlock();
        std::string error;
        if (!failed) {
            try {
                std::vector<std::unique_ptr<BlobWriter>> writers;
                writers.reserve(batch.size());
                for (Item& item : batch) writers.push_back(std::move(item.writer));
                std::vector<BlobRef> refs = store_.commitAll(std::move(writers));
                for (size_t i = 0; i < batch.size() && error.empty(); ++i)
                    if (!batch[i].onDurable(refs[i])) error = "an output could not be recorded";
            } catch (const std::exception& e) {
                error = e.what();
            }
        }
        batch.clear();  // after a failure: dropped with their temp files
        lock.lock();
        if (!error.empty() && error_.empty()) error_ = error;
    }
}

}  // namespace pixelmill
