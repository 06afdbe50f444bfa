#include "store/fs/blob_commit_group.h"

#include "common/log.h"
#include "store/fs/fs_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace fs = std::filesystem;

namespace pixelmill {

struct BlobCommitGroup::Request {
    std::vector<PendingBlob> blobs;
    std::vector<BlobRef> refs;
    std::exception_ptr error;
    bool done = false;
};

namespace {

// syncfs() reports writeback errors only since Linux 5.8; before, it
// answered 0 after a failed write, which would tell callers "durable".
bool syncfsReportsErrors() {
    utsname u{};
    if (::uname(&u) != 0) return false;
    int major = 0, minor = 0;
    if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
    return major > 5 || (major == 5 && minor >= 8);
}

bool sameFileSystem(const fs::path& a, const fs::path& b) {
    struct stat sa{}, sb{};
    return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev;
}

BlobSyncMethod choose(BlobSyncMethod wanted, const fs::path& root, const fs::path& tmp) {
    if (wanted == BlobSyncMethod::None || wanted == BlobSyncMethod::PerFile) return wanted;
    // syncfs(root) flushes the temp files only if they live on root's file system.
    if (!sameFileSystem(root, tmp) || !syncfsReportsErrors()) return BlobSyncMethod::PerFile;
    return BlobSyncMethod::Syncfs;
}

int fsyncPath(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = ::fsync(fd) == 0 ? 0 : errno;
    ::close(fd);
    return rc;
}

void dropTemps(std::vector<PendingBlob>& blobs) {
    for (const PendingBlob& b : blobs) {
        std::error_code ec;
        fs::remove(b.temp, ec);
    }
}

}  // namespace

BlobCommitGroup::BlobCommitGroup(const fs::path& root, const fs::path& tmp, BlobSyncMethod method,
                                 std::atomic<uint64_t>& createdBytes)
    : root_(root), method_(choose(method, root, tmp)), createdBytes_(createdBytes) {
    if (method_ == BlobSyncMethod::Syncfs) {
        // Opened once: syncfs reports an error to each open file once, so a
        // fresh descriptor per round could miss one another caller saw first.
        rootFd_ = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootFd_ < 0) method_ = BlobSyncMethod::PerFile;
    }
}

BlobCommitGroup::~BlobCommitGroup() {
    if (rootFd_ >= 0) ::close(rootFd_);
}

std::vector<BlobRef> BlobCommitGroup::commit(std::vector<PendingBlob> blobs) {
    Request request{std::move(blobs), {}, {}, false};
    if (method_ == BlobSyncMethod::None) {
        // Nothing to share: each caller places its own files, in parallel.
        std::vector<fs::path> dirs;
        bool newShard = false;
        place(request, dirs, newShard);
    } else {
        std::unique_lock lock(mutex_);
        queue_.push_back(&request);
        while (!request.done) {
            if (leading_) {
                roundEnded_.wait(lock);
                continue;
            }
            // No round running: lead one with everything queued (this request included).
            leading_ = true;
            std::vector<Request*> round;
            round.swap(queue_);
            lock.unlock();
            try {
                runRound(round);
            } catch (...) {  // out of memory, say: the round's callers hear of it, the next round still runs
                for (Request* r : round)
                    if (!r->error) r->error = std::current_exception();
            }
            lock.lock();
            for (Request* r : round) r->done = true;
            leading_ = false;
            roundEnded_.notify_all();
        }
    }
    if (request.error) std::rethrow_exception(request.error);
    return std::move(request.refs);
}

void BlobCommitGroup::runRound(std::vector<Request*>& round) {
    size_t count = 0;
    for (Request* r : round) count += r->blobs.size();
    ++rounds_;
    blobs_ += count;
    auto failAll = [&](const char* what, int err) {
        std::exception_ptr e = std::make_exception_ptr(fsio::ioError(what, err));
        for (Request* r : round) r->error = e;
        log::error("blob_sync_failed", {{"step", what}, {"blobs", count}, {"errno", err}});
    };

    if (int err = syncData(round)) {
        // Nothing was renamed: no blob of this round reaches its final path.
        for (Request* r : round) dropTemps(r->blobs);
        failAll("sync blob data", err);
        return;
    }
    std::vector<fs::path> dirs;
    bool newShard = false;
    for (Request* r : round) place(*r, dirs, newShard);
    if (int err = syncNames(dirs, newShard)) {
        // The renamed files hold all their bytes, but their names may not
        // survive a power cut: no caller may be told they are stored.
        failAll("sync blob names", err);
    }
}

int BlobCommitGroup::syncData(const std::vector<Request*>& round) {
    if (method_ == BlobSyncMethod::Syncfs) {
        if (::syncfs(rootFd_) == 0) return 0;
        int err = errno;
        if (err == ENOSPC || err == EDQUOT || err == EIO) return err;
        // Anything else (a kernel or sandbox without syncfs): sync file by file from now on.
        log::warn("blob_syncfs_unavailable", {{"errno", err}});
        method_ = BlobSyncMethod::PerFile;
    }
    // Start writeback of every file first, so that the fdatasyncs after it
    // share journal commits instead of waiting for one each. In slices, so
    // that a job with a thousand outputs does not hold a thousand files open.
    constexpr size_t kSlice = 128;
    std::vector<const PendingBlob*> all;
    for (Request* r : round)
        for (const PendingBlob& b : r->blobs) all.push_back(&b);
    for (size_t at = 0; at < all.size(); at += kSlice) {
        std::vector<int> fds;
        int err = 0;
        for (size_t i = at; i < std::min(all.size(), at + kSlice); ++i) {
            int fd = ::open(all[i]->temp.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                err = errno;
                break;
            }
            fds.push_back(fd);
            ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        }
        for (int fd : fds) {
            if (err == 0 && ::fdatasync(fd) != 0) err = errno;
            ::close(fd);
        }
        if (err) return err;
    }
    return 0;
}

int BlobCommitGroup::syncNames(const std::vector<fs::path>& dirs, bool newShard) {
    if (method_ == BlobSyncMethod::Syncfs) {
        if (::syncfs(rootFd_) == 0) return 0;
        int err = errno;
        if (err == ENOSPC || err == EDQUOT || err == EIO) return err;
        log::warn("blob_syncfs_unavailable", {{"errno", err}});
        method_ = BlobSyncMethod::PerFile;
    }
    // The first fsync commits the journal with every rename of the round in
    // it; the others find their folder committed already.
    if (newShard)
        if (int err = fsyncPath(root_)) return err;
    for (const fs::path& dir : dirs)
        if (int err = fsyncPath(dir)) return err;
    return 0;
}

void BlobCommitGroup::place(Request& r, std::vector<fs::path>& dirs, bool& newShard) {
    r.refs.reserve(r.blobs.size());
    for (PendingBlob& b : r.blobs) {
        std::error_code ec;
        if (r.error) {  // an earlier blob of this caller failed: it gets that error, and no more files
            fs::remove(b.temp, ec);
            continue;
        }
        fs::path dir = b.target.parent_path();
        if (fs::create_directories(dir, ec)) newShard = true;
        if (ec) {
            fs::remove(b.temp, ec);
            r.error = std::make_exception_ptr(fsio::ioError("create " + dir.string(), ec.value()));
            continue;
        }
        // A blob found in place still gets its folder synced: it may be
        // another process's rename that no sync has covered yet.
        if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
        struct stat st{};
        bool stored = ::stat(b.target.c_str(), &st) == 0;
        if (!stored) {
            int err = fsio::moveNoReplace(b.temp, b.target);
            if (err == 0) {
                createdBytes_ += b.size;
                r.refs.push_back({b.sha256, b.size, true});
                continue;
            }
            if (err != EEXIST) {
                fs::remove(b.temp, ec);
                r.error = std::make_exception_ptr(fsio::ioError("rename blob", err));
                continue;
            }
        }
        // Same content already stored: keep it, refresh its age for the sweeper.
        fs::remove(b.temp, ec);
        fsio::touch(b.target);
        r.refs.push_back({b.sha256, b.size, false});
    }
}

}  // namespace pixelmill
