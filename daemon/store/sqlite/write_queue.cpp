#include "store/sqlite/write_queue.h"

#include <vector>

namespace pixelmill::sqlite {

WriteQueue::WriteQueue(std::unique_ptr<Connection> connection, size_t maxBatch, BetweenCommits betweenCommits)
    : db_(std::move(connection)),
      maxBatch_(maxBatch),
      betweenCommits_(std::move(betweenCommits)),
      thread_([this] { loop(); }) {}

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

void WriteQueue::loop() {
    std::vector<Item> batch;
    std::vector<std::exception_ptr> errors;
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
        errors.assign(batch.size(), nullptr);
        std::exception_ptr commitError;
        try {
            db_->prepare("BEGIN IMMEDIATE").run();
            for (size_t i = 0; i < batch.size(); ++i) {
                db_->prepare("SAVEPOINT task").run();
                try {
                    batch[i].task(*db_);
                    db_->prepare("RELEASE task").run();
                } catch (...) {
                    errors[i] = std::current_exception();
                    db_->prepare("ROLLBACK TO task").run();
                    db_->prepare("RELEASE task").run();
                }
            }
            db_->prepare("COMMIT").run();
        } catch (...) {
            commitError = std::current_exception();
            try {
                db_->exec("ROLLBACK");
            } catch (...) {
                // Nothing was open, or the connection is gone: the error above says why.
            }
        }
        {
            std::lock_guard lock(mutex_);
            ++commits_;
            tasks_ += batch.size();
        }
        for (size_t i = 0; i < batch.size(); ++i) {
            if (batch[i].done) batch[i].done(commitError ? commitError : errors[i]);
        }
        batch.clear();
        if (betweenCommits_) betweenCommits_(*db_);
    }
}

}  // namespace pixelmill::sqlite
