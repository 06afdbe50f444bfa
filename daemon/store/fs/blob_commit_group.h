#pragma once

#include "store/blob_store.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace pixelmill {

// A finished, closed temp file and the blob it becomes.
struct PendingBlob {
    std::filesystem::path temp;
    std::filesystem::path target;  // <root>/ab/cdef…
    std::string sha256;
    uint64_t size = 0;
};

// How a round makes its files durable.
enum class BlobSyncMethod {
    Auto,     // Syncfs where it is safe (same file system, a kernel that reports its errors), else PerFile
    Syncfs,   // syncfs(root) for a round with more than a few files, else as PerFile
    PerFile,  // fdatasync of every temp file, fsync of every shard folder a round touched, in parallel
    None,     // no syncs at all (--fsync false)
};

// Group commit for blobs: callers hand in finished temp files; one of them
// (the leader) runs rounds for everyone. Each round is one sync that covers
// both the data of the blobs queued since the last round and the renames of
// the blobs placed in the last round; after it, the former are renamed into
// place (never over an existing blob) and the latter's callers are answered.
// A blob thus costs two shared syncs, and under load a round carries every
// blob that arrived while the previous one ran.
//
// Guarantee: commit() returns only once every blob it names (new, or found
// stored already) survives a power cut. A failed sync fails every caller
// whose blobs it covered; a blob whose data sync failed is never renamed
// into place.
//
// Thread-safe: mutex_ guards the queues and leading_; a round runs outside
// it, and only one round runs at a time.
class BlobCommitGroup {
public:
    // `createdBytes` is added the size of every blob a round puts in place.
    BlobCommitGroup(const std::filesystem::path& root, const std::filesystem::path& tmp, BlobSyncMethod method,
                    std::atomic<uint64_t>& createdBytes);
    ~BlobCommitGroup();
    BlobCommitGroup(const BlobCommitGroup&) = delete;
    BlobCommitGroup& operator=(const BlobCommitGroup&) = delete;

    // One BlobRef per blob, in order. Throws ApiError (507 when the disk is
    // full) if any of them could not be stored durably; the temp files are
    // gone either way.
    std::vector<BlobRef> commit(std::vector<PendingBlob> blobs);

    BlobSyncMethod method() const { return method_.load(); }
    uint64_t rounds() const { return rounds_.load(); }
    uint64_t blobsCommitted() const { return blobs_.load(); }

private:
    struct Request;
    // What one round works on, and what it leaves for the next.
    struct Round {
        std::vector<Request*> fresh;             // data not synced yet
        std::vector<Request*> placed;            // renamed last round, names not synced yet
        std::vector<std::filesystem::path> dirs; // the folders holding `placed`
        bool newShard = false;                   // one of them is new in the root
        std::vector<Request*> finished;          // answered by this round
        std::vector<Request*> next;              // renamed by this round
        std::vector<std::filesystem::path> nextDirs;
        bool nextNewShard = false;
    };
    static constexpr unsigned kSyncThreads = 16;
    static constexpr size_t kFewSyncs = 4;  // up to this many files and folders: synced one by one, even with Syncfs

    void runRound(Round& round);
    int sync(const Round& round);
    // Renames r's temp files into place; the shard folders it used go to `dirs`.
    void place(Request& r, std::vector<std::filesystem::path>& dirs, bool& newShard);

    std::filesystem::path root_;
    std::atomic<BlobSyncMethod> method_;  // Syncfs may become PerFile, once, inside a round
    int rootFd_ = -1;
    std::atomic<uint64_t>& createdBytes_;
    std::atomic<uint64_t> rounds_{0};
    std::atomic<uint64_t> blobs_{0};

    std::mutex mutex_;
    std::condition_variable roundEnded_;
    std::vector<Request*> queue_;   // waiting for their data sync
    std::vector<Request*> placed_;  // waiting for their name sync
    std::vector<std::filesystem::path> placedDirs_;
    bool placedNewShard_ = false;
    bool leading_ = false;
};

}  // namespace pixelmill
