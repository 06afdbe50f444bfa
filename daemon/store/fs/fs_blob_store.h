#pragma once

#include "store/blob_store.h"
#include "store/fs/blob_commit_group.h"

#include <atomic>
#include <filesystem>

namespace pixelmill {

// Blobs as files under <root>/ab/cdef… named by their SHA-256. Writes go to
// <tmp>/ first and are renamed into place, so a reader never sees half a blob
// and a crash leaves at most a temp file, which the next start removes.
// A commit is durable when it returns (unless fsync is off): commits that
// arrive together share their syncs (BlobCommitGroup), so many small blobs
// cost a few syncs, not three each.
// Thread-safe: files are immutable once renamed; the byte count is atomic;
// the commit group has its own lock.
class FsBlobStore final : public BlobStore {
public:
    // `owner`: this process owns the folders: it cleans leftover temp files
    // and counts the stored bytes (a plugin worker process does neither).
    // `method`: how commits are made durable when `fsync` is on (Auto picks; the others are for tests and benches).
    FsBlobStore(std::filesystem::path root, std::filesystem::path tmp, bool fsync, bool owner = true,
                BlobSyncMethod method = BlobSyncMethod::Auto);

    std::unique_ptr<BlobWriter> writer() override;
    BlobRef put(std::span<const unsigned char> bytes) override;
    bool exists(const std::string& sha256) const override;
    std::string path(const std::string& sha256) const override;
    void remove(const std::string& sha256) override;
    std::vector<std::string> listOlderThan(int64_t olderThanUnixMs) const override;
    uint64_t totalBytes() const override { return totalBytes_.load(); }
    void noteStoredElsewhere(uint64_t bytes) override { totalBytes_ += bytes; }
    std::vector<BlobRef> commitAll(std::vector<std::unique_ptr<BlobWriter>> writers) override;

    // Moves a finished temp file into place (used by writers).
    BlobRef adopt(const std::filesystem::path& tempFile, const std::string& sha256, uint64_t size);
    const std::filesystem::path& tmpDir() const { return tmp_; }
    bool fsyncEnabled() const { return fsync_; }
    // Commits finished temp files in one durable round (removes them whatever happens).
    std::vector<BlobRef> commitPending(std::vector<PendingBlob> blobs);

    // Sync rounds run so far and the blobs they carried (both 0 with fsync off).
    uint64_t syncRounds() const { return group_.rounds(); }
    uint64_t syncedBlobs() const { return group_.blobsCommitted(); }
    BlobSyncMethod syncMethod() const { return group_.method(); }

private:
    std::filesystem::path root_;
    std::filesystem::path tmp_;
    bool fsync_;
    std::atomic<uint64_t> totalBytes_{0};  // before group_, which adds to it
    BlobCommitGroup group_;
};

}  // namespace pixelmill
