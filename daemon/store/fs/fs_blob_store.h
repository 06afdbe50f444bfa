#pragma once

#include "store/blob_store.h"

#include <atomic>
#include <filesystem>

namespace pixelmill {

// Blobs as files under <root>/ab/cdef… named by their SHA-256. Writes go to
// <tmp>/ first and are renamed into place, so a reader never sees half a blob
// and a crash leaves at most a temp file, which the next start removes.
// Thread-safe: files are immutable once renamed; the byte count is atomic.
class FsBlobStore final : public BlobStore {
public:
    // `owner`: this process owns the folders: it cleans leftover temp files
    // and counts the stored bytes (a plugin worker process does neither).
    FsBlobStore(std::filesystem::path root, std::filesystem::path tmp, bool fsync, bool owner = true);

    std::unique_ptr<BlobWriter> writer() override;
    BlobRef put(std::span<const unsigned char> bytes) override;
    bool exists(const std::string& sha256) const override;
    std::string path(const std::string& sha256) const override;
    void remove(const std::string& sha256) override;
    std::vector<std::string> listOlderThan(int64_t olderThanUnixMs) const override;
    uint64_t totalBytes() const override { return totalBytes_.load(); }
    void noteStoredElsewhere(uint64_t bytes) override { totalBytes_ += bytes; }

    // Moves a finished temp file into place (used by writers).
    BlobRef adopt(const std::filesystem::path& tempFile, const std::string& sha256, uint64_t size);
    const std::filesystem::path& tmpDir() const { return tmp_; }
    bool fsyncEnabled() const { return fsync_; }

private:
    std::filesystem::path root_;
    std::filesystem::path tmp_;
    bool fsync_;
    std::atomic<uint64_t> totalBytes_{0};
};

}  // namespace pixelmill
