#include "store/postgres/write_queue.h"

namespace pixelmill::pg {

WriteQueue::WriteQueue(Pool& pool, size_t maxBatch)
    : pool_(pool), queue_(maxBatch, [this](std::vector<Item>& batch) {
          failures_.clear();
          write(batch, 0, batch.size());
      }) {
    queue_.start();
}

WriteQueue::~WriteQueue() { queue_.stop(); }

void WriteQueue::post(Task task, Done done) { queue_.post(std::move(task), std::move(done)); }

void WriteQueue::answer(std::vector<Item>& batch, size_t from, size_t end, std::exception_ptr error) {
    queue_.count(error ? 0 : 1, end - from);
    if (error) failures_.push_back(error);
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

}  // namespace pixelmill::pg
