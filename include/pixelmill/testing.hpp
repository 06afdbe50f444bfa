// Header-only test harness for plugins: calls a built .so through its C ABI
// with a fake host, the way the daemon's executor does, but in the test's own
// process and with every callback recorded, so a plugin's behaviour (outputs
// and their order, progress, parallel tasks, stop checks, limits) can be
// asserted without a daemon. Works with any test framework.
//
//   const pm_plugin& sepia = pixelmill::testing::loadPlugin("build/sepia.so");
//   pixelmill::testing::FakeHost host(sepia, "image/jpeg");
//   auto result = host.process(jpegBytes, {{"strength", "0.8"}});
//   assert(result.status == PM_OK && host.outputs().size() == 1);
//
// libvips belongs to the host: a test of a libvips plugin calls VIPS_INIT
// before the first process() or probe(), as the daemon does.
#pragma once

#include <pixelmill/plugin.h>

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pixelmill::testing {

// Loads the plugin at `path` (RTLD_LOCAL, never unloaded, as the daemon does)
// and returns its table; throws std::runtime_error naming what went wrong.
inline const pm_plugin& loadPlugin(const std::string& path) {
    void* library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library) throw std::runtime_error("cannot load " + path + ": " + ::dlerror());
    auto* table = static_cast<const pm_plugin*>(::dlsym(library, PIXELMILL_PLUGIN_SYMBOL));
    if (!table) throw std::runtime_error(path + " has no " PIXELMILL_PLUGIN_SYMBOL);
    if (table->abi_version != PIXELMILL_PLUGIN_ABI_VERSION)
        throw std::runtime_error(path + " was built for another plugin ABI version");
    return *table;
}

// The source as the host hands it over: a readable file, removed afterwards.
class SourceFile {
public:
    explicit SourceFile(const std::string& bytes) {
        const char* dir = std::getenv("TMPDIR");
        path_ = std::string(dir && *dir ? dir : "/tmp") + "/pixelmill-testing-XXXXXX";
        int fd = ::mkstemp(path_.data());
        if (fd < 0) throw std::runtime_error("cannot create a source file in " + path_);
        size_t written = 0;
        while (written < bytes.size()) {
            ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
            if (n <= 0) {
                ::close(fd);
                ::unlink(path_.c_str());
                throw std::runtime_error("cannot write the source file " + path_);
            }
            written += static_cast<size_t>(n);
        }
        ::close(fd);
    }
    ~SourceFile() { ::unlink(path_.c_str()); }
    SourceFile(const SourceFile&) = delete;
    SourceFile& operator=(const SourceFile&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

struct RecordedOutput {
    std::string name;
    std::string mediaType;
    std::string bytes;
    int32_t width = 0;
    int32_t height = 0;
    std::thread::id thread;  // the thread that added it
};

struct Result {
    pm_status status = PM_OK;
    std::string message;
};

// One job's host side. Thread-safe like the real one: callbacks may come from
// parallel_for's threads. Set the public limits before process().
class FakeHost {
public:
    uint64_t maxPixels = 71000000;
    uint32_t maxPages = 1000;
    unsigned threads = 2;        // threads parallel_for runs tasks on (caller included)
    int stopAfterOutputs = -1;   // should_stop turns true once this many outputs exist

    // `mediaType`: what the host's sniffing would have said about the sources.
    FakeHost(const pm_plugin& plugin, std::string mediaType) : plugin_(plugin), mediaType_(std::move(mediaType)) {}
    FakeHost(const FakeHost&) = delete;
    FakeHost& operator=(const FakeHost&) = delete;

    Result process(const std::string& source, const std::map<std::string, std::string>& params) {
        std::vector<pm_param> list;
        for (const auto& [key, value] : params) list.push_back({key.c_str(), value.c_str()});
        SourceFile file(source);
        pm_input in = input(file, source);
        pm_context ctx = context();
        char message[1024] = {0};
        pm_status status = plugin_.process(&ctx, &in, list.data(), list.size(), message, sizeof message);
        return {status, message};
    }

    // Calls the plugin's probe; a plugin without one answers PM_UNSUPPORTED here.
    Result probe(const std::string& source, pm_probe_result& out) {
        out = {-1, -1, -1};
        if (!plugin_.probe) return {PM_UNSUPPORTED, "the plugin has no probe"};
        SourceFile file(source);
        pm_input in = input(file, source);
        pm_context ctx = context();
        char message[1024] = {0};
        pm_status status = plugin_.probe(&ctx, &in, &out, message, sizeof message);
        return {status, message};
    }

    std::map<uint32_t, RecordedOutput> outputs() const {
        std::lock_guard lock(mutex_);
        return outputs_;
    }
    std::vector<std::pair<uint32_t, uint32_t>> progress() const {
        std::lock_guard lock(mutex_);
        return progress_;
    }
    std::vector<std::pair<int, std::string>> logs() const {
        std::lock_guard lock(mutex_);
        return logs_;
    }
    std::set<std::thread::id> taskThreads() const {
        std::lock_guard lock(mutex_);
        return taskThreads_;
    }
    int parallelForCalls() const { return parallelForCalls_; }

private:
    // As the real host does: a file path and the same bytes in memory.
    pm_input input(const SourceFile& file, const std::string& source) const {
        return {file.path().c_str(), reinterpret_cast<const unsigned char*>(source.data()), source.size(),
                mediaType_.c_str()};
    }

    pm_context context() {
        pm_context ctx{};
        ctx.struct_size = sizeof(pm_context);
        ctx.host = reinterpret_cast<pm_host*>(this);
        ctx.max_pixels = maxPixels;
        ctx.max_pages = maxPages;
        ctx.add_output = &FakeHost::addOutput;
        ctx.progress = &FakeHost::onProgress;
        ctx.should_stop = &FakeHost::shouldStop;
        ctx.log = &FakeHost::log;
        ctx.parallel_for = &FakeHost::parallelFor;
        return ctx;
    }
    static FakeHost& self(pm_host* host) { return *reinterpret_cast<FakeHost*>(host); }

    static int addOutput(pm_host* host, uint32_t index, const char* name, const char* mediaType, const void* data,
                         size_t size, int32_t width, int32_t height) {
        FakeHost& s = self(host);
        std::lock_guard lock(s.mutex_);
        if (s.outputs_.count(index)) return 1;  // an index is given once
        s.outputs_[index] = {name, mediaType, std::string(static_cast<const char*>(data), size), width, height,
                             std::this_thread::get_id()};
        return 0;
    }
    static void onProgress(pm_host* host, uint32_t done, uint32_t total) {
        FakeHost& s = self(host);
        std::lock_guard lock(s.mutex_);
        s.progress_.emplace_back(done, total);
    }
    static int shouldStop(pm_host* host) {
        FakeHost& s = self(host);
        std::lock_guard lock(s.mutex_);
        return s.stopAfterOutputs >= 0 && static_cast<int>(s.outputs_.size()) >= s.stopAfterOutputs;
    }
    static void log(pm_host* host, int level, const char* message) {
        FakeHost& s = self(host);
        std::lock_guard lock(s.mutex_);
        s.logs_.emplace_back(level, message ? message : "");
    }

    // Like the daemon's: the calling thread plus (threads - 1) helpers pull
    // indices from one counter. So that every thread takes part (on a busy
    // machine one could otherwise take them all), thread t first runs task t,
    // after a barrier, so the first tasks really run at once.
    static int parallelFor(pm_host* host, uint32_t count, void (*fn)(void*, uint32_t), void* user) {
        FakeHost& s = self(host);
        ++s.parallelForCalls_;
        unsigned n = std::max(1u, std::min<unsigned>(s.threads, count));
        std::atomic<uint32_t> next{n};
        std::barrier start(static_cast<std::ptrdiff_t>(n));
        auto work = [&](uint32_t first) {
            start.arrive_and_wait();
            for (uint32_t i = first; i < count; i = next.fetch_add(1)) {
                {
                    std::lock_guard lock(s.mutex_);
                    s.taskThreads_.insert(std::this_thread::get_id());
                }
                fn(user, i);
            }
        };
        std::vector<std::thread> pool;
        for (unsigned t = 1; t < n; ++t) pool.emplace_back(work, t);
        work(0);
        for (auto& t : pool) t.join();
        return 0;
    }

    const pm_plugin& plugin_;
    const std::string mediaType_;
    mutable std::mutex mutex_;
    std::map<uint32_t, RecordedOutput> outputs_;
    std::vector<std::pair<uint32_t, uint32_t>> progress_;
    std::vector<std::pair<int, std::string>> logs_;
    std::set<std::thread::id> taskThreads_;
    std::atomic<int> parallelForCalls_{0};
};

}  // namespace pixelmill::testing
