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
    Syncfs,   // syncfs(root) before the renames and after them: two flushes of the whole file system
    PerFile,  // fdatasync of every temp file, then fsync of every shard folder a round touched
    None,     // no syncs at all (--fsync false)
};

// Group commit for blobs: callers hand in finished temp files; one of them
// (the leader) takes everything queued, makes the data durable in one go,
// renames each into place (never over an existing blob), makes the renames
// durable in one go, and hands every caller its BlobRefs. Calls arriving
// during a round form the next one, so under load a sync costs one round,
// not one per blob.
//
// Guarantee: commit() returns only once every blob it names (new, or found
// stored already) survives a power cut. A failed sync fails every caller of
// that round; a blob whose data sync failed is never renamed into place.
//
// Thread-safe: mutex_ guards queue_ and leading_; a round runs outside it,
// and only one round runs at a time.
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
    void runRound(std::vector<Request*>& round);
    int syncData(const std::vector<Request*>& round);
    int syncNames(const std::vector<std::filesystem::path>& dirs, bool newShard);
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
    std::vector<Request*> queue_;
    bool leading_ = false;
};

}  // namespace pixelmill
