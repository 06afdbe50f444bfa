#include "worker/process_executor.h"

#include "common/clock.h"
#include "common/log.h"
#include "metrics/metrics.h"
#include "worker/protocol.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <fstream>
#include <thread>

extern char** environ;

namespace pixelmill::worker {

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string describeExit(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char* name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGABRT ? "SIGABRT" : sig == SIGKILL ? "SIGKILL"
                           : sig == SIGXCPU ? "SIGXCPU (CPU time limit)" : sig == SIGBUS ? "SIGBUS"
                           : sig == SIGFPE ? "SIGFPE" : sig == SIGILL ? "SIGILL" : nullptr;
        return std::string("killed by ") + (name ? name : ("signal " + std::to_string(sig)));
    }
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    return "ended";
}

}  // namespace

std::vector<std::string> pluginEnvironment(char** env) {
    static const char* const kExact[] = {"PATH", "HOME", "TMPDIR", "USER", "LOGNAME", "LANG", "LANGUAGE",
                                         "TZ", "LD_LIBRARY_PATH", "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                                         "LSAN_OPTIONS", "TSAN_OPTIONS", "MSAN_OPTIONS"};
    static const char* const kPrefixes[] = {"LC_", "VIPS_", "G_", "GIO_", "MALLOC_"};
    static const char* const kSecretWords[] = {"SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "KEY"};
    std::vector<std::string> out;
    for (char** e = env; e && *e; ++e) {
        std::string_view entry(*e);
        std::string_view name = entry.substr(0, entry.find('='));
        if (name.empty() || name.size() == entry.size()) continue;
        std::string upper(name);
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (upper.rfind("PIXELMILL_", 0) == 0) continue;
        bool secret = false;
        for (const char* w : kSecretWords) secret = secret || upper.find(w) != std::string::npos;
        if (secret) continue;
        bool wanted = false;
        for (const char* n : kExact) wanted = wanted || name == n;
        for (const char* p : kPrefixes) wanted = wanted || name.rfind(p, 0) == 0;
        if (wanted) out.emplace_back(entry);
    }
    return out;
}

ProcessExecutor::ProcessExecutor(ProcessExecutorOptions options, BlobStore& blobs)
    : options_(std::move(options)), blobs_(blobs) {}

ProcessExecutor::~ProcessExecutor() {
    std::vector<std::unique_ptr<Worker>> all;
    {
        std::lock_guard lock(mutex_);
        all.swap(idle_);
    }
    for (auto& w : all) discard(std::move(w), false);
}

std::unique_ptr<ProcessExecutor::Worker> ProcessExecutor::acquire() {
    {
        std::lock_guard lock(mutex_);
        if (!idle_.empty()) {
            auto w = std::move(idle_.back());
            idle_.pop_back();
            return w;
        }
    }
    auto [mine, theirs] = socketPair();
    std::vector<std::string> args = {options_.binary, "worker", "--socket-fd", "3"};
    args.insert(args.end(), options_.args.begin(), options_.args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, theirs, 3);  // dup2 clears close-on-exec
    // Signals the daemon blocks for sigwait() must not stay blocked in the worker.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    pid_t pid = -1;
    // Workers run plugin code: they get none of the daemon's secrets (webhook secret, database URL…).
    std::vector<std::string> environment = pluginEnvironment(environ);
    std::vector<char*> envp;
    for (auto& e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);
    int rc = posix_spawn(&pid, options_.binary.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(theirs);
    if (rc != 0) {
        ::close(mine);
        throw std::runtime_error(std::string("cannot start a plugin worker: ") + std::strerror(rc));
    }
    {
        std::lock_guard lock(mutex_);
        live_.insert(pid);
    }
    auto w = std::make_unique<Worker>();
    w->pid = pid;
    w->channel = std::make_unique<Channel>(mine);
    ++started_;
    // The worker says hello once its plugins are loaded.
    std::optional<protocol::FromWorker> hello;
    try {
        hello = protocol::receiveFromWorker(*w->channel, 30s);
    } catch (const std::exception&) {
        hello.reset();
    }
    if (!hello || !std::holds_alternative<protocol::Ready>(*hello)) {
        std::string how = discard(std::move(w), true);
        throw std::runtime_error("a plugin worker did not start: " + how);
    }
    log::debug("worker_started", {{"pid", static_cast<int>(pid)}});
    return w;
}

void ProcessExecutor::release(std::unique_ptr<Worker> worker) {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(worker));
}

size_t ProcessExecutor::alive() const {
    std::lock_guard lock(mutex_);
    return live_.size();
}

uint64_t ProcessExecutor::residentBytes() const {
    std::set<pid_t> pids;
    {
        std::lock_guard lock(mutex_);
        pids = live_;
    }
    uint64_t total = 0;
    for (pid_t pid : pids) {
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        for (std::string line; std::getline(status, line);)
            if (line.rfind("VmRSS:", 0) == 0) total += std::stoull(line.substr(6)) * 1024;
    }
    return total;
}

std::string ProcessExecutor::discard(std::unique_ptr<Worker> worker, bool kill) {
    if (!worker || worker->pid <= 0) return "gone";
    {
        std::lock_guard lock(mutex_);
        live_.erase(worker->pid);
    }
    worker->channel.reset();  // EOF tells a healthy worker to exit
    if (kill) ::kill(worker->pid, SIGKILL);
    int status = 0;
    for (int i = 0; i < 200; ++i) {
        if (::waitpid(worker->pid, &status, WNOHANG) == worker->pid) return describeExit(status);
        std::this_thread::sleep_for(10ms);
    }
    ::kill(worker->pid, SIGKILL);
    ::waitpid(worker->pid, &status, 0);
    return describeExit(status);
}

ExecResult ProcessExecutor::execute(const ExecRequest& request, JobControl& control) {
    std::unique_ptr<Worker> w;
    try {
        w = acquire();
    } catch (const std::exception& e) {
        return {ExecResult::Status::Transient, e.what(), 0};
    }
    if (!protocol::send(*w->channel, protocol::Run{request.jobId, request.plugin, request.pluginVersion, request.params,
                                                   request.inputPath, request.mediaType})) {
        std::string how = discard(std::move(w), true);
        ++crashes_;
        return {ExecResult::Status::Crashed, "the plugin worker " + how, 0};
    }
    double started = monotonicSeconds();
    std::optional<double> killAt;
    for (;;) {
        if (!killAt && control.shouldStop()) {
            protocol::send(*w->channel, protocol::Stop{});
            killAt = monotonicSeconds() + std::chrono::duration<double>(options_.stopGrace).count();
        }
        if (killAt && monotonicSeconds() > *killAt) {
            // It did not stop when asked (a plugin that ignores should_stop): end it.
            std::string how = discard(std::move(w), true);
            log::warn("worker_killed", {{"job", request.jobId}, {"plugin", request.plugin}, {"how", how}});
            return {ExecResult::Status::Canceled, "stopped: the plugin did not stop when asked and was killed",
                    monotonicSeconds() - started};
        }
        std::optional<protocol::FromWorker> m;
        try {
            m = protocol::receiveFromWorker(*w->channel, 50ms);
        } catch (const std::exception& e) {
            std::string how = discard(std::move(w), false);
            ++crashes_;
            log::error("plugin_crashed", {{"job", request.jobId}, {"plugin", request.plugin}, {"how", how},
                                          {"error", e.what()}});
            if (killAt) return {ExecResult::Status::Canceled, "stopped", monotonicSeconds() - started};
            return {ExecResult::Status::Crashed, "the plugin process " + how, monotonicSeconds() - started};
        }
        if (!m) continue;
        if (const auto* o = std::get_if<protocol::Output>(&*m)) {
            bool ok = false;
            try {
                if (o->created) blobs_.noteStoredElsewhere(o->size);
                ok = control.addStoredOutput(o->index, o->name, o->mediaType, o->sha256, o->size, o->width, o->height);
            } catch (const std::exception&) {
                ok = false;
            }
            protocol::send(*w->channel, protocol::Ack{o->seq, ok});
        } else if (const auto* p = std::get_if<protocol::Progress>(&*m)) {
            control.progress(p->done, p->total);
        } else if (const auto* l = std::get_if<protocol::Log>(&*m)) {
            control.log(l->level, l->message);
        } else if (const auto* d = std::get_if<protocol::Done>(&*m)) {
            ExecResult result{d->status, d->message, d->seconds};
            release(std::move(w));
            return result;
        }
    }
}

ProbeResult ProcessExecutor::probe(const std::string& plugin, const std::string& version, const std::string& path,
                                   const std::string& mediaType) {
    std::unique_ptr<Worker> w;
    try {
        w = acquire();
    } catch (const std::exception& e) {
        return ProbeResult{{}, {}, {}, e.what()};
    }
    protocol::send(*w->channel, protocol::Probe{plugin, version, path, mediaType});
    auto deadline = monotonicSeconds() + 30;
    while (monotonicSeconds() < deadline) {
        std::optional<protocol::FromWorker> m;
        try {
            m = protocol::receiveFromWorker(*w->channel, 100ms);
        } catch (const std::exception& e) {
            std::string how = discard(std::move(w), false);
            ++crashes_;
            log::error("plugin_crashed", {{"plugin", plugin}, {"during", "probe"}, {"how", how}, {"error", e.what()}});
            return ProbeResult{{}, {}, {}, "reading the file crashed the plugin (" + how + ")"};
        }
        const auto* probed = m ? std::get_if<protocol::Probed>(&*m) : nullptr;
        if (!probed) continue;
        ProbeResult r{probed->width, probed->height, probed->pages, probed->error, probed->unreadable};
        release(std::move(w));
        return r;
    }
    discard(std::move(w), true);
    return ProbeResult{{}, {}, {}, "reading the file took longer than 30 s"};
}

void ProcessExecutor::report(Metrics& m) const {
    m.counterTo("pixelmill_plugin_workers_started_total", "Plugin worker processes started",
                static_cast<double>(started()));
    m.counterTo("pixelmill_plugin_worker_crashes_total", "Plugin worker processes that died under a job",
                static_cast<double>(crashes()));
    m.gauge("pixelmill_plugin_workers", "Plugin worker processes alive").Set(static_cast<double>(alive()));
    m.gauge("pixelmill_plugin_workers_resident_memory_bytes", "Resident memory of all plugin worker processes")
        .Set(static_cast<double>(residentBytes()));
}

}  // namespace pixelmill::worker
