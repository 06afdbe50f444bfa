#include "store/sqlite/checkpointer.h"

#include "common/log.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>

namespace pixelmill::sqlite {
namespace {

constexpr int kBusyTimeoutMs = 10'000;  // what Connection sets; restored after a restart

int64_t steadyMs() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// After each commit: how many frames the WAL now holds.
int onCommit(void* frames, sqlite3*, const char*, int walFrames) {
    static_cast<std::atomic<int64_t>*>(frames)->store(walFrames, std::memory_order_relaxed);
    return SQLITE_OK;
}

}  // namespace

Checkpointer::Checkpointer(const std::string& path, Connection& writer, Options options)
    : path_(path), options_(options),
      loop_("checkpointer", BackgroundLoop::every(BackgroundLoop::Duration(options.intervalMs),
                                                  [this] { copyFrames(); })) {
    {
        Statement& s = writer.prepare("PRAGMA page_size");
        Reset r(s);
        if (s.step()) pageSize_ = s.i64(0);
    }
    // The commit hook replaces SQLite's own auto-checkpoint, which would run a
    // PASSIVE checkpoint inside every commit that finds the WAL long.
    sqlite3_wal_hook(writer.raw(), onCommit, &walFrames_);
    writer.exec("PRAGMA journal_size_limit = " + std::to_string(options_.restartBytes));
    loop_.start(BackgroundLoop::Duration(options_.intervalMs));
}

Checkpointer::~Checkpointer() {
    loop_.stop();
    if (db_) sqlite3_wal_checkpoint_v2(db_->raw(), "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
}

void Checkpointer::betweenCommits(Connection& writer) {
    if (walFrames_.load(std::memory_order_relaxed) * pageSize_ < options_.restartBytes) return;
    int64_t now = steadyMs();
    if (now < nextRestartTry_) return;
    int logFrames = 0, copied = 0;
    sqlite3_busy_timeout(writer.raw(), options_.restartWaitMs);
    int rc = sqlite3_wal_checkpoint_v2(writer.raw(), "main", SQLITE_CHECKPOINT_RESTART, &logFrames, &copied);
    sqlite3_busy_timeout(writer.raw(), kBusyTimeoutMs);
    record(rc, logFrames, copied);
    if (rc == SQLITE_OK) {
        restarts_.fetch_add(1, std::memory_order_relaxed);
        walFrames_.store(0, std::memory_order_relaxed);
    } else {
        // A reader still reads from the WAL: let the writer commit for a while, then try again.
        nextRestartTry_ = now + options_.restartWaitMs;
    }
}

Checkpointer::Stats Checkpointer::stats() const {
    Stats s;
    s.walBytes = walBytes();
    s.done = done_.load(std::memory_order_relaxed);
    s.busy = busy_.load(std::memory_order_relaxed);
    s.frames = frames_.load(std::memory_order_relaxed);
    s.restarts = restarts_.load(std::memory_order_relaxed);
    return s;
}

void Checkpointer::record(int rc, int logFrames, int copied) {
    bool complete = rc == SQLITE_OK && logFrames >= 0 && copied >= logFrames;
    (complete ? done_ : busy_).fetch_add(1, std::memory_order_relaxed);
    if (copied < 0) return;  // an error: SQLite reports -1
    // `copied` counts from the WAL's start: it goes down only when the WAL started over.
    int64_t before = lastCopied_.exchange(copied, std::memory_order_relaxed);
    if (copied > 0) frames_.fetch_add(static_cast<uint64_t>(copied >= before ? copied - before : copied),
                                      std::memory_order_relaxed);
}

int64_t Checkpointer::walBytes() const {
    struct stat st {};
    if (::stat((path_ + "-wal").c_str(), &st) != 0) return 0;
    return static_cast<int64_t>(st.st_size);
}

void Checkpointer::copyFrames() {
    // The writer is about to restart the WAL: holding the checkpoint lock now would make it wait.
    if (walFrames_.load(std::memory_order_relaxed) * pageSize_ >= options_.restartBytes) return;
    try {
        if (!db_) {
            db_ = std::make_unique<Connection>(path_, false);
            // SQLite 3.40 opens a connection's WAL at its first read; before that a checkpoint
            // does nothing and still returns SQLITE_OK (with -1 frames): read once.
            db_->exec("SELECT 1 FROM sqlite_master LIMIT 1");
        }
        int logFrames = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(db_->raw(), "main", SQLITE_CHECKPOINT_PASSIVE, &logFrames, &copied);
        // SQLITE_BUSY here only means the writer is running its own restart.
        if (rc == SQLITE_OK || rc == SQLITE_BUSY) record(rc, logFrames, copied);
        else log::warn("checkpoint_failed", {{"error", sqlite3_errstr(rc)}});
    } catch (const std::exception& e) {
        log::warn("checkpoint_failed", {{"error", e.what()}});
    }
}

}  // namespace pixelmill::sqlite
