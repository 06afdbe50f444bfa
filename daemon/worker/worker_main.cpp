#include "worker/worker_main.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/parallel.h"
#include "common/priorities.h"
#include "common/task_pool.h"
#include "plugins/image_library.h"
#include "plugins/in_process_executor.h"
#include "store/blob_batcher.h"
#include "store/fs/fs_blob_store.h"
#include "worker/channel.h"
#include "worker/protocol.h"

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
        protocol::send(channel_, protocol::Progress{done, total});
    }
    void log(int level, const std::string& message) override {
        protocol::send(channel_, protocol::Log{level, message});
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
        protocol::send(channel_, protocol::Output{seq, index, name, mediaType, blob.sha256, blob.size, blob.created,
                                                  width, height});
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

// A Probe answered in this process: the plugin's reading of the header, or
// why it failed (`unreadable` when the plugin itself refused the bytes).
protocol::Probed probeSource(PluginHost& host, const protocol::Probe& probe) {
    protocol::Probed answer;
    auto plugin = host.find(probe.plugin, probe.version);
    if (!plugin && host.scan() > 0) plugin = host.find(probe.plugin, probe.version);  // loaded after this worker started
    if (!plugin) {
        answer.error = "plugin not loaded in the worker";
        return answer;
    }
    try {
        SourceInfo info = host.probe(*plugin, probe.input, probe.mediaType);
        answer.width = info.width;
        answer.height = info.height;
        answer.pages = info.pages;
    } catch (const ApiError& e) {
        answer.error = e.what();
        answer.unreadable = true;
    } catch (const std::exception& e) {
        answer.error = e.what();
    }
    return answer;
}

// The process's own settings: its parent, priority, signals, log and memory limit.
void setUpProcess(const WorkerOptions& options) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the daemon
    // Below the daemon's reactors (set before any thread starts: threads inherit it).
    lowerThreadPriority(kWorkerNice);
    std::signal(SIGPIPE, SIG_IGN);
    log::init(options.logLevel == "debug" ? log::Level::Debug : log::Level::Warn,
              options.logFormat == "json" ? log::Format::Json : log::Format::Logfmt);
    if (options.memoryLimitBytes > 0) {
        rlimit limit{options.memoryLimitBytes, options.memoryLimitBytes};
        ::setrlimit(RLIMIT_AS, &limit);
    }
    std::set_new_handler(outOfMemory);
    initImageLibrary("pixelmill-worker", 1);
}

// What the reader thread hands the job loop: Run and Probe requests, in
// order. Stop and Ack are for the job running now, and go to it at once.
class Inbox {
public:
    void deliver(protocol::ToWorker m) {
        std::lock_guard lock(mutex_);
        if (std::holds_alternative<protocol::Stop>(m)) {
            if (current_) current_->requestStop();
        } else if (const auto* ack = std::get_if<protocol::Ack>(&m)) {
            if (current_) current_->acknowledge(ack->seq, ack->ok);
        } else {
            requests_.push_back(std::move(m));
            arrived_.notify_one();
        }
    }

    // Waits for the next Run or Probe.
    protocol::ToWorker next() {
        std::unique_lock lock(mutex_);
        arrived_.wait(lock, [&] { return !requests_.empty(); });
        protocol::ToWorker request = std::move(requests_.front());
        requests_.pop_front();
        return request;
    }

    void setCurrent(ChildControl* control) {
        std::lock_guard lock(mutex_);
        current_ = control;
    }

private:
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::deque<protocol::ToWorker> requests_;
    ChildControl* current_ = nullptr;
};

// Reads what the daemon says, for the life of the process.
void startReader(Channel& channel, Inbox& inbox) {
    std::thread reader([&channel, &inbox] {
        for (;;) {
            std::optional<protocol::ToWorker> m;
            try {
                m = protocol::receiveToWorker(channel, std::chrono::milliseconds(1000));
            } catch (const std::exception&) {
                ::_exit(0);  // the daemon is gone, closed us, or spoke another protocol: nothing left to do
            }
            if (m) inbox.deliver(std::move(*m));
        }
    });
    reader.detach();
}

// Runs one job within its CPU allowance, and waits until its outputs are kept.
ExecResult runJob(const protocol::Run& run, PluginHost& host, InProcessExecutor& executor, ChildControl& control,
                  double cpuSeconds) {
    ExecRequest exec{run.job, run.plugin, run.version, run.params, run.input, run.mediaType};
    if (!host.abi(exec.plugin, exec.pluginVersion)) host.scan();  // a plugin newer than this worker
    limitCpu(cpuSeconds);
    return control.publish(executor.execute(exec, control));
}

}  // namespace

int runWorker(const WorkerOptions& options) {
    setUpProcess(options);
    // Only what the daemon accepted: a library it refused may crash whoever loads it.
    PluginHost host(options.pluginDir, options.limits, {.libraryList = options.pluginList});
    host.scan();
    FsBlobStore blobs(options.blobDir, options.tmpDir, options.fsync, /*owner=*/false);
    InProcessExecutor executor(host);
    Channel channel(options.fd);

    // One thread reads everything the daemon says; jobs run on this one.
    Inbox inbox;
    startReader(channel, inbox);
    protocol::send(channel, protocol::Ready{static_cast<int>(::getpid())});

    for (;;) {
        protocol::ToWorker request = inbox.next();
        if (const auto* probe = std::get_if<protocol::Probe>(&request)) {
            protocol::send(channel, probeSource(host, *probe));
            continue;
        }
        const auto* run = std::get_if<protocol::Run>(&request);
        if (!run) continue;
        ChildControl control(channel, blobs, options.threads);
        inbox.setCurrent(&control);
        ExecResult result = runJob(*run, host, executor, control, options.cpuSecondsPerJob);
        inbox.setCurrent(nullptr);
        protocol::send(channel, protocol::Done{result.status, result.message, result.seconds});
        // A 5K progressive JPEG needs ~90 MB of coefficients; hand freed
        // memory back to the system between jobs instead of keeping each
        // worker at its high-water mark (bench/memory_flat.sh).
        ::malloc_trim(0);
    }
}

}  // namespace pixelmill::worker
