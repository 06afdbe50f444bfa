#include "store/fs/blob_commit_group.h"

#include "common/log.h"
#include "common/parallel.h"
#include "store/fs/fs_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>

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

int fdatasyncPath(const fs::path& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = ::fdatasync(fd) == 0 ? 0 : errno;
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
            // No one leads: run rounds until this request is done, then let a
            // waiting caller take over whatever is left.
            leading_ = true;
            while (!request.done) {
                Round round;
                round.fresh.swap(queue_);
                round.placed.swap(placed_);
                round.dirs.swap(placedDirs_);
                round.newShard = std::exchange(placedNewShard_, false);
                lock.unlock();
                try {
                    runRound(round);
                } catch (...) {  // out of memory, say: this round's callers hear of it
                    for (Request* r : round.fresh)
                        if (!r->error) r->error = std::current_exception();
                    for (Request* r : round.placed)
                        if (!r->error) r->error = std::current_exception();
                    round.finished = round.fresh;
                    round.finished.insert(round.finished.end(), round.placed.begin(), round.placed.end());
                    round.next.clear();
                }
                lock.lock();
                for (Request* r : round.finished) r->done = true;
                placed_ = std::move(round.next);
                placedDirs_ = std::move(round.nextDirs);
                placedNewShard_ = round.nextNewShard;
                roundEnded_.notify_all();
            }
            leading_ = false;
            roundEnded_.notify_all();
        }
    }
    if (request.error) std::rethrow_exception(request.error);
    return std::move(request.refs);
}

void BlobCommitGroup::runRound(Round& round) {
    size_t count = 0;
    for (Request* r : round.fresh) count += r->blobs.size();
    ++rounds_;
    blobs_ += count;

    // One sync: the data of the fresh blobs and the renames of the placed ones.
    if (int err = sync(round)) {
        const char* what = round.fresh.empty() ? "sync blob names" : "sync blobs";
        log::error("blob_sync_failed", {{"step", what}, {"blobs", count}, {"renamed", round.placed.size()}, {"errno", err}});
        // Each caller gets an exception object of its own: callers catch on their own threads.
        auto error = [&] { return std::make_exception_ptr(fsio::ioError(what, err)); };
        // Fresh blobs are never renamed: none of them reaches its final path.
        for (Request* r : round.fresh) {
            dropTemps(r->blobs);
            r->error = error();
        }
        // Placed ones hold all their bytes, but their names may not survive
        // a power cut: no caller may be told they are stored.
        for (Request* r : round.placed) r->error = error();
        round.finished = round.placed;
        round.finished.insert(round.finished.end(), round.fresh.begin(), round.fresh.end());
        return;
    }
    round.finished = round.placed;  // durable now
    for (Request* r : round.fresh) {
        place(*r, round.nextDirs, round.nextNewShard);
        // A caller with a blob that could not be placed has its answer (the error) now.
        if (r->error) {
            round.finished.push_back(r);
        } else {
            round.next.push_back(r);
        }
    }
}

int BlobCommitGroup::sync(const Round& round) {
    // fdatasync of every fresh file, fsync of every folder that holds a
    // placed one (and of the root when a shard folder is new).
    struct Job {
        fs::path path;
        bool folder;
    };
    std::vector<Job> jobs;
    for (Request* r : round.fresh)
        for (const PendingBlob& b : r->blobs) jobs.push_back({b.temp, false});
    for (const fs::path& dir : round.dirs) jobs.push_back({dir, true});
    if (round.newShard) jobs.push_back({root_, true});
    if (jobs.empty()) return 0;
    // A few files are cheaper to sync one by one than the whole file system,
    // which also writes out everyone else's dirty pages; many are not.
    if (method_ == BlobSyncMethod::Syncfs && jobs.size() > kFewSyncs) {
        if (::syncfs(rootFd_) == 0) return 0;
        int err = errno;
        if (err == ENOSPC || err == EDQUOT || err == EIO) return err;
        // Anything else (a kernel or sandbox without syncfs): sync file by file from now on.
        log::warn("blob_syncfs_unavailable", {{"errno", err}});
        method_ = BlobSyncMethod::PerFile;
    }
    // All at once: the kernel lets concurrent syncs share journal commits
    // and cache flushes, where one after the other each would wait for its own.
    struct Shared {
        std::vector<Job>* jobs;
        std::atomic<int> err{0};
    } shared{&jobs};
    runParallel(static_cast<uint32_t>(jobs.size()), kSyncThreads,
                [](void* user, uint32_t i) {
                    auto* s = static_cast<Shared*>(user);
                    const Job& job = (*s->jobs)[i];
                    int err = job.folder ? fsyncPath(job.path) : fdatasyncPath(job.path);
                    int none = 0;
                    if (err) s->err.compare_exchange_strong(none, err);
                },
                &shared);
    return shared.err.load();
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
