#include "store/fs/fs_blob_store.h"

#include "store/fs/fs_io.h"

#include "common/error.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/sha256.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <system_error>

namespace fs = std::filesystem;

namespace pixelmill {
namespace {

[[noreturn]] void throwIo(const std::string& what, int err) { throw fsio::ioError(what, err); }

class FdGuard {
public:
    explicit FdGuard(int fd = -1) : fd_(fd) {}
    ~FdGuard() { reset(); }
    FdGuard(const FdGuard&) = delete;
    FdGuard& operator=(const FdGuard&) = delete;
    void adopt(int fd) {
        reset();
        fd_ = fd;
    }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    // Closes and reports the error close() saw (delayed write errors surface here).
    int close() {
        int rc = ::close(fd_);
        fd_ = -1;
        return rc == 0 ? 0 : errno;
    }

private:
    int fd_;
};

class FsBlobWriter final : public BlobWriter {
public:
    explicit FsBlobWriter(FsBlobStore& store) : store_(store) {
        path_ = (store.tmpDir() / ("blob-" + newId())).string();
        fd_.adopt(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        if (fd_.get() < 0) throwIo("create " + path_, errno);
    }

    ~FsBlobWriter() override { abort(); }

    void write(const void* data, size_t size) override {
        if (state_ != State::Open) throw std::logic_error("blob writer already finished");
        if (head_.size() < kHeadSize)
            head_.append(static_cast<const char*>(data), std::min(size, kHeadSize - head_.size()));
        const char* p = static_cast<const char*>(data);
        size_t left = size;
        while (left > 0) {
            ssize_t n = ::write(fd_.get(), p, left);
            if (n < 0) {
                if (errno == EINTR) continue;
                int err = errno;
                abort();
                throwIo("write blob", err);
            }
            p += n;
            left -= static_cast<size_t>(n);
        }
        hash_.update(data, size);
        size_ += size;
    }

    uint64_t size() const override { return size_; }
    const std::string& head() const override { return head_; }
    const std::string& tempPath() const override { return path_; }

    // Closes the temp file; its bytes are made durable by commit(), together
    // with whatever other blobs are being committed at the time.
    BlobRef finish() override {
        if (state_ == State::Finished) return {sha_, size_};
        if (state_ != State::Open) throw std::logic_error("blob writer already finished");
        if (int err = fd_.close()) {
            abort();
            throwIo("close blob", err);
        }
        sha_ = hash_.hexDigest();
        state_ = State::Finished;
        return {sha_, size_};
    }

    BlobRef commit() override {
        std::vector<PendingBlob> one;
        one.push_back(handOver());
        return store_.commitPending(std::move(one)).front();
    }

    // Finishes the writer and hands its temp file to whoever commits it,
    // who removes it whatever happens.
    PendingBlob handOver() {
        finish();
        state_ = State::Committed;
        return {path_, store_.path(sha_), sha_, size_};
    }

    void abort() override {
        if (state_ == State::Committed || state_ == State::Aborted) return;
        state_ = State::Aborted;
        fd_.reset();
        std::error_code ec;
        fs::remove(path_, ec);
    }

private:
    enum class State { Open, Finished, Committed, Aborted };

    FsBlobStore& store_;
    std::string path_;
    FdGuard fd_;
    Sha256 hash_;
    std::string head_;
    std::string sha_;
    uint64_t size_ = 0;
    State state_ = State::Open;
};

}  // namespace

namespace {

// The folders exist before the commit group looks at which file systems they are on.
const fs::path& created(const fs::path& dir) {
    fs::create_directories(dir);
    return dir;
}

}  // namespace

FsBlobStore::FsBlobStore(fs::path root, fs::path tmp, bool fsync, bool owner, BlobSyncMethod method)
    : root_(std::move(root)),
      tmp_(std::move(tmp)),
      fsync_(fsync),
      group_(created(root_), created(tmp_), fsync ? method : BlobSyncMethod::None, totalBytes_) {
    if (!owner) return;
    // Temp files left by a crash belong to no one.
    for (const auto& entry : fs::directory_iterator(tmp_)) {
        std::error_code ec;
        fs::remove_all(entry.path(), ec);
    }
    uint64_t total = 0;
    for (const auto& entry : fs::recursive_directory_iterator(root_)) {
        std::error_code ec;
        if (entry.is_regular_file(ec)) total += entry.file_size(ec);
    }
    totalBytes_ = total;
}

std::unique_ptr<BlobWriter> FsBlobStore::writer() { return std::make_unique<FsBlobWriter>(*this); }

BlobRef FsBlobStore::put(std::span<const unsigned char> bytes) {
    auto w = writer();
    w->write(bytes.data(), bytes.size());
    return w->commit();
}

std::string FsBlobStore::path(const std::string& sha256) const {
    if (!isSha256Hex(sha256)) throw std::invalid_argument("not a blob name: " + sha256);
    return (root_ / sha256.substr(0, 2) / sha256.substr(2)).string();
}

bool FsBlobStore::exists(const std::string& sha256) const {
    struct stat st{};
    return ::stat(path(sha256).c_str(), &st) == 0;
}

BlobRef FsBlobStore::adopt(const fs::path& tempFile, const std::string& sha256, uint64_t size) {
    std::vector<PendingBlob> one;
    one.push_back({tempFile, path(sha256), sha256, size});
    return commitPending(std::move(one)).front();
}

std::vector<BlobRef> FsBlobStore::commitAll(std::vector<std::unique_ptr<BlobWriter>> writers) {
    std::vector<PendingBlob> pending;
    pending.reserve(writers.size());
    try {
        for (auto& w : writers) {
            auto* own = dynamic_cast<FsBlobWriter*>(w.get());
            if (!own) throw std::invalid_argument("commitAll: a writer of another blob store");
            pending.push_back(own->handOver());
        }
    } catch (...) {
        // Those handed over are ours to remove; the rest remove their own.
        for (const PendingBlob& b : pending) {
            std::error_code ec;
            fs::remove(b.temp, ec);
        }
        throw;
    }
    return commitPending(std::move(pending));
}

std::vector<BlobRef> FsBlobStore::commitPending(std::vector<PendingBlob> blobs) {
    try {
        return group_.commit(std::move(blobs));
    } catch (const ApiError&) {
        throw;
    } catch (const std::exception& e) {
        // The group removes the temp files it was given; anything else is a bug to report, not a 507.
        throw ApiError::internal(std::string("commit blob: ") + e.what());
    }
}

void FsBlobStore::remove(const std::string& sha256) {
    fs::path p = path(sha256);
    struct stat st{};
    if (::stat(p.c_str(), &st) != 0) return;
    if (::unlink(p.c_str()) == 0) totalBytes_ -= static_cast<uint64_t>(st.st_size);
}

std::vector<std::string> FsBlobStore::listOlderThan(int64_t olderThanUnixMs) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& shard : fs::directory_iterator(root_, ec)) {
        if (!shard.is_directory()) continue;
        std::string prefix = shard.path().filename().string();
        for (const auto& entry : fs::directory_iterator(shard.path(), ec)) {
            std::string sha = prefix + entry.path().filename().string();
            if (!isSha256Hex(sha)) continue;
            struct stat st{};
            if (::stat(entry.path().c_str(), &st) != 0) continue;
            int64_t mtimeMs = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
            if (mtimeMs < olderThanUnixMs) out.push_back(std::move(sha));
        }
    }
    return out;
}

}  // namespace pixelmill
