// Calls the built pdf2png.so through its C ABI with a fake host, the way the
// daemon's executor does, but in-process and with every callback recorded:
// no daemon, no HTTP, so the plugin's own behaviour (order, progress,
// parallel tasks, stop checks, limits) can be asserted directly.
#pragma once

#include "../../../include/pixelmill/plugin.h"
#include "support/daemon.h"
#include "support/images.h"

#include <dlfcn.h>

#include <atomic>
#include <barrier>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pixelmill::pdf2png::test {

// The plugin table, loaded once per test process and never unloaded.
inline const pm_plugin& plugin() {
    static const pm_plugin* table = [] {
        pixelmill::test::initVips();  // libvips belongs to the host: started before any plugin call
        std::string path = (pixelmill::test::pluginBuildDir() / "pdf2png.so").string();
        void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) throw std::runtime_error(std::string("cannot load ") + path + ": " + ::dlerror());
        auto* t = static_cast<const pm_plugin*>(::dlsym(lib, PIXELMILL_PLUGIN_SYMBOL));
        if (!t) throw std::runtime_error(path + " has no " PIXELMILL_PLUGIN_SYMBOL);
        return t;
    }();
    return *table;
}

struct RecordedOutput {
    std::string name;
    std::string mediaType;
    std::string bytes;
    int32_t width = 0;
    int32_t height = 0;
    std::thread::id thread;
};

struct Result {
    pm_status status = PM_OK;
    std::string message;
};

// One job's host side. Thread-safe like the real one: callbacks may come from
// parallel_for's threads.
class FakeHost {
public:
    uint64_t maxPixels = 71000000;
    uint32_t maxPages = 1000;
    unsigned threads = 2;            // threads parallel_for runs tasks on (caller included)
    int stopAfterOutputs = -1;       // should_stop turns true once this many outputs exist

    Result process(const std::string& pdf, const std::map<std::string, std::string>& params) {
        std::vector<pm_param> list;
        for (const auto& [k, v] : params) list.push_back({k.c_str(), v.c_str()});
        pm_input input{"/nonexistent/in.pdf", reinterpret_cast<const unsigned char*>(pdf.data()), pdf.size(),
                       "application/pdf"};
        pm_context ctx = context();
        char message[1024] = {0};
        Result r;
        r.status = plugin().process(&ctx, &input, list.data(), list.size(), message, sizeof message);
        r.message = message;
        return r;
    }

    Result probe(const std::string& pdf, pm_probe_result& out) {
        pm_input input{"/nonexistent/in.pdf", reinterpret_cast<const unsigned char*>(pdf.data()), pdf.size(),
                       "application/pdf"};
        pm_context ctx = context();
        char message[1024] = {0};
        out = {-1, -1, -1};
        Result r;
        r.status = plugin().probe(&ctx, &input, &out, message, sizeof message);
        r.message = message;
        return r;
    }

    std::map<uint32_t, RecordedOutput> outputs() const {
        std::lock_guard lock(mutex_);
        return outputs_;
    }
    std::vector<std::pair<uint32_t, uint32_t>> progress() const {
        std::lock_guard lock(mutex_);
        return progress_;
    }
    std::set<std::thread::id> taskThreads() const {
        std::lock_guard lock(mutex_);
        return taskThreads_;
    }
    int parallelForCalls() const { return parallelForCalls_; }

private:
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
    static FakeHost& self(pm_host* h) { return *reinterpret_cast<FakeHost*>(h); }

    static int addOutput(pm_host* h, uint32_t index, const char* name, const char* mediaType, const void* data,
                         size_t size, int32_t width, int32_t height) {
        FakeHost& s = self(h);
        std::lock_guard lock(s.mutex_);
        if (s.outputs_.count(index)) return 1;  // an index is given once
        s.outputs_[index] = {name, mediaType, std::string(static_cast<const char*>(data), size), width, height,
                             std::this_thread::get_id()};
        return 0;
    }
    static void onProgress(pm_host* h, uint32_t done, uint32_t total) {
        FakeHost& s = self(h);
        std::lock_guard lock(s.mutex_);
        s.progress_.emplace_back(done, total);
    }
    static int shouldStop(pm_host* h) {
        FakeHost& s = self(h);
        std::lock_guard lock(s.mutex_);
        return s.stopAfterOutputs >= 0 && static_cast<int>(s.outputs_.size()) >= s.stopAfterOutputs;
    }
    static void log(pm_host*, int, const char*) {}

    // Like the daemon's: the calling thread plus (threads - 1) helpers pull
    // indices from one counter. To make sure every thread takes part (on a
    // busy machine one could otherwise take them all), thread t first runs
    // task t, after a barrier, so the first tasks really run at once.
    static int parallelFor(pm_host* h, uint32_t count, void (*fn)(void*, uint32_t), void* user) {
        FakeHost& s = self(h);
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

    mutable std::mutex mutex_;
    std::map<uint32_t, RecordedOutput> outputs_;
    std::vector<std::pair<uint32_t, uint32_t>> progress_;
    std::set<std::thread::id> taskThreads_;
    std::atomic<int> parallelForCalls_{0};
};

}  // namespace pixelmill::pdf2png::test
