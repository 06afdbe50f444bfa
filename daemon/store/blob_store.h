#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace pixelmill {

struct BlobRef {
    std::string sha256;
    uint64_t size = 0;
    bool created = false;  // false: the same content was stored already
};

// Streams bytes into a temp file while hashing them. finish() closes the
// temp file (readable at tempPath() from then on); commit() makes it a blob.
// A writer destroyed before commit() removes its temp file, so a rejected
// upload leaves nothing behind. Not thread-safe.
class BlobWriter {
public:
    static constexpr size_t kHeadSize = 4096;

    virtual ~BlobWriter() = default;
    // Throws ApiError 507 when the disk is full.
    virtual void write(const void* data, size_t size) = 0;
    virtual uint64_t size() const = 0;
    // The first kHeadSize bytes written (fewer if the content is shorter).
    virtual const std::string& head() const = 0;
    virtual const std::string& tempPath() const = 0;
    virtual BlobRef finish() = 0;
    virtual BlobRef commit() = 0;
    virtual void abort() = 0;
};

// Content-addressed, immutable blobs. Thread-safe.
class BlobStore {
public:
    virtual ~BlobStore() = default;

    virtual std::unique_ptr<BlobWriter> writer() = 0;
    // Stores bytes already in memory.
    virtual BlobRef put(std::span<const unsigned char> bytes) = 0;
    virtual bool exists(const std::string& sha256) const = 0;
    // A path the blob can be read from while it exists.
    virtual std::string path(const std::string& sha256) const = 0;
    virtual void remove(const std::string& sha256) = 0;
    // Every blob whose last write is older than `olderThanUnixMs`.
    virtual std::vector<std::string> listOlderThan(int64_t olderThanUnixMs) const = 0;
    virtual uint64_t totalBytes() const = 0;
    // Another process (a plugin worker) stored a new blob of `bytes` here.
    virtual void noteStoredElsewhere(uint64_t bytes) = 0;
    // Commits several writers of this store at once: durable together, at
    // the cost of one sync round rather than one each. One BlobRef per
    // writer, in order; throws (507 when the disk is full) if any failed,
    // and then none of them may be relied on.
    virtual std::vector<BlobRef> commitAll(std::vector<std::unique_ptr<BlobWriter>> writers) {
        std::vector<BlobRef> refs;
        refs.reserve(writers.size());
        for (auto& w : writers) refs.push_back(w->commit());
        return refs;
    }
};

}  // namespace pixelmill
