#include "app/commands.h"

#include "common/clock.h"
#include "common/log.h"
#include "http/server.h"
#include "jobs/job_service.h"
#include "plugins/in_process_executor.h"
#include "plugins/plugin_host.h"
#include "scheduler/scheduler.h"
#include "store/fs/fs_blob_store.h"
#include "store/sqlite/sqlite_job_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <thread>

#ifndef PIXELMILL_VERSION
#define PIXELMILL_VERSION "0.0.0"
#endif

namespace fs = std::filesystem;

namespace pixelmill {
namespace {

// Held for the life of the process: one daemon per data dir.
int lockDataDir(const fs::path& dir) {
    fs::path lockPath = dir / "pixelmill.lock";
    int fd = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + lockPath.string() + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
        throw std::runtime_error("another pixelmill is serving " + dir.string() + " (" + lockPath.string() +
                                 " is locked)");
    return fd;
}

log::Level parseLevel(const std::string& s) {
    if (s == "debug") return log::Level::Debug;
    if (s == "warn") return log::Level::Warn;
    if (s == "error") return log::Level::Error;
    return log::Level::Info;
}

}  // namespace

int runServe(const Config& configIn) {
    Config config = configIn;
    // Signals are taken by sigwait() below; block them before any thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    log::init(parseLevel(config.logLevel));
    double startedAt = monotonicSeconds();
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    if (config.workers <= 0) config.workers = static_cast<int>(cores);
    if (config.httpThreads <= 0) config.httpThreads = static_cast<int>(std::max(2u, cores));
    fs::path pluginDir = resolvePluginDir(config.pluginDir);
    config.pluginDir = pluginDir.string();

    std::string host;
    uint16_t port = 0;
    splitListen(config.listen, host, port);

    // One libvips thread per pipeline: the workers already keep every core busy.
    initImageLibrary("pixelmill", 1);

    fs::path dataDir = fs::absolute(config.dataDir);
    fs::create_directories(dataDir);
    int lockFd = lockDataDir(dataDir);

    FsBlobStore blobs(dataDir / "blobs", dataDir / "tmp", config.fsync);
    SqliteJobStore store((dataDir / "pixelmill.db").string(), SqliteJobStore::Options{config.fsync, 1000});
    // One daemon owns this file (the lock above): whatever was running belongs to a dead process.
    int recovered = store.requeueExpired(nowMs(), true);

    PluginHost plugins(pluginDir, PluginLimits{config.maxPixels, config.maxPages});
    plugins.scan();

    InProcessExecutor executor(plugins);
    JobEvents events;
    http::JobWaiters waiters;
    events.subscribe([&waiters](const std::string& id, JobState) { waiters.notify(id); });
    SchedulerOptions schedulerOptions;
    schedulerOptions.workers = config.workers;
    schedulerOptions.jobTimeoutSeconds = config.jobTimeoutSeconds;
    schedulerOptions.retryBaseSeconds = config.retryBaseSeconds;
    Scheduler scheduler(store, blobs, executor, events, schedulerOptions);

    JobLimits limits{config.maxPixels, config.maxPages, config.maxAttempts, config.queueLimit};
    JobService jobs(store, blobs, plugins, scheduler, events, limits);
    StorageOptions storageOptions;
    storageOptions.quotaBytes = config.maxStorageBytes;
    storageOptions.originalRetentionSeconds = config.originalRetentionSeconds;
    StorageKeeper storage(store, blobs, storageOptions);
    jobs.setStorage(&storage);
    events.subscribe([&storage](const std::string&, JobState state) {
        if (state == JobState::Succeeded) storage.nudge();  // new outputs count against the quota
    });
    TaskPool outbound(4);

    std::atomic<bool> ready{false};
    http::Services services{jobs,
                            store,
                            blobs,
                            plugins,
                            config,
                            [&scheduler] { return std::make_pair(scheduler.busy(), scheduler.total()); },
                            ready,
                            waiters,
                            storage,
                            outbound,
                            nullptr,
                            PIXELMILL_VERSION,
                            startedAt};
    http::Server server(services, http::FrontLimits{config.maxUploadBytes, 16 * 1024});
    server.init(host, port, config.httpThreads);
    server.start();
    scheduler.start();
    storage.start();
    ready = true;
    log::info("listening", {{"address", host + ":" + std::to_string(server.port())},
                            {"port", static_cast<int>(server.port())},
                            {"version", PIXELMILL_VERSION},
                            {"workers", config.workers},
                            {"http_threads", config.httpThreads},
                            {"plugins", static_cast<int>(plugins.list().size())},
                            {"plugin_dir", pluginDir.string()},
                            {"data_dir", dataDir.string()},
                            {"recovered_jobs", recovered}});

    for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig == SIGHUP) {
            int added = plugins.scan();
            log::info("plugins_rescanned", {{"added", added}});
            continue;
        }
        log::info("draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                               {"timeout_s", config.drainTimeoutSeconds}});
        break;
    }

    ready = false;
    jobs.stopAccepting();
    bool clean = scheduler.drain(config.drainTimeoutSeconds);
    outbound.shutdown();  // finish downloads in flight…
    waiters.shutdown();   // …and answer long-polls while their connections still exist
    server.shutdown();
    if (!clean) {
        // A plugin that ignores should_stop() still holds a worker; its job stays
        // 'running' in the store and is requeued at the next start.
        log::warn("exit_with_stuck_workers", {});
        ::_exit(0);
    }
    scheduler.stop();
    storage.stop();
    log::info("stopped", {{"uptime_s", monotonicSeconds() - startedAt}});
    ::close(lockFd);
    return 0;
}

}  // namespace pixelmill
