#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace pixelmill::pg {

// Group commit for calls that each would be a transaction of their own:
// callers that arrive while one group is being written wait, and the first
// of them writes all of their items in one transaction (leader and
// followers; no thread of its own). Each caller gets its own result or its
// own exception: when a group's transaction fails, its items are written
// again one by one, so that one bad item fails alone.
//
// Thread-safe. `flush` must be all or nothing (a transaction) and return one
// result per item, in order.
template <class Item, class Result>
class SubmitGroup {
public:
    using Flush = std::function<std::vector<Result>(const std::vector<const Item*>&)>;

    explicit SubmitGroup(Flush flush, size_t maxItems = 256) : flush_(std::move(flush)), maxItems_(maxItems) {}

    Result run(const Item& item) {
        Waiter me{&item};
        std::unique_lock lock(mutex_);
        pending_.push_back(&me);
        for (;;) {
            if (me.done) break;
            if (!writing_) {
                writeOneGroup(lock);
                continue;
            }
            wake_.wait(lock);
        }
        if (me.error) std::rethrow_exception(me.error);
        return std::move(*me.result);
    }

private:
    struct Waiter {
        const Item* item;
        bool done = false;
        std::optional<Result> result;
        std::exception_ptr error;
    };

    // Called with the lock held; returns with it held.
    void writeOneGroup(std::unique_lock<std::mutex>& lock) {
        writing_ = true;
        size_t n = std::min(pending_.size(), maxItems_);
        std::vector<Waiter*> group(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
        lock.unlock();
        std::vector<const Item*> items;
        for (Waiter* w : group) items.push_back(w->item);
        try {
            std::vector<Result> results = flush_(items);
            for (size_t i = 0; i < group.size(); ++i) group[i]->result.emplace(std::move(results.at(i)));
        } catch (...) {
            if (group.size() == 1) {
                group.front()->error = std::current_exception();
            } else {
                for (Waiter* w : group) {
                    try {
                        w->result.emplace(std::move(flush_({w->item}).at(0)));
                    } catch (...) {
                        w->error = std::current_exception();
                    }
                }
            }
        }
        lock.lock();
        for (Waiter* w : group) w->done = true;
        writing_ = false;
        wake_.notify_all();  // the written ones return; one of the rest writes the next group
    }

    Flush flush_;
    size_t maxItems_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<Waiter*> pending_;
    bool writing_ = false;
};

}  // namespace pixelmill::pg
