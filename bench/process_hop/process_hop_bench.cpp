// What running a plugin in a worker process costs, per job: the same jobs
// run through the daemon's two executors, one after the other in one run —
// in this process (--isolation none) and in supervised `pixelmill worker`
// processes (--isolation process, the default) — first one job at a time
// (the difference is the hop: Run, Output, Ack and Done over the socket, and
// the worker's side of them), then with one caller per core (what a daemon's
// worker threads do). Outputs are made durable on both sides, as the daemon
// does; every input is distinct, so no output is a duplicate of another.
//
//   pixelmill-process-hop-bench --pixelmill build/bin/pixelmill --plugin-dir DIR
//       --plugin thumbnail --param size=16 [--jobs 2000] [--callers 2] [--fsync true]
#include "plugins/image_library.h"
#include "plugins/in_process_executor.h"
#include "plugins/plugin_host.h"
#include "store/fs/fs_blob_store.h"
#include "worker/process_executor.h"

#include <vips/vips8>

#include <atomic>
#include <condition_variable>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace pixelmill;

namespace {

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// What the scheduler's control does for an attempt, minus the store: outputs
// made in this process are stored (durably) here; those a worker stored are accepted.
class BenchControl final : public JobControl {
public:
    explicit BenchControl(BlobStore& blobs) : blobs_(blobs) {}
    bool shouldStop() const override { return false; }
    bool addOutput(uint32_t, const std::string&, const std::string&, std::span<const unsigned char> bytes, int32_t,
                   int32_t) override {
        blobs_.put(bytes);
        return true;
    }
    bool addStoredOutput(uint32_t, const std::string&, const std::string&, const std::string&, uint64_t, int32_t,
                         int32_t) override {
        return true;
    }
    void progress(uint32_t, uint32_t) override {}
    void log(int, const std::string&) override {}
    void parallelFor(uint32_t count, void (*fn)(void*, uint32_t), void* user) override {
        for (uint32_t i = 0; i < count; ++i) fn(user, i);
    }

private:
    BlobStore& blobs_;
};

struct Args {
    std::string pixelmill, pluginDir, plugin = "thumbnail", version;
    std::vector<std::pair<std::string, std::string>> params;
    int jobs = 2000;
    int callers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    bool fsync = true;
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--pixelmill") a.pixelmill = v;
        else if (k == "--plugin-dir") a.pluginDir = v;
        else if (k == "--plugin") a.plugin = v;
        else if (k == "--param") a.params.emplace_back(v.substr(0, v.find('=')), v.substr(v.find('=') + 1));
        else if (k == "--jobs") a.jobs = std::atoi(v.c_str());
        else if (k == "--callers") a.callers = std::atoi(v.c_str());
        else if (k == "--fsync") a.fsync = v == "true";
        else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            std::exit(2);
        }
    }
    if (a.pixelmill.empty() || a.pluginDir.empty() || a.jobs < 1 || a.callers < 1) {
        std::fprintf(stderr, "usage: %s --pixelmill BIN --plugin-dir DIR [--plugin P] [--param k=v]… [--jobs N] "
                             "[--callers N] [--fsync true|false]\n", argv[0]);
        std::exit(2);
    }
    return a;
}

// `count` distinct 64x64 PNGs (each its own colour), as the tiny-jobs load submits.
std::vector<std::string> makeInputs(const fs::path& dir, int count) {
    fs::create_directories(dir);
    std::vector<std::string> paths;
    vips::VImage base = vips::VImage::black(64, 64, vips::VImage::option()->set("bands", 3));
    for (int i = 0; i < count; ++i) {
        vips::VImage image = base.linear({1, 1, 1}, {double(i % 256), double(i / 256 % 256), 0}).cast(VIPS_FORMAT_UCHAR);
        std::string path = (dir / ("in-" + std::to_string(i) + ".png")).string();
        image.write_to_file(path.c_str());
        paths.push_back(path);
    }
    return paths;
}

// Long-lived caller threads, as a daemon's worker threads are: a worker
// process dies with the thread that started it (PR_SET_PDEATHSIG follows the
// parent thread), so callers must outlive the passes.
class Callers {
public:
    explicit Callers(int count) {
        for (int i = 0; i < count; ++i) threads_.emplace_back([this, i] { loop(i); });
    }
    ~Callers() {
        {
            std::lock_guard lock(mutex_);
            quit_ = true;
        }
        changed_.notify_all();
        for (auto& t : threads_) t.join();
    }
    // Runs task on the first `active` callers at once; returns when all are done.
    void run(int active, const std::function<void()>& task) {
        std::unique_lock lock(mutex_);
        task_ = task;
        active_ = active;
        running_ = active;
        ++generation_;
        changed_.notify_all();
        changed_.wait(lock, [&] { return running_ == 0; });
    }

private:
    void loop(int index) {
        uint64_t seen = 0;
        std::unique_lock lock(mutex_);
        for (;;) {
            changed_.wait(lock, [&] { return quit_ || generation_ != seen; });
            if (quit_) return;
            seen = generation_;
            if (index >= active_) continue;
            auto task = task_;
            lock.unlock();
            task();
            lock.lock();
            if (--running_ == 0) changed_.notify_all();
        }
    }

    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::function<void()> task_;
    int active_ = 0, running_ = 0;
    uint64_t generation_ = 0;
    bool quit_ = false;
};

// Runs one job per input through `executor` from `active` callers; seconds.
double runAll(Callers& callers, int active, Executor& executor, BlobStore& blobs, const Args& args,
              const std::vector<std::string>& inputs, std::atomic<int>& failures) {
    std::atomic<size_t> next{0};
    double start = now();
    callers.run(active, [&] {
        BenchControl control(blobs);
        for (size_t i; (i = next++) < inputs.size();) {
            ExecRequest request{"bench-" + std::to_string(i), args.plugin, args.version, args.params, inputs[i],
                                "image/png"};
            ExecResult result = executor.execute(request, control);
            if (result.status != ExecResult::Status::Ok && failures++ == 0)
                std::fprintf(stderr, "%s failed: %s\n", request.jobId.c_str(), result.message.c_str());
        }
    });
    return now() - start;
}

}  // namespace

int main(int argc, char** argv) {
    Args args = parse(argc, argv);
    // As `serve --isolation none` does: this process runs plugin calls from several threads.
    initImageLibrary("pixelmill-process-hop-bench", 1, /*jobsAtOnce=*/true);
    fs::path work = fs::temp_directory_path() / ("pixelmill-hop-" + std::to_string(::getpid()));
    fs::create_directories(work / "blobs");
    fs::create_directories(work / "tmp");
    // Each measured pass gets inputs of its own: a repeated input would make a duplicate output.
    int passes = 4;
    std::vector<std::string> all = makeInputs(work / "in", args.jobs * passes);
    auto slice = [&](int pass) {
        return std::vector<std::string>(all.begin() + pass * args.jobs, all.begin() + (pass + 1) * args.jobs);
    };

    PluginHost host(args.pluginDir, PluginLimits{});
    host.scan();
    auto plugin = host.find(args.plugin);
    if (!plugin) {
        std::fprintf(stderr, "no plugin %s in %s\n", args.plugin.c_str(), args.pluginDir.c_str());
        return 2;
    }
    args.version = plugin->version;
    FsBlobStore blobs(work / "blobs", work / "tmp", args.fsync);
    InProcessExecutor inProcess(host);
    worker::ProcessExecutorOptions options;
    options.binary = args.pixelmill;
    options.args = {"--plugin-dir", args.pluginDir, "--blob-dir", (work / "blobs").string(), "--tmp-dir",
                    (work / "tmp").string(), "--fsync", args.fsync ? "true" : "false", "--log-level", "warn"};
    worker::ProcessExecutor isolated(options, blobs);

    std::atomic<int> failures{0};
    Callers callers(args.callers);
    // Warm both: libraries loaded, workers started, caches filled.
    std::vector<std::string> warm(all.begin(), all.begin() + std::min<size_t>(all.size(), 50));
    runAll(callers, args.callers, inProcess, blobs, args, warm, failures);
    runAll(callers, args.callers, isolated, blobs, args, warm, failures);

    std::printf("%s, %d jobs a pass, fsync %s\n", args.plugin.c_str(), args.jobs, args.fsync ? "on" : "off");
    double inOne = runAll(callers, 1, inProcess, blobs, args, slice(0), failures);
    double outOne = runAll(callers, 1, isolated, blobs, args, slice(1), failures);
    double inMany = runAll(callers, args.callers, inProcess, blobs, args, slice(2), failures);
    double outMany = runAll(callers, args.callers, isolated, blobs, args, slice(3), failures);
    double n = args.jobs;
    std::printf("  one caller:   in process %7.1f us/job   worker process %7.1f us/job   hop %+7.1f us/job\n",
                inOne / n * 1e6, outOne / n * 1e6, (outOne - inOne) / n * 1e6);
    std::printf("  %d callers:    in process %7.0f jobs/s   worker processes %7.0f jobs/s   ratio %.2f\n",
                args.callers, n / inMany, n / outMany, inMany / outMany);
    std::printf("  workers started %llu, failures %d\n", static_cast<unsigned long long>(isolated.started()),
                failures.load());
    std::error_code ec;
    fs::remove_all(work, ec);
    return failures.load() == 0 ? 0 : 1;
}
