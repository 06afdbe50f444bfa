// FsBlobStore: content-addressed files, streamed writers that leave nothing
// behind unless committed, and the start-up sweep of temp files.
#include "store/fs/fs_blob_store.h"

#include "common/clock.h"
#include "common/sha256.h"
#include "support/daemon.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {
// What renameat2 answers in this test binary while non-zero: the errno of a
// file system without RENAME_NOREPLACE (NFS, 9p, FUSE: EINVAL; old kernels:
// ENOSYS). Zero: the real system call.
std::atomic<int> renameat2Fails{0};
}  // namespace

// Interposes glibc's renameat2 for everything linked into this binary.
extern "C" int renameat2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                         unsigned int flags) noexcept {
    if (int err = renameat2Fails.load()) {
        errno = err;
        return -1;
    }
    return static_cast<int>(::syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags));
}

namespace pixelmill {
namespace {

using test::bytesOf;
using test::filesUnder;
using test::readFile;
using test::TempDir;
using test::writeFile;

constexpr const char* kAbcSha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string randomBytes(size_t size, unsigned seed) {
    std::mt19937 rng(seed);
    std::string out(size, '\0');
    for (char& c : out) c = static_cast<char>(rng() & 0xff);
    return out;
}

class BlobFixture {
public:
    BlobFixture() : store_(std::make_unique<FsBlobStore>(root(), tmp(), false)) {}

    fs::path root() const { return dir_ / "blobs"; }
    fs::path tmp() const { return dir_ / "tmp"; }
    FsBlobStore& store() { return *store_; }
    void reopen() {
        store_.reset();
        store_ = std::make_unique<FsBlobStore>(root(), tmp(), false);
    }
    size_t blobFiles() const { return filesUnder(root()).size(); }
    bool tmpEmpty() const { return fs::is_empty(tmp()); }

private:
    TempDir dir_{"pixelmill-blobs"};
    std::unique_ptr<FsBlobStore> store_;
};

}  // namespace

TEST_CASE("blob store: put stores the bytes under their SHA-256", "[store][blobs]") {
    BlobFixture f;
    BlobRef ref = f.store().put(bytesOf("abc"));
    CHECK(ref.sha256 == kAbcSha256);
    CHECK(ref.size == 3);
    CHECK(f.store().exists(kAbcSha256));
    CHECK(readFile(f.store().path(kAbcSha256)) == "abc");
    CHECK(f.store().totalBytes() == 3);
    // Sharded by the first two hex digits: <root>/ba/7816bf…
    CHECK(fs::path(f.store().path(kAbcSha256)) == f.root() / "ba" / std::string(kAbcSha256).substr(2));
    CHECK(f.tmpEmpty());

    BlobRef empty = f.store().put({});
    CHECK(empty.sha256 == kEmptySha256);
    CHECK(empty.size == 0);
    CHECK(f.store().exists(kEmptySha256));
    CHECK(readFile(f.store().path(kEmptySha256)).empty());

    CHECK_FALSE(f.store().exists(Sha256::hex("never stored")));
    CHECK_THROWS_AS(f.store().path("../../etc/passwd"), std::invalid_argument);
    CHECK_THROWS_AS(f.store().path(std::string(kAbcSha256).substr(1)), std::invalid_argument);
}

TEST_CASE("blob store: the same content twice is one file, counted once", "[store][blobs]") {
    BlobFixture f;
    std::string content = randomBytes(10'000, 1);
    BlobRef a = f.store().put(bytesOf(content));
    BlobRef b = f.store().put(bytesOf(content));
    auto w = f.store().writer();
    w->write(content.data(), content.size());
    BlobRef c = w->commit();

    CHECK(a.sha256 == Sha256::hex(content));
    CHECK(b.sha256 == a.sha256);
    CHECK(c.sha256 == a.sha256);
    CHECK(b.size == content.size());
    CHECK(f.blobFiles() == 1);
    CHECK(f.store().totalBytes() == content.size());
    CHECK(f.tmpEmpty());

    f.store().put(bytesOf("abc"));
    CHECK(f.blobFiles() == 2);
    CHECK(f.store().totalBytes() == content.size() + 3);
}

TEST_CASE("blob store: the same content put from many threads at once is counted once", "[store][blobs]") {
    BlobFixture f;
    constexpr int kThreads = 8;
    constexpr int kRounds = 150;
    std::vector<std::string> contents;
    uint64_t expected = 0;
    for (int r = 0; r < kRounds; ++r) {
        contents.push_back("round " + std::to_string(r) + " " + randomBytes(512 + r, 100 + r));
        expected += contents.back().size();
    }
    std::barrier start(kThreads);
    std::atomic<int> wrong{0};
    {
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&] {
                for (int r = 0; r < kRounds; ++r) {
                    start.arrive_and_wait();  // all threads store round r together
                    BlobRef ref = f.store().put(bytesOf(contents[r]));
                    if (ref.sha256 != Sha256::hex(contents[r])) ++wrong;
                }
            });
        }
        for (auto& t : threads) t.join();
    }
    CHECK(wrong == 0);
    CHECK(f.blobFiles() == kRounds);
    CHECK(f.tmpEmpty());
    CHECK(f.store().totalBytes() == expected);
    f.reopen();  // what a fresh count from the disk says
    CHECK(f.store().totalBytes() == expected);
}

TEST_CASE("blob store: a writer streams chunks and hashes them as one", "[store][blobs]") {
    BlobFixture f;
    std::string content = randomBytes(100'000, 2);
    auto w = f.store().writer();
    size_t at = 0;
    size_t chunk = 1;
    while (at < content.size()) {
        size_t n = std::min(chunk, content.size() - at);
        w->write(content.data() + at, n);
        at += n;
        chunk = chunk * 3 + 1;  // 1, 4, 13, 40, … crossing the head's 4096 in the middle of a chunk
        CHECK(w->size() == at);
    }
    BlobRef ref = w->commit();
    CHECK(ref.sha256 == Sha256::hex(content));
    CHECK(ref.size == content.size());
    CHECK(readFile(f.store().path(ref.sha256)) == content);
    CHECK(f.store().totalBytes() == content.size());
    CHECK(f.tmpEmpty());
}

TEST_CASE("blob store: head() holds the first 4096 bytes", "[store][blobs]") {
    BlobFixture f;
    SECTION("long content, written in chunks across the boundary") {
        std::string content = randomBytes(10'000, 3);
        auto w = f.store().writer();
        w->write(content.data(), 1000);
        CHECK(w->head() == content.substr(0, 1000));
        w->write(content.data() + 1000, 5000);
        w->write(content.data() + 6000, 4000);
        CHECK(w->head().size() == BlobWriter::kHeadSize);
        CHECK(w->head() == content.substr(0, 4096));
    }
    SECTION("short content") {
        auto w = f.store().writer();
        w->write("%PDF-1.7\n", 9);
        CHECK(w->head() == "%PDF-1.7\n");
    }
    SECTION("nothing written") {
        auto w = f.store().writer();
        CHECK(w->head().empty());
        CHECK(w->size() == 0);
    }
}

TEST_CASE("blob store: after finish() the temp file can be read, and commit() moves it", "[store][blobs]") {
    BlobFixture f;
    std::string content = randomBytes(5'000, 4);
    auto w = f.store().writer();
    w->write(content.data(), content.size());
    BlobRef finished = w->finish();
    CHECK(finished.sha256 == Sha256::hex(content));
    CHECK(finished.size == content.size());
    CHECK(readFile(w->tempPath()) == content);
    CHECK_FALSE(f.store().exists(finished.sha256));  // not a blob yet
    CHECK(f.store().totalBytes() == 0);

    BlobRef committed = w->commit();
    CHECK(committed.sha256 == finished.sha256);
    CHECK(f.store().exists(committed.sha256));
    CHECK(readFile(f.store().path(committed.sha256)) == content);
    CHECK_FALSE(fs::exists(w->tempPath()));
    CHECK(f.store().totalBytes() == content.size());

    w.reset();  // a committed blob survives its writer
    CHECK(f.store().exists(committed.sha256));
    CHECK(f.tmpEmpty());
}

TEST_CASE("blob store: a writer destroyed without commit leaves nothing behind", "[store][blobs]") {
    BlobFixture f;
    std::string content = randomBytes(20'000, 5);
    std::string sha = Sha256::hex(content);
    SECTION("while still open") {
        auto w = f.store().writer();
        w->write(content.data(), content.size());
        CHECK_FALSE(f.tmpEmpty());
    }
    SECTION("after finish()") {
        auto w = f.store().writer();
        w->write(content.data(), content.size());
        w->finish();
        CHECK(fs::exists(w->tempPath()));
    }
    SECTION("with nothing written") {
        auto w = f.store().writer();
    }
    CHECK(f.tmpEmpty());
    CHECK_FALSE(f.store().exists(sha));
    CHECK(f.blobFiles() == 0);
    CHECK(f.store().totalBytes() == 0);
}

TEST_CASE("blob store: abort() drops the temp file and ends the writer", "[store][blobs]") {
    BlobFixture f;
    auto w = f.store().writer();
    w->write("partial upload", 14);
    std::string temp = w->tempPath();
    REQUIRE(fs::exists(temp));
    w->abort();
    CHECK_FALSE(fs::exists(temp));
    CHECK(f.tmpEmpty());
    CHECK_THROWS(w->write("more", 4));
    w->abort();  // twice is harmless
    w.reset();
    CHECK(f.blobFiles() == 0);
    CHECK(f.store().totalBytes() == 0);
}

TEST_CASE("blob store: temp files left by a crash are removed at start, blobs are counted", "[store][blobs]") {
    BlobFixture f;
    std::string content = randomBytes(3'000, 6);
    BlobRef kept = f.store().put(bytesOf(content));
    f.store().put(bytesOf("abc"));

    // A crash mid-upload leaves temp files (and perhaps a folder) behind.
    writeFile(f.tmp() / "blob-left-over", "half an upload");
    fs::create_directories(f.tmp() / "stray" / "deeper");
    writeFile(f.tmp() / "stray" / "deeper" / "x", "y");
    f.reopen();
    CHECK(f.tmpEmpty());
    CHECK(f.store().exists(kept.sha256));
    CHECK(readFile(f.store().path(kept.sha256)) == content);
    CHECK(f.store().totalBytes() == content.size() + 3);
}

TEST_CASE("blob store: remove() deletes the blob and its bytes from the total", "[store][blobs]") {
    BlobFixture f;
    BlobRef a = f.store().put(bytesOf("abc"));
    BlobRef b = f.store().put(bytesOf("defgh"));
    REQUIRE(f.store().totalBytes() == 8);

    f.store().remove(a.sha256);
    CHECK_FALSE(f.store().exists(a.sha256));
    CHECK_FALSE(fs::exists(f.store().path(a.sha256)));
    CHECK(f.store().exists(b.sha256));
    CHECK(f.store().totalBytes() == 5);

    REQUIRE_NOTHROW(f.store().remove(a.sha256));  // already gone
    REQUIRE_NOTHROW(f.store().remove(Sha256::hex("never")));
    CHECK(f.store().totalBytes() == 5);

    // Stored again after removal: a fresh file, counted again.
    f.store().put(bytesOf("abc"));
    CHECK(f.store().exists(a.sha256));
    CHECK(f.store().totalBytes() == 8);
}

TEST_CASE("blob store: listOlderThan finds blobs by their last write", "[store][blobs]") {
    BlobFixture f;
    BlobRef old = f.store().put(bytesOf("old blob"));
    BlobRef fresh = f.store().put(bytesOf("fresh blob"));
    fs::last_write_time(f.store().path(old.sha256), fs::file_time_type::clock::now() - std::chrono::hours(2));
    // Something that is not a blob must not be reported as one.
    writeFile(f.root() / "README", "not a blob");

    int64_t now = nowMs();
    auto older = f.store().listOlderThan(now - 3'600'000);
    CHECK(older == std::vector<std::string>{old.sha256});

    auto all = f.store().listOlderThan(now + 60'000);
    std::sort(all.begin(), all.end());
    std::vector<std::string> expected{old.sha256, fresh.sha256};
    std::sort(expected.begin(), expected.end());
    CHECK(all == expected);

    CHECK(f.store().listOlderThan(now - 3 * 3'600'000).empty());

    // Storing the same content again refreshes its age, so a sweep spares it.
    f.store().put(bytesOf("old blob"));
    CHECK(f.store().listOlderThan(now - 3'600'000).empty());
}

}  // namespace pixelmill

namespace pixelmill {

TEST_CASE("blob store: without RENAME_NOREPLACE (NFS, 9p, FUSE, old kernels) blobs are linked into place",
          "[store][blobs]") {
    for (int err : {EINVAL, ENOSYS}) {
        BlobFixture f;
        renameat2Fails = err;
        struct Restore {
            ~Restore() { renameat2Fails = 0; }
        } restore;
        std::string content = randomBytes(20'000, 7 + static_cast<unsigned>(err));
        BlobRef a = f.store().put(bytesOf(content));
        CHECK(a.created);
        CHECK(a.sha256 == Sha256::hex(content));
        CHECK(f.store().exists(a.sha256));
        CHECK(readFile(f.store().path(a.sha256)) == content);
        CHECK(f.tmpEmpty());
        CHECK(f.store().totalBytes() == content.size());

        // The same content again: one file, counted once.
        BlobRef b = f.store().put(bytesOf(content));
        CHECK_FALSE(b.created);
        CHECK(f.blobFiles() == 1);
        CHECK(f.store().totalBytes() == content.size());

        // Many threads committing the same new content at once: one wins, the others find it stored.
        constexpr int kThreads = 8;
        std::string shared = randomBytes(4'000, 99);
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
                    try {
                        BlobRef ref = w->commit();
                        if (ref.created) ++created;
                        if (ref.sha256 != Sha256::hex(shared)) ++wrong;
                    } catch (const std::exception&) {
                        ++wrong;
                    }
                });
            for (auto& t : threads) t.join();
        }
        CHECK(wrong == 0);
        CHECK(created <= 1);
        CHECK(readFile(f.store().path(Sha256::hex(shared))) == shared);
        CHECK(f.blobFiles() == 2);
        CHECK(f.tmpEmpty());
        CHECK(f.store().totalBytes() == content.size() + shared.size());
    }
}

}  // namespace pixelmill
