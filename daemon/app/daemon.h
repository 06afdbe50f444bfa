#pragma once

#include "app/cluster_node.h"
#include "app/systemd_notify.h"
#include "common/task_pool.h"
#include "config/config.h"
#include "http/server/access.h"
#include "http/server/server.h"
#include "jobs/job_events.h"
#include "jobs/job_service.h"
#include "jobs/share_links.h"
#include "jobs/storage_keeper.h"
#include "metrics/metrics.h"
#include "notify/address_policy.h"
#include "notify/notifier.h"
#include "plugins/in_process_executor.h"
#include "plugins/plugin_host.h"
#include "plugins/plugin_watcher.h"
#include "scheduler/scheduler.h"
#include "store/fs/fs_blob_store.h"
#include "store/job_store.h"
#include "worker/process_executor.h"

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace pixelmill {

class SqliteJobStore;
class PostgresJobStore;

// What `serve` decided before building anything: the configuration with
// workers, threads and the plugin folder resolved, where it listens, and whom
// it admits. A refusal to start (an open address without tokens) happens
// before this exists.
struct ServeSetup {
    Config config;
    std::string host;
    uint16_t port = 0;
    http::AccessOptions access;
    double startedAt = 0;  // monotonic
};

// The job store a daemon opened, with its concrete type kept for the
// metrics only that store has.
struct OpenedStore {
    std::unique_ptr<JobStore> store;
    SqliteJobStore* sqlite = nullptr;
    PostgresJobStore* postgres = nullptr;
    int recovered = 0;  // running jobs of a dead process put back in the queue
};

// The serve command's process. The constructor builds every part in the
// order they depend on one another, each given what it needs: the blob and
// job stores, the plugins and the executor that runs them, the scheduler,
// the job service, the storage keeper, the HTTP server. run() starts them,
// serves until SIGTERM or SIGINT (SIGHUP rescans the plugin folder), then
// drains: no new jobs, running ones finish, pending answers go out.
class Daemon {
public:
    // Throws std::runtime_error when the data folder is locked by another
    // daemon or the store cannot be opened.
    Daemon(ServeSetup setup, SystemdNotifier& systemd);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Serves until one of `signals` (blocked in every thread) asks to stop;
    // returns the exit code.
    int run(const sigset_t& signals);

private:
    void start();
    void waitForStop(const sigset_t& signals);
    bool drain();
    int rescanPlugins(const char* why, bool settle = false);
    void registerMetrics();
    void queueMetrics(Metrics& m);
    void storeMetrics(Metrics& m);
    void storageMetrics(Metrics& m);
    void clusterMetrics(Metrics& m);
    http::Services services();

    ServeSetup setup_;
    const Config& config_ = setup_.config;
    SystemdNotifier& systemd_;
    unsigned cores_;
    std::filesystem::path dataDir_;
    int lockFd_;
    std::filesystem::path blobDir_;
    std::filesystem::path tmpDir_;
    FsBlobStore blobs_;
    NodeStatus node_;
    int intakeThreads_;
    OpenedStore opened_;
    JobStore& store_;
    std::unique_ptr<PluginHost> plugins_;
    Metrics metrics_;
    InProcessExecutor inProcess_;
    std::unique_ptr<worker::ProcessExecutor> isolated_;  // null with --isolation none
    Executor& executor_;
    JobEvents events_;
    http::JobWaiters waiters_;
    Scheduler scheduler_;
    notify::AddressPolicy policy_;  // every outbound request: source_url, callback_url, email
    StorageKeeper storage_;
    Presets presets_;
    JobService jobs_;
    TaskPool outbound_;
    TaskPool intake_;
    ShareLinks links_;
    std::atomic<bool> ready_{false};
    http::Services services_;
    http::Server server_;
    // Made once the server listens: they need its port (links in emails, the node's address).
    std::optional<PluginWatcher> watcher_;
    std::optional<notify::Notifier> notifier_;
    std::optional<ClusterNode> cluster_;
};

}  // namespace pixelmill
