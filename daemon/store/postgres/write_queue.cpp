#include "store/postgres/write_queue.h"

namespace pixelmill::pg {

WriteQueue::WriteQueue(Pool& pool, size_t maxBatch)
    : pool_(pool), maxBatch_(maxBatch), thread_([this] { loop(); }) {}

WriteQueue::~WriteQueue() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void WriteQueue::post(Task task, Done done) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(Item{std::move(task), std::move(done)});
    }
    wake_.notify_one();
}

uint64_t WriteQueue::commits() const {
    std::lock_guard lock(mutex_);
    return commits_;
}

uint64_t WriteQueue::tasks() const {
    std::lock_guard lock(mutex_);
    return tasks_;
}

void WriteQueue::answer(std::vector<Item>& batch, size_t from, size_t end, std::exception_ptr error) {
    {
        std::lock_guard lock(mutex_);
        if (!error) ++commits_;
        tasks_ += end - from;
    }
    for (size_t i = from; i < end; ++i)
        if (batch[i].done) batch[i].done(error);
}

void WriteQueue::write(std::vector<Item>& batch, size_t from, size_t end) {
    while (from < end) {
        size_t reached = from;  // the task that was running when the transaction failed
        std::exception_ptr error;
        try {
            pool_.transaction([&](Connection& c) {
                for (reached = from; reached < end; ++reached) batch[reached].task(c);
            });
        } catch (...) {
            error = std::current_exception();
        }
        if (!error) return answer(batch, from, end, nullptr);
        if (reached > from && reached < end) {
            write(batch, from, reached);  // those before it did not fail: together again
            from = reached;               // and the next round begins with the one that failed
        } else if (reached == end && end - from > 1) {
            write(batch, from, from + 1);  // the commit failed: the first alone says whether it was its fault
            ++from;
        } else {
            answer(batch, from, from + 1, error);  // it failed alone, or first in its transaction
            ++from;
        }
    }
}

void WriteQueue::loop() {
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
        write(batch, 0, batch.size());
        batch.clear();
    }
}

}  // namespace pixelmill::pg
