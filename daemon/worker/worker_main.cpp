#include "worker/worker_main.h"

#include "plugins/image_library.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/parallel.h"
#include "plugins/in_process_executor.h"
#include "store/blob_batcher.h"
#include "store/fs/fs_blob_store.h"
#include "worker/channel.h"

#include <malloc.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <future>
#include <map>
#include <new>
#include <thread>

namespace pixelmill::worker {

using json = nlohmann::json;

namespace {

const char* statusName(ExecResult::Status s) {
    switch (s) {
        case ExecResult::Status::Ok: return "ok";
        case ExecResult::Status::InvalidParam: return "invalid_param";
        case ExecResult::Status::Unprocessable: return "unprocessable";
        case ExecResult::Status::Unsupported: return "unsupported";
        case ExecResult::Status::Canceled: return "canceled";
        case ExecResult::Status::Transient: return "transient";
        case ExecResult::Status::Internal: return "internal";
        case ExecResult::Status::Crashed: return "crashed";
        case ExecResult::Status::Unavailable: return "unavailable";
    }
    return "internal";
}

void outOfMemory() {
    static const char msg[] = "event=worker_out_of_memory level=error message=\"the plugin ran out of its memory limit\"\n";
    (void)!::write(2, msg, sizeof msg - 1);
    std::abort();
}

// The daemon's side of a job, as seen from inside the worker. Outputs are
// written to temp files as the plugin hands them over and made durable in
// batches (BlobBatcher); only a durable one is announced over the channel,
// so the daemon never records an output whose bytes a power cut could take.
class ChildControl final : public JobControl {
public:
    ChildControl(Channel& channel, FsBlobStore& blobs, unsigned threads)
        : channel_(channel), blobs_(blobs), threads_(threads), outputs_(blobs) {}

    bool shouldStop() const override { return stop_.load(); }
    void requestStop() { stop_ = true; }

    bool addOutput(uint32_t index, const std::string& name, const std::string& mediaType,
                   std::span<const unsigned char> bytes, int32_t width, int32_t height) override {
        std::unique_ptr<BlobWriter> writer;
        try {
            writer = blobs_.writer();
            writer->write(bytes.data(), bytes.size());
            writer->finish();
        } catch (const std::exception& e) {
            log(3, std::string("output not stored: ") + e.what());
            return false;
        }
        return outputs_.add(std::move(writer), [this, index, name, mediaType, width, height](const BlobRef& blob) {
            return announce(index, name, mediaType, blob, width, height);
        });
    }

    // Waits until the outputs are durable and recorded (or, when the job did
    // not succeed, drops those not committed yet). A success whose outputs
    // could not all be kept is a transient failure, as when add_output
    // answers nonzero.
    ExecResult publish(ExecResult result) {
        bool ok = result.status == ExecResult::Status::Ok;
        std::string error = outputs_.finish(ok);
        if (!ok || error.empty()) return result;
        log(3, "outputs not stored: " + error);
        return {ExecResult::Status::Transient, "outputs not stored: " + error, result.seconds};
    }

    bool addStoredOutput(uint32_t, const std::string&, const std::string&, const std::string&, uint64_t, int32_t,
                         int32_t) override {
        return false;
    }

    void acknowledge(uint64_t seq, bool ok) {
        std::lock_guard lock(mutex_);
        auto it = acks_.find(seq);
        if (it == acks_.end()) return;
        it->second.set_value(ok);
        acks_.erase(it);
    }

    void progress(uint32_t done, uint32_t total) override {
        channel_.send({{"type", "progress"}, {"done", done}, {"total", total}});
    }
    void log(int level, const std::string& message) override {
        channel_.send({{"type", "log"}, {"level", level}, {"message", message}});
    }
    void parallelFor(uint32_t count, void (*fn)(void*, uint32_t), void* user) override {
        runParallel(count, threads_, fn, user);
    }

private:
    // Tells the daemon of a durable output and waits for it to be recorded.
    bool announce(uint32_t index, const std::string& name, const std::string& mediaType, const BlobRef& blob,
                  int32_t width, int32_t height) {
        uint64_t seq = next_++;
        std::future<bool> answer;
        {
            std::lock_guard lock(mutex_);
            answer = acks_[seq].get_future();
        }
        channel_.send({{"type", "output"}, {"seq", seq}, {"index", index}, {"name", name}, {"media_type", mediaType},
                       {"sha256", blob.sha256}, {"size", blob.size}, {"created", blob.created},
                       {"width", width}, {"height", height}});
        if (answer.wait_for(std::chrono::seconds(60)) != std::future_status::ready) return false;
        return answer.get();
    }

    Channel& channel_;
    FsBlobStore& blobs_;
    unsigned threads_;
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> next_{1};
    std::mutex mutex_;  // guards acks_
    std::map<uint64_t, std::promise<bool>> acks_;
    BlobBatcher outputs_;  // last: its thread calls announce() until it is gone
};

void limitCpu(double seconds) {
    if (seconds <= 0) return;
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    double used = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec);
    rlimit limit{};
    ::getrlimit(RLIMIT_CPU, &limit);
    limit.rlim_cur = static_cast<rlim_t>(used + seconds + 1);
    ::setrlimit(RLIMIT_CPU, &limit);
}

}  // namespace

int runWorker(const WorkerOptions& options) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the daemon
    std::signal(SIGPIPE, SIG_IGN);
    log::init(options.logLevel == "debug" ? log::Level::Debug : log::Level::Warn);
    if (options.memoryLimitBytes > 0) {
        rlimit limit{options.memoryLimitBytes, options.memoryLimitBytes};
        ::setrlimit(RLIMIT_AS, &limit);
    }
    std::set_new_handler(outOfMemory);
    initImageLibrary("pixelmill-worker", 1);

    PluginHost host(options.pluginDir, options.limits);
    // Only what the daemon accepted: a library it refused may crash whoever loads it.
    if (!options.pluginList.empty()) host.setLibraryList(options.pluginList);
    host.scan();
    FsBlobStore blobs(options.blobDir, options.tmpDir, options.fsync, /*owner=*/false);
    InProcessExecutor executor(host);
    Channel channel(options.fd);

    // One thread reads everything the daemon says; jobs run on this one.
    std::mutex mutex;
    std::condition_variable arrived;
    std::deque<json> requests;
    ChildControl* current = nullptr;
    std::thread reader([&] {
        for (;;) {
            std::optional<json> m;
            try {
                m = channel.receive(std::chrono::milliseconds(1000));
            } catch (const std::exception&) {
                ::_exit(0);  // the daemon is gone, or closed us: nothing left to do
            }
            if (!m) continue;
            std::string type = m->value("type", "");
            std::lock_guard lock(mutex);
            if (type == "stop") {
                if (current) current->requestStop();
            } else if (type == "ack") {
                if (current) current->acknowledge(m->value("seq", uint64_t{0}), m->value("ok", false));
            } else {
                requests.push_back(std::move(*m));
                arrived.notify_one();
            }
        }
    });
    reader.detach();
    channel.send({{"type", "ready"}, {"pid", static_cast<int>(::getpid())}});

    for (;;) {
        json request;
        {
            std::unique_lock lock(mutex);
            arrived.wait(lock, [&] { return !requests.empty(); });
            request = std::move(requests.front());
            requests.pop_front();
        }
        std::string type = request.value("type", "");
        if (type == "probe") {
            json answer = {{"type", "probed"}};
            auto plugin = host.find(request.value("plugin", ""), request.value("version", ""));
            if (!plugin && host.scan() > 0)  // loaded by the daemon after this worker started
                plugin = host.find(request.value("plugin", ""), request.value("version", ""));
            try {
                if (!plugin) throw std::runtime_error("plugin not loaded in the worker");
                SourceInfo info = host.probe(*plugin, request.value("input", ""), request.value("media_type", ""));
                answer["width"] = info.width ? json(*info.width) : json(nullptr);
                answer["height"] = info.height ? json(*info.height) : json(nullptr);
                answer["pages"] = info.pages ? json(*info.pages) : json(nullptr);
            } catch (const std::exception& e) {
                answer["error"] = e.what();
            }
            channel.send(answer);
            continue;
        }
        if (type != "run") continue;
        ChildControl control(channel, blobs, options.threads);
        {
            std::lock_guard lock(mutex);
            current = &control;
        }
        ExecRequest exec;
        exec.jobId = request.value("job", "");
        exec.plugin = request.value("plugin", "");
        exec.pluginVersion = request.value("version", "");
        exec.inputPath = request.value("input", "");
        exec.mediaType = request.value("media_type", "");
        for (const auto& kv : request.value("params", json::array()))
            exec.params.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<std::string>());
        if (!host.abi(exec.plugin, exec.pluginVersion)) host.scan();  // a plugin newer than this worker
        limitCpu(options.cpuSecondsPerJob);
        ExecResult result = control.publish(executor.execute(exec, control));
        {
            std::lock_guard lock(mutex);
            current = nullptr;
        }
        channel.send({{"type", "done"}, {"status", statusName(result.status)}, {"message", result.message},
                      {"seconds", result.seconds}});
        // A 5K progressive JPEG needs ~90 MB of coefficients; hand freed
        // memory back to the system between jobs instead of keeping each
        // worker at its high-water mark (bench/memory_flat.sh).
        ::malloc_trim(0);
    }
}

}  // namespace pixelmill::worker
