#include "store/sqlite/write_queue.h"

#include <vector>

namespace pixelmill::sqlite {

WriteQueue::WriteQueue(std::unique_ptr<Connection> connection, size_t maxBatch, BetweenCommits betweenCommits)
    : db_(std::move(connection)),
      betweenCommits_(std::move(betweenCommits)),
      queue_(maxBatch, [this](std::vector<Item>& batch) { write(batch); }) {
    queue_.start();
}

WriteQueue::~WriteQueue() { queue_.stop(); }

void WriteQueue::post(Task task, Done done) { queue_.post(std::move(task), std::move(done)); }

void WriteQueue::write(std::vector<Item>& batch) {
    // Kept until the next batch: the callers rethrow these, and the writer's
    // copies are better not the last ones (see errors_).
    std::vector<std::exception_ptr>& errors = errors_;
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
    queue_.count(1, batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        if (batch[i].done) batch[i].done(commitError ? commitError : errors[i]);
    }
    if (betweenCommits_) betweenCommits_(*db_);
}

}  // namespace pixelmill::sqlite
