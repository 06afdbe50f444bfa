#pragma once

#include "common/background_loop.h"
#include "store/sqlite/db.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace pixelmill::sqlite {

// Keeps the WAL of one database bounded while the writer never stops.
//
// Two steps, because one alone does not finish under load:
//  - copying: a PASSIVE checkpoint on this class's own thread, every
//    `intervalMs`, copies committed frames into the database file next to the
//    readers and the writer, so that the writer seldom has anything to copy;
//  - starting over: only a checkpoint that holds the write lock can rewind the
//    WAL, and a group-committing writer leaves no gap for another connection to
//    take it. So once the WAL holds `restartBytes`, the writer itself runs a
//    RESTART checkpoint between two commits (betweenCommits), waiting at most
//    `restartWaitMs` for readers still reading from the WAL; it tries again a
//    little later if they were not done. journal_size_limit then trims the file
//    back to `restartBytes` at the next commit.
// Readers must keep their transactions short (see Connection::endReads).
//
// Thread-safe: the counters are atomics; betweenCommits runs on the writer's
// thread only.
class Checkpointer {
public:
    struct Options {
        int intervalMs = 250;
        int64_t restartBytes = 16 << 20;
        int restartWaitMs = 100;
    };

    // What /metrics shows: checkpoint results since start, and the WAL now.
    struct Stats {
        int64_t walBytes = 0;         // size of the -wal file
        uint64_t done = 0;            // checkpoints that copied every frame they were asked to
        uint64_t busy = 0;            // checkpoints stopped short by a reader or the writer
        uint64_t frames = 0;          // frames copied into the database
        uint64_t restarts = 0;        // times the WAL started over
    };

    // `path` is the database file; the writer's connection is configured here.
    Checkpointer(const std::string& path, Connection& writer, Options options);
    ~Checkpointer();
    Checkpointer(const Checkpointer&) = delete;
    Checkpointer& operator=(const Checkpointer&) = delete;

    // Called by the writer after each commit, outside any transaction.
    void betweenCommits(Connection& writer);

    Stats stats() const;

private:
    void copyFrames();
    void record(int rc, int logFrames, int copied);
    int64_t walBytes() const;

    std::string path_;
    Options options_;
    int64_t pageSize_ = 4096;

    std::atomic<int64_t> walFrames_{0};  // frames in the WAL at the last checkpoint
    std::atomic<int64_t> lastCopied_{0};
    std::atomic<uint64_t> done_{0};
    std::atomic<uint64_t> busy_{0};
    std::atomic<uint64_t> frames_{0};
    std::atomic<uint64_t> restarts_{0};
    int64_t nextRestartTry_ = 0;  // writer's thread only

    std::unique_ptr<Connection> db_;  // the loop's own connection (opened by its first round)
    BackgroundLoop loop_;             // last: its thread ends before what it uses goes away
};

}  // namespace pixelmill::sqlite
