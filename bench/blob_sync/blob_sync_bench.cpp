// How fast durable blob commits are under many concurrent committers, by
// sync method: the old way (fdatasync + rename + fsync of the folder per
// blob), group commit with syncfs, group commit file by file. Optionally with
// an SQLite database committing (synchronous=FULL) on the same file system
// meanwhile, as the job store does while uploads come in.
//
//   pixelmill-blob-sync-bench DIR [threads=32] [seconds=5] [sqlite=0|1] [blob_bytes=200]
#include "store/fs/fs_blob_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace pixelmill;
using Clock = std::chrono::steady_clock;

namespace {

// What every commit cost before group commit, for comparison.
void oldCommit(const fs::path& root, const fs::path& tmp, const std::string& bytes, const std::string& name) {
    fs::path temp = tmp / name;
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    (void)!::write(fd, bytes.data(), bytes.size());
    ::fdatasync(fd);
    ::close(fd);
    fs::path dir = root / name.substr(0, 2);
    fs::create_directories(dir);
    ::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, (dir / name).c_str(), RENAME_NOREPLACE);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ::fsync(dfd);
    ::close(dfd);
}

struct Result {
    double commitsPerSecond = 0, p50 = 0, p99 = 0, blobsPerRound = 0;
    uint64_t sqliteCommits = 0;
};

Result run(const fs::path& dir, const char* method, int threads, double seconds, bool sqlite, size_t blobBytes) {
    fs::remove_all(dir);
    fs::create_directories(dir / "tmp");
    std::unique_ptr<FsBlobStore> store;
    std::string m = method;
    if (m != "old")
        store = std::make_unique<FsBlobStore>(dir / "blobs", dir / "tmp", true, true,
                                              m == "syncfs" ? BlobSyncMethod::Syncfs : BlobSyncMethod::PerFile);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> sqliteCommits{0};
    std::thread db;
    if (sqlite) {
        db = std::thread([&] {
            sqlite3* h = nullptr;
            sqlite3_open((dir / "jobs.db").c_str(), &h);
            sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                            "CREATE TABLE jobs(id INTEGER PRIMARY KEY, body TEXT);",
                         nullptr, nullptr, nullptr);
            std::string body(300, 'j');
            while (!stop) {
                std::string sql = "INSERT INTO jobs(body) VALUES('" + body + "')";
                sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr);
                ++sqliteCommits;
            }
            sqlite3_close(h);
        });
    }
    std::mutex mutex;
    std::vector<double> latencies;
    std::vector<std::thread> workers;
    auto until = Clock::now() + std::chrono::duration<double>(seconds);
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            std::vector<double> mine;
            for (uint64_t i = 0; Clock::now() < until; ++i) {
                std::string bytes = std::to_string(t) + "/" + std::to_string(i) + std::string(blobBytes, 'x');
                auto started = Clock::now();
                if (store) store->put({reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()});
                else {
                    char name[64];
                    std::snprintf(name, sizeof name, "%02x%06d%010llu", t & 0xff, t, static_cast<unsigned long long>(i));
                    oldCommit(dir / "blobs", dir / "tmp", bytes, name);
                }
                mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
            }
            std::lock_guard lock(mutex);
            latencies.insert(latencies.end(), mine.begin(), mine.end());
        });
    auto started = Clock::now();
    for (auto& w : workers) w.join();
    double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    stop = true;
    if (db.joinable()) db.join();
    std::sort(latencies.begin(), latencies.end());
    Result r;
    r.commitsPerSecond = static_cast<double>(latencies.size()) / elapsed;
    if (!latencies.empty()) {
        r.p50 = latencies[latencies.size() / 2];
        r.p99 = latencies[latencies.size() * 99 / 100];
    }
    if (store && store->syncRounds() > 0)
        r.blobsPerRound = static_cast<double>(store->syncedBlobs()) / static_cast<double>(store->syncRounds());
    r.sqliteCommits = static_cast<uint64_t>(static_cast<double>(sqliteCommits.load()) / elapsed);
    store.reset();
    fs::remove_all(dir);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DIR [threads] [seconds] [sqlite 0|1] [blob_bytes]\n", argv[0]);
        return 2;
    }
    fs::path dir = argv[1];
    int threads = argc > 2 ? std::atoi(argv[2]) : 32;
    double seconds = argc > 3 ? std::atof(argv[3]) : 5;
    bool sqlite = argc > 4 && std::atoi(argv[4]) != 0;
    size_t blobBytes = argc > 5 ? static_cast<size_t>(std::atol(argv[5])) : 200;
    std::printf("%-8s %8s %10s %10s %12s %14s\n", "method", "commit/s", "p50 ms", "p99 ms", "blobs/round",
                "sqlite commit/s");
    for (const char* method : {"old", "syncfs", "perfile"}) {
        Result r = run(dir / method, method, threads, seconds, sqlite, blobBytes);
        std::printf("%-8s %8.0f %10.2f %10.2f %12.1f %14llu\n", method, r.commitsPerSecond, r.p50, r.p99,
                    r.blobsPerRound, static_cast<unsigned long long>(r.sqliteCommits));
        std::fflush(stdout);
    }
    return 0;
}
