// Group commit of blobs: concurrent commits share their sync rounds, each
// caller still gets its own ref only once its blob is durable, a failed sync
// fails the whole round, and with fsync off nothing is synced at all.
//
// The sync calls are interposed for this test binary: they count, can be
// slowed (so that rounds surely overlap) and can fail on demand; otherwise
// they are the real system calls.
#include "store/fs/fs_blob_store.h"

#include "store/blob_batcher.h"

#include "common/error.h"
#include "common/sha256.h"
#include "support/daemon.h"

#include <catch2/catch.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <filesystem>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct SyncCalls {
    std::atomic<int> syncfs{0};
    std::atomic<int> fdatasync{0};
    std::atomic<int> fsync{0};
    // Non-zero: what the next calls of each kind answer (an errno).
    std::atomic<int> syncfsFails{0};
    std::atomic<int> fdatasyncFails{0};
    std::atomic<int> fsyncFails{0};
    // syncfs answers normally this many times before syncfsFails applies.
    std::atomic<int> syncfsFailAfter{0};
    std::atomic<int> delayMicros{0};

    void reset() {
        syncfs = fdatasync = fsync = 0;
        syncfsFails = fdatasyncFails = fsyncFails = syncfsFailAfter = delayMicros = 0;
    }
    int total() const { return syncfs + fdatasync + fsync; }
};

SyncCalls calls;

int answer(std::atomic<int>& counter, std::atomic<int>& fails, long realCall, int fd) {
    ++counter;
    if (int us = calls.delayMicros.load()) std::this_thread::sleep_for(std::chrono::microseconds(us));
    if (int err = fails.load()) {
        errno = err;
        return -1;
    }
    return static_cast<int>(::syscall(realCall, fd));
}

}  // namespace

extern "C" int syncfs(int fd) noexcept {
    if (calls.syncfsFailAfter.load() > 0) {
        --calls.syncfsFailAfter;
        std::atomic<int> none{0};
        return answer(calls.syncfs, none, SYS_syncfs, fd);
    }
    return answer(calls.syncfs, calls.syncfsFails, SYS_syncfs, fd);
}
extern "C" int fdatasync(int fd) { return answer(calls.fdatasync, calls.fdatasyncFails, SYS_fdatasync, fd); }
extern "C" int fsync(int fd) { return answer(calls.fsync, calls.fsyncFails, SYS_fsync, fd); }

namespace pixelmill {
namespace {

using test::bytesOf;
using test::filesUnder;
using test::readFile;
using test::TempDir;

struct ResetCalls {
    ResetCalls() { calls.reset(); }
    ~ResetCalls() { calls.reset(); }
};

class GroupFixture {
public:
    explicit GroupFixture(bool fsync, BlobSyncMethod method = BlobSyncMethod::Auto)
        : store_(dir_ / "blobs", dir_ / "tmp", fsync, true, method) {}
    FsBlobStore& store() { return store_; }
    size_t blobFiles() const { return filesUnder(dir_ / "blobs").size(); }
    bool tmpEmpty() const { return fs::is_empty(dir_ / "tmp"); }

private:
    TempDir dir_{"pixelmill-group"};
    FsBlobStore store_;
};

std::string content(int thread, int i) { return "blob " + std::to_string(thread) + "/" + std::to_string(i); }

const char* name(BlobSyncMethod m) { return m == BlobSyncMethod::Syncfs ? "syncfs" : "per file"; }

}  // namespace

TEST_CASE("blob group commit: many threads committing at once get their own blobs, in fewer sync rounds",
          "[store][blobs][group]") {
    auto method = GENERATE(BlobSyncMethod::Syncfs, BlobSyncMethod::PerFile);
    INFO(name(method));
    ResetCalls resetCalls;
    GroupFixture f(true, method);
    REQUIRE(f.store().syncMethod() == method);
    calls.delayMicros = 2000;  // a sync that takes a while, as on a real disk: later arrivals queue up

    constexpr int kThreads = 32, kEach = 10;
    std::barrier start(kThreads);
    std::atomic<int> wrong{0}, created{0};
    {
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&, t] {
                start.arrive_and_wait();
                for (int i = 0; i < kEach; ++i) {
                    std::string bytes = content(t, i);
                    BlobRef ref = f.store().put(bytesOf(bytes));
                    if (ref.sha256 != Sha256::hex(bytes) || ref.size != bytes.size()) ++wrong;
                    if (ref.created) ++created;
                    if (readFile(f.store().path(ref.sha256)) != bytes) ++wrong;
                }
            });
        for (auto& t : threads) t.join();
    }
    CHECK(wrong == 0);
    CHECK(created == kThreads * kEach);
    CHECK(f.blobFiles() == kThreads * kEach);
    CHECK(f.tmpEmpty());
    CHECK(f.store().syncedBlobs() == kThreads * kEach);
    UNSCOPED_INFO("rounds: " << f.store().syncRounds() << " for " << kThreads * kEach << " commits");
    CHECK(f.store().syncRounds() * 4 <= static_cast<uint64_t>(kThreads * kEach));
    if (method == BlobSyncMethod::Syncfs) {
        CHECK(calls.syncfs <= static_cast<int>(f.store().syncRounds()));  // at most one flush a round
        CHECK(calls.fdatasync < kThreads * kEach / 4);  // only rounds with a few files sync them one by one
    } else {
        CHECK(calls.syncfs == 0);
        CHECK(calls.fdatasync == kThreads * kEach);
    }
}

TEST_CASE("blob group commit: the same content from many threads at once is one blob, created once",
          "[store][blobs][group]") {
    auto method = GENERATE(BlobSyncMethod::Syncfs, BlobSyncMethod::PerFile, BlobSyncMethod::None);
    ResetCalls resetCalls;
    GroupFixture f(method != BlobSyncMethod::None, method);
    calls.delayMicros = 1000;
    constexpr int kThreads = 16;
    std::string shared(50'000, 's');
    std::barrier start(kThreads);
    std::atomic<int> created{0}, wrong{0};
    {
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&] {
                auto w = f.store().writer();
                w->write(shared.data(), shared.size());
                w->finish();
                start.arrive_and_wait();
                BlobRef ref = w->commit();
                if (ref.created) ++created;
                if (ref.sha256 != Sha256::hex(shared)) ++wrong;
            });
        for (auto& t : threads) t.join();
    }
    CHECK(wrong == 0);
    CHECK(created == 1);
    CHECK(f.blobFiles() == 1);
    CHECK(f.tmpEmpty());
    CHECK(f.store().totalBytes() == shared.size());
    CHECK(readFile(f.store().path(Sha256::hex(shared))) == shared);
}

TEST_CASE("blob group commit: commitAll makes several writers durable together, in two syncs", "[store][blobs][group]") {
    auto method = GENERATE(BlobSyncMethod::Syncfs, BlobSyncMethod::PerFile);
    INFO(name(method));
    ResetCalls resetCalls;
    GroupFixture f(true, method);
    std::vector<std::unique_ptr<BlobWriter>> writers;
    std::vector<std::string> pages;
    for (int i = 0; i < 50; ++i) {
        pages.push_back("page " + std::to_string(i % 40));  // the last ten repeat earlier pages
        writers.push_back(f.store().writer());
        writers.back()->write(pages.back().data(), pages.back().size());
    }
    std::vector<BlobRef> refs = f.store().commitAll(std::move(writers));
    REQUIRE(refs.size() == pages.size());
    for (size_t i = 0; i < pages.size(); ++i) {
        CHECK(refs[i].sha256 == Sha256::hex(pages[i]));
        CHECK(refs[i].created == (i < 40));
        CHECK(readFile(f.store().path(refs[i].sha256)) == pages[i]);
    }
    CHECK(f.store().syncRounds() == 2);  // the data of all 50, then the names of all 50
    CHECK(f.blobFiles() == 40);
    CHECK(f.tmpEmpty());
    if (method == BlobSyncMethod::Syncfs) CHECK(calls.total() == 2);
    else CHECK(calls.fdatasync == 50);  // and one fsync per shard folder, not three syncs per page
}

TEST_CASE("blob group commit: a failed data sync fails every caller of the round and places no blob",
          "[store][blobs][group]") {
    auto method = GENERATE(BlobSyncMethod::Syncfs, BlobSyncMethod::PerFile);
    auto err = GENERATE(EIO, ENOSPC);
    INFO(name(method) << ", errno " << err);
    ResetCalls resetCalls;
    GroupFixture f(true, method);
    calls.delayMicros = 1000;
    calls.syncfsFails = err;  // a round with few files syncs them one by one, even with Syncfs
    calls.fdatasyncFails = err;

    constexpr int kThreads = 8;
    std::barrier start(kThreads);
    std::atomic<int> failed{0}, diskFull{0};
    {
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&, t] {
                std::string bytes = content(t, 0);
                start.arrive_and_wait();
                try {
                    f.store().put(bytesOf(bytes));
                } catch (const ApiError& e) {
                    ++failed;
                    if (e.status() == 507) ++diskFull;
                }
            });
        for (auto& t : threads) t.join();
    }
    CHECK(failed == kThreads);
    CHECK(diskFull == (err == ENOSPC ? kThreads : 0));
    CHECK(f.blobFiles() == 0);  // nothing reached a final path
    CHECK(f.tmpEmpty());
    CHECK(f.store().totalBytes() == 0);

    // The trouble gone, the next commit succeeds.
    calls.reset();
    BlobRef ref = f.store().put(bytesOf(content(0, 0)));
    CHECK(ref.created);
    CHECK(f.store().exists(ref.sha256));
}

TEST_CASE("blob group commit: a failed sync of the renames fails the round's callers, the files are whole",
          "[store][blobs][group]") {
    auto method = GENERATE(BlobSyncMethod::Syncfs, BlobSyncMethod::PerFile);
    INFO(name(method));
    ResetCalls resetCalls;
    GroupFixture f(true, method);
    if (method == BlobSyncMethod::Syncfs) {
        calls.syncfsFailAfter = 1;  // the data sync passes, the one after the renames fails
        calls.syncfsFails = EIO;
        calls.fsyncFails = EIO;  // should that round hold few enough folders to sync them one by one
    } else {
        calls.fsyncFails = EIO;  // shard folders
    }
    std::vector<std::unique_ptr<BlobWriter>> writers;
    std::vector<std::string> contents;
    for (int i = 0; i < 5; ++i) {
        contents.push_back(std::string(10'000 + i, static_cast<char>('a' + i)));
        writers.push_back(f.store().writer());
        writers.back()->write(contents.back().data(), contents.back().size());
    }
    CHECK_THROWS_AS(f.store().commitAll(std::move(writers)), ApiError);
    CHECK(f.tmpEmpty());
    // Whatever reached its final path holds all of its bytes.
    for (const auto& c : contents)
        if (f.store().exists(Sha256::hex(c))) CHECK(readFile(f.store().path(Sha256::hex(c))) == c);
}

TEST_CASE("blob group commit: with fsync off nothing is synced", "[store][blobs][group]") {
    ResetCalls resetCalls;
    GroupFixture f(false);
    CHECK(f.store().syncMethod() == BlobSyncMethod::None);
    constexpr int kThreads = 8;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20; ++i) f.store().put(bytesOf(content(t, i)));
        });
    for (auto& t : threads) t.join();
    std::vector<std::unique_ptr<BlobWriter>> writers;
    writers.push_back(f.store().writer());
    writers.back()->write("x", 1);
    f.store().commitAll(std::move(writers));
    CHECK(calls.total() == 0);
    CHECK(f.store().syncRounds() == 0);
    CHECK(f.blobFiles() == kThreads * 20 + 1);
}

TEST_CASE("blob group commit: where syncfs is refused, blobs are synced file by file", "[store][blobs][group]") {
    ResetCalls resetCalls;
    GroupFixture f(true, BlobSyncMethod::Syncfs);
    calls.syncfsFails = ENOSYS;  // a sandbox or kernel without it
    std::vector<std::unique_ptr<BlobWriter>> writers;
    for (int i = 0; i < 10; ++i) {  // enough for a round to prefer syncfs
        writers.push_back(f.store().writer());
        std::string bytes = content(0, i);
        writers.back()->write(bytes.data(), bytes.size());
    }
    std::vector<BlobRef> refs = f.store().commitAll(std::move(writers));
    for (const BlobRef& ref : refs) CHECK(f.store().exists(ref.sha256));
    CHECK(calls.syncfs == 1);
    CHECK(f.store().syncMethod() == BlobSyncMethod::PerFile);
    CHECK(calls.fdatasync == 10);
    CHECK(calls.fsync >= 1);
}

TEST_CASE("blob batcher: a job's outputs are durable in a few rounds, each recorded only once durable",
          "[store][blobs][group]") {
    ResetCalls resetCalls;
    GroupFixture f(true);
    calls.delayMicros = 2000;  // while a batch syncs, the next pages arrive
    constexpr int kPages = 50;
    std::atomic<int> recorded{0}, early{0};
    {
        BlobBatcher batcher(f.store());
        for (int i = 0; i < kPages; ++i) {
            auto w = f.store().writer();
            std::string page = "page " + std::to_string(i);
            w->write(page.data(), page.size());
            w->finish();
            REQUIRE(batcher.add(std::move(w), [&, page](const BlobRef& ref) {
                if (ref.sha256 != Sha256::hex(page) || readFile(f.store().path(ref.sha256)) != page) ++early;
                ++recorded;
                return true;
            }));
            std::this_thread::sleep_for(std::chrono::microseconds(200));  // the plugin renders the next page
        }
        CHECK(batcher.finish(true).empty());
    }
    CHECK(recorded == kPages);
    CHECK(early == 0);
    CHECK(f.tmpEmpty());
    UNSCOPED_INFO("rounds: " << f.store().syncRounds() << " for " << kPages << " pages");
    CHECK(f.store().syncRounds() <= 20);  // one at a time it would be 100
}

TEST_CASE("blob batcher: a failed batch records nothing of it and refuses more", "[store][blobs][group]") {
    ResetCalls resetCalls;
    GroupFixture f(true);
    calls.syncfsFails = ENOSPC;
    calls.fdatasyncFails = ENOSPC;
    std::atomic<int> recorded{0};
    BlobBatcher batcher(f.store());
    for (int i = 0; i < 3; ++i) {
        auto w = f.store().writer();
        w->write("x", 1);
        batcher.add(std::move(w), [&](const BlobRef&) {
            ++recorded;
            return true;
        });
    }
    CHECK(batcher.finish(true) == "the disk is full");
    CHECK(recorded == 0);
    CHECK(f.blobFiles() == 0);
    CHECK(f.tmpEmpty());
    CHECK_FALSE(batcher.add(f.store().writer(), [](const BlobRef&) { return true; }));
}

}  // namespace pixelmill
