#include "app/commands.h"

#include "app/cluster_node.h"
#include "app/systemd_notify.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/priorities.h"
#include "common/sha256.h"
#include "http/api/job_json.h"
#include "http/server/server.h"
#include "jobs/job_service.h"
#include "metrics/metrics.h"
#include "notify/address_policy.h"
#include "notify/email_message.h"
#include "notify/fetcher.h"
#include "notify/notifier.h"
#include "plugins/in_process_executor.h"
#include "plugins/plugin_host.h"
#include "plugins/plugin_watcher.h"
#include "scheduler/scheduler.h"
#include "store/connection_counts.h"
#include "store/fs/fs_blob_store.h"
#include "store/postgres/postgres_job_store.h"
#include "store/sqlite/sqlite_job_store.h"
#include "worker/process_executor.h"

#include <vips/vips.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#ifndef PIXELMILL_VERSION
#define PIXELMILL_VERSION "0.0.0"
#endif

extern char** environ;

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

// Loads a plugin library in a child `pixelmill plugins --check` first: a
// truncated or hostile .so crashes that child, never the daemon.
std::string checkInChild(const fs::path& self, const fs::path& library) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return {};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    std::vector<std::string> args = {self.string(), "plugins", "--check", library.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // It runs the library's constructors: none of the daemon's secrets.
    std::vector<std::string> environment = worker::pluginEnvironment(environ);
    std::vector<char*> envp;
    for (auto& e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
        ::close(out[0]);
        return {};  // cannot check: load as before
    }
    std::string message;
    char buffer[512];
    for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) message.append(buffer, static_cast<size_t>(n));
    ::close(out[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();
    if (WIFSIGNALED(status))
        return std::string("crashed while loading (") + strsignal(WTERMSIG(status)) + "); not loaded";
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    return message.empty() ? "refused when loaded on its own" : message;
}

log::Level parseLevel(const std::string& s) {
    if (s == "debug") return log::Level::Debug;
    if (s == "warn") return log::Level::Warn;
    if (s == "error") return log::Level::Error;
    return log::Level::Info;
}

}  // namespace

// The SQLite store's WAL: its size and what the checkpoints achieved; and its
// group commit: writes per transaction is tasks / commits.
void sqliteMetrics(Metrics& m, const sqlite::Checkpointer::Stats& wal, const WriteStats& writes) {
    m.counterTo("pixelmill_sqlite_commits_total", "Transactions the SQLite writer committed",
                static_cast<double>(writes.commits));
    m.counterTo("pixelmill_sqlite_writes_total", "Writes the SQLite writer ran, many to a transaction",
                static_cast<double>(writes.tasks));
    m.gauge("pixelmill_sqlite_wal_bytes", "Size of the SQLite write-ahead log file").Set(static_cast<double>(wal.walBytes));
    const char* help = "SQLite checkpoints, by whether they copied every frame of the WAL (done) or were held back "
                       "by a reader or the writer (busy)";
    m.counterTo("pixelmill_sqlite_checkpoints_total", help, {{"result", "done"}}, static_cast<double>(wal.done));
    m.counterTo("pixelmill_sqlite_checkpoints_total", help, {{"result", "busy"}}, static_cast<double>(wal.busy));
    m.counterTo("pixelmill_sqlite_checkpoint_frames_total", "WAL frames copied into the SQLite database file",
                static_cast<double>(wal.frames));
    m.counterTo("pixelmill_sqlite_wal_restarts_total", "Times the SQLite WAL started over from its beginning",
                static_cast<double>(wal.restarts));
}

// Notifications per channel: pending ones read from the job store (the same
// on every node sharing it), and what this process's attempts came to.
namespace {

void notificationMetrics(Metrics& m, SqliteJobStore* sqlite, PostgresJobStore* postgres,
                         const notify::Notifier& notifier) {
    std::map<std::string, uint64_t> pending;
    if (sqlite) pending = sqlite->countPendingDeliveriesByKind();
    else if (postgres) pending = postgres->countPendingDeliveriesByKind();
    uint64_t all = 0;
    for (const char* channel : {"webhook", "email"}) {
        uint64_t n = pending.count(channel) ? pending.at(channel) : 0;
        all += n;
        m.gauge("pixelmill_notifications_pending", "Notifications not delivered yet, by channel (webhook, email)",
                {{"channel", channel}})
            .Set(static_cast<double>(n));
        notify::Notifier::Tally t = notifier.tally(channel);
        const char* help = "Notification attempts, by channel and outcome: delivered, retried (failed, tried again "
                           "later), given_up (failed for the last time), interrupted (cut short by a shutdown)";
        const std::pair<const char*, uint64_t> outcomes[] = {
            {"delivered", t.delivered}, {"retried", t.retried}, {"given_up", t.givenUp}, {"interrupted", t.interrupted}};
        for (const auto& [outcome, total] : outcomes)
            m.counterTo("pixelmill_notifications_total", help, {{"channel", channel}, {"outcome", outcome}},
                        static_cast<double>(total));
    }
    // The former name, webhooks and emails together: kept for one release.
    m.gauge("pixelmill_webhook_deliveries_pending",
            "Deprecated, use pixelmill_notifications_pending: notifications (webhooks, emails) not delivered yet")
        .Set(static_cast<double>(all));
}

// The HTTP front: connections, what it turned away, and the intake pool's backlog.
void httpMetrics(Metrics& m, const http::ConnectionGuard& guard, const http::AccessControl& access,
                 const TaskPool& intake) {
    m.gauge("pixelmill_http_connections_open", "HTTP connections open now").Set(static_cast<double>(guard.open()));
    const char* refused = "HTTP connections closed as they arrived, by reason: max_connections (all were taken), "
                          "max_connections_per_client (that client's share was)";
    m.counterTo("pixelmill_http_connections_refused_total", refused, {{"reason", "max_connections"}},
                static_cast<double>(guard.refusedOverTotal()));
    m.counterTo("pixelmill_http_connections_refused_total", refused, {{"reason", "max_connections_per_client"}},
                static_cast<double>(guard.refusedOverClient()));
    m.counterTo("pixelmill_http_rate_limited_total", "Requests answered 429 rate_limited by the per-client rate limit",
                static_cast<double>(access.rateLimited()));
    m.gauge("pixelmill_intake_queue_depth",
            "Requests waiting for an intake thread (uploads being checked and stored, source_url fetches)")
        .Set(static_cast<double>(intake.queued()));
}

// The store's pooled connections: PostgreSQL's, or SQLite's readers.
void storeConnectionMetrics(Metrics& m, ConnectionCounts c) {
    const char* help = "Job store connections of this process, by state: in_use (borrowed by a call) or idle (pooled)";
    m.gauge("pixelmill_store_connections", help, {{"state", "in_use"}}).Set(static_cast<double>(c.inUse));
    m.gauge("pixelmill_store_connections", help, {{"state", "idle"}}).Set(static_cast<double>(c.idle));
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

    log::init(parseLevel(config.logLevel), config.logFormat == "json" ? log::Format::Json : log::Format::Logfmt);
    // Before any thread starts: it takes NOTIFY_SOCKET out of the environment.
    SystemdNotifier systemd;
    double startedAt = monotonicSeconds();
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    if (config.workers <= 0) config.workers = static_cast<int>(cores);
    if (config.httpThreads <= 0) config.httpThreads = static_cast<int>(std::max(2u, cores));
    fs::path pluginDir = resolvePluginDir(config.pluginDir);
    config.pluginDir = pluginDir.string();

    std::string host;
    uint16_t port = 0;
    splitListen(config.listen, host, port);

    // Anyone who can reach a non-loopback address could submit and read: tokens, or a deliberate --insecure.
    http::AccessOptions access;
    if (!config.tokenFile.empty()) access.tokens = http::loadTokenFile(config.tokenFile);
    access.publicMetrics = config.publicMetrics;
    access.rateLimit = config.rateLimit;
    access.rateBurst = config.rateBurst;
    // With auth off, only names of this server are served (a DNS-rebinding guard).
    if (std::string h = http::hostOfUrl(config.publicUrl); !h.empty()) access.hosts.push_back(h);
    if (!host.empty() && host != "0.0.0.0" && host != "::")
        access.hosts.push_back(host.find(':') != std::string::npos ? "[" + host + "]" : host);
    bool loopback = host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
    if (!loopback && access.tokens.empty() && !config.insecure) {
        log::error("refused_to_start", {{"listen", config.listen},
                                        {"reason", "a non-loopback address needs --token-file (or --insecure)"}});
        std::cerr << "pixelmill: refusing to serve " << config.listen
                  << " without tokens: give --token-file (see `pixelmill token`), or --insecure to serve it open\n";
        return 2;
    }
    if (!access.tokens.empty())
        log::info("auth_enabled", {{"tokens", std::to_string(access.tokens.size())},
                                   {"public_metrics", config.publicMetrics ? "true" : "false"}});

    // One libvips thread per pipeline: the workers already keep every core busy.
    initImageLibrary("pixelmill", 1, /*jobsAtOnce=*/config.isolation == "none");

    fs::path dataDir = fs::absolute(config.dataDir);
    fs::create_directories(dataDir);
    int lockFd = lockDataDir(dataDir);

    bool sharedStore = config.store.rfind("postgres", 0) == 0;
    // Blobs may live on storage every daemon mounts; each daemon writes its
    // temp files in a folder of its own there (renames stay on one file system).
    fs::path blobDir = config.blobDir.empty() ? dataDir / "blobs" : fs::absolute(config.blobDir);
    fs::path tmpDir = config.blobDir.empty()
                          ? dataDir / "tmp"
                          : blobDir / ".tmp" / (notify::localHostName() + "-" + Sha256::hex(dataDir.string()).substr(0, 12));
    FsBlobStore blobs(blobDir, tmpDir, config.fsync);

    std::unique_ptr<JobStore> storeOwner;
    NodeStatus node;
    node.id = notify::localHostName() + "-" + newId().substr(0, 8);  // a new one at every start
    node.address = config.listen;
    node.version = PIXELMILL_VERSION;
    node.startedAt = nowMs();
    int recovered = 0;
    SqliteJobStore* sqliteStore = nullptr;      // for its WAL metrics
    PostgresJobStore* postgresStore = nullptr;  // for its batched writes
    // Threads for the routes that may wait (see the intake pool below). With
    // SQLite most of their time is a wait for the group commit, which takes
    // every write in flight at once: many threads, few cores. PostgreSQL
    // groups commits across connections itself, and each thread may hold a
    // connection of a server that several daemons share: fewer.
    const int intakeThreads = sharedStore ? std::max(8, 2 * config.httpThreads) : std::max(64, 4 * config.httpThreads);
    if (sharedStore) {
        PostgresJobStore::Options options;
        options.nodeId = node.id;
        options.poolSize = config.workers + config.httpThreads + intakeThreads + 4;
        try {
            auto postgres = std::make_unique<PostgresJobStore>(config.store, options);
            postgresStore = postgres.get();
            storeOwner = std::move(postgres);
        } catch (const std::exception& e) {
            log::error("store_unreachable", {{"error", e.what()}});
            std::cerr << "pixelmill: cannot open the job store: " << e.what() << "\n";
            return 1;
        }
        // Other daemons share the database: only leases that ran out are orphans.
        recovered = storeOwner->requeueExpired(nowMs(), false);
    } else {
        SqliteJobStore::Options options;
        options.fsync = config.fsync;
        auto sqlite = std::make_unique<SqliteJobStore>((dataDir / "pixelmill.db").string(), options);
        sqliteStore = sqlite.get();
        storeOwner = std::move(sqlite);
        // One daemon owns this file (the lock above): whatever was running belongs to a dead process.
        recovered = storeOwner->requeueExpired(nowMs(), true);
    }
    JobStore& store = *storeOwner;

    PluginHost plugins(pluginDir, PluginLimits{config.maxPixels, config.maxPages});
    // Libraries are loaded from copies under the data dir: see PluginHost::setStaging.
    fs::path loadedPlugins = dataDir / "plugins-loaded";
    plugins.setStaging(loadedPlugins);
    {
        std::error_code ec;
        fs::path self = fs::read_symlink("/proc/self/exe", ec);
        if (!ec) plugins.setLoadCheck([self](const fs::path& library) { return checkInChild(self, library); });
    }
    plugins.scan();
    auto rescanPlugins = [&plugins](const char* why, bool settle = false) {
        int added = plugins.scan(settle);
        if (added > 0) log::info("plugins_rescanned", {{"added", added}, {"trigger", why}});
        return added;
    };

    Metrics metrics(PIXELMILL_VERSION);
    // Plugins run in supervised worker processes unless told to trust them.
    InProcessExecutor inProcess(plugins);
    std::unique_ptr<worker::ProcessExecutor> isolated;
    if (config.isolation == "process") {
        std::error_code ec;
        worker::ProcessExecutorOptions w;
        w.binary = fs::read_symlink("/proc/self/exe", ec).string();
        double cpu = config.workerCpuSeconds > 0 ? config.workerCpuSeconds : config.jobTimeoutSeconds * cores;
        w.args = {"--plugin-dir", loadedPlugins.string(),
                  "--plugin-list", plugins.acceptedList().string(),
                  "--blob-dir", blobDir.string(),
                  "--tmp-dir", tmpDir.string(),
                  "--fsync", config.fsync ? "true" : "false",
                  "--memory-limit", std::to_string(config.workerMemoryLimit),
                  "--cpu-seconds", std::to_string(cpu),
                  "--max-pixels", std::to_string(config.maxPixels),
                  "--max-pages", std::to_string(config.maxPages),
                  "--threads", std::to_string(cores),
                  "--log-level", config.logLevel,
                  "--log-format", config.logFormat};
        isolated = std::make_unique<worker::ProcessExecutor>(w, blobs);
        plugins.setProbeRunner([&isolated](const PluginDescriptor& p, const std::string& path, std::string_view type) {
            return isolated->probe(p.name, p.version, path, std::string(type));
        });
    }
    Executor& executor = isolated ? static_cast<Executor&>(*isolated) : inProcess;
    JobEvents events;
    http::JobWaiters waiters(config.maxLongPolls);
    events.subscribe([&waiters](const std::string& id, JobState) { waiters.notify(id); });
    SchedulerOptions schedulerOptions;
    schedulerOptions.workers = config.workers;
    schedulerOptions.jobTimeoutSeconds = config.jobTimeoutSeconds;
    schedulerOptions.retryBaseSeconds = config.retryBaseSeconds;
    Scheduler scheduler(store, store, blobs, executor, events, schedulerOptions);
    scheduler.setMetrics(&metrics);

    JobLimits limits{config.maxPixels, config.maxPages, config.maxAttempts, config.queueLimit, config.maxSvgBytes};
    JobService jobs({.queue = store, .reads = store, .originals = store, .cache = store, .references = store}, blobs,
                    plugins, scheduler, events, limits);
    jobs.setMetrics(&metrics);

    // Every outbound request (source_url, callback_url, email) goes through one address policy.
    notify::AddressPolicy policy(config.allowPrivateNetwork, config.allowHosts);
    jobs.setCallbackCheck([&policy](const std::string& url) { policy.check(url, "callback_url"); });
    notify::NotifierOptions notifierOptions;
    notifierOptions.webhookSecret = config.webhookSecret;
    notifierOptions.smtpUrl = config.smtpUrl;
    notifierOptions.mailFrom = config.mailFrom;
    notifierOptions.publicUrl = config.publicUrl;
    notifierOptions.retrySchedule.clear();
    for (int i = 0, factor = 1; i < 5; ++i, factor *= 3)  // 5 s, 15 s, 45 s, 2¼ min, 6¾ min by default
        notifierOptions.retrySchedule.push_back(std::chrono::milliseconds(
            static_cast<int64_t>(config.notifyRetryBaseSeconds * 1000 * factor)));
    std::optional<notify::Notifier> notifier;  // made once the port is known (links in emails)
    StorageOptions storageOptions;
    storageOptions.quotaBytes = config.maxStorageBytes;
    storageOptions.originalRetentionSeconds = config.originalRetentionSeconds;
    StorageKeeper storage({.originals = store, .cache = store, .references = store, .queue = store}, blobs,
                          storageOptions);
    jobs.setStorage(&storage);
    events.subscribe([&storage](const std::string&, JobState state) {
        if (state == JobState::Succeeded) storage.nudge();  // new outputs count against the quota
    });
    TaskPool outbound(4);
    // Every request that may wait (a commit, a probe, an SVG scan, a DNS
    // lookup) runs here, never on a reactor thread; at a lower priority
    // than the reactors, so that a core busy with an upload's checks is
    // still handed at once to a reactor with a request to frame or answer.
    TaskPool intake(intakeThreads, kIntakeNice);

    std::atomic<bool> ready{false};
    http::Services services{
        .jobs = jobs,
        .reads = store,
        .cluster = store,
        .dashboard = store,
        .blobs = blobs,
        .plugins = plugins,
        .config = config,
        .workers = [&scheduler] { return std::make_pair(scheduler.busy(), scheduler.total()); },
        .ready = ready,
        .waiters = waiters,
        .storage = storage,
        .metrics = metrics,
        .outbound = outbound,
        .fetchSource =
            [&](const std::string& url) {
                return notify::fetchSource(url, policy, blobs, notify::FetchLimits{config.maxUploadBytes});
            },
        .version = PIXELMILL_VERSION,
        .startedAtMonotonic = startedAt,
        .intake = &intake,
        .reloadPlugins = [&] { return rescanPlugins("reload_route"); },
    };
    services.access = std::make_shared<http::AccessControl>(std::move(access));
    http::GuardLimits guard;
    guard.headerTimeout = config.headerTimeoutSeconds;
    guard.keepaliveTimeout = config.keepaliveTimeoutSeconds;
    guard.bodyGrace = config.headerTimeoutSeconds;
    guard.minBodyRate = static_cast<double>(config.minBodyRate);
    guard.maxConnections = config.maxConnections;
    guard.maxPerClient = config.maxConnectionsPerClient;
    http::Server server(services, http::FrontLimits{config.maxUploadBytes, 16 * 1024}, guard);
    server.init(host, port, config.httpThreads);
    server.start();
    // A .so dropped into (or renamed into) the plugin folder is served without a restart.
    std::optional<PluginWatcher> watcher;
    if (config.watchPlugins)
        watcher.emplace(pluginDir, [&] {
            rescanPlugins("watch", true);
            return plugins.settling();
        });
    if (notifierOptions.publicUrl.empty())
        notifierOptions.publicUrl = "http://" + host + ":" + std::to_string(server.port());
    notifier.emplace(store, store, policy, [](const Job& job) { return http::jobJson(job).dump(); }, notifierOptions);
    events.subscribe([&notifier](const std::string&, JobState) { notifier->wake(); });
    metrics.onScrape([&](Metrics& m) {
        for (const auto& [state, n] : store.countByState())
            m.gauge("pixelmill_jobs", "Jobs in the store, by state", {{"state", std::string(toString(state))}})
                .Set(static_cast<double>(n));
        if (sqliteStore) sqliteMetrics(m, sqliteStore->walStats(), sqliteStore->writeStats());
        if (postgresStore) {
            WriteStats writes = postgresStore->writeStats();
            m.counterTo("pixelmill_postgres_commits_total",
                        "Transactions that recorded running attempts' outputs, progress and ends",
                        static_cast<double>(writes.commits));
            m.counterTo("pixelmill_postgres_writes_total",
                        "Outputs, progress and ends of running attempts written, many to a transaction",
                        static_cast<double>(writes.tasks));
        }
        m.gauge("pixelmill_workers_busy", "Workers running a job").Set(scheduler.busy());
        m.gauge("pixelmill_workers", "Workers in the pool").Set(scheduler.total());
        auto since = store.oldestReadySince(nowMs());
        m.gauge("pixelmill_oldest_queued_job_age_seconds", "How long the longest-waiting ready job has waited")
            .Set(since ? static_cast<double>(nowMs() - *since) / 1000.0 : 0.0);
        m.gauge("pixelmill_blob_store_bytes", "Bytes of blobs stored").Set(static_cast<double>(blobs.totalBytes()));
        m.gauge("pixelmill_blob_store_quota_bytes", "The storage quota in bytes (0: none)")
            .Set(static_cast<double>(config.maxStorageBytes));
        // This process's commits (uploads; outputs when plugins run in the daemon): a worker process keeps its own.
        m.counterTo("pixelmill_blob_sync_rounds_total", "Sync rounds that made committed blobs durable together",
                    static_cast<double>(blobs.syncRounds()));
        m.counterTo("pixelmill_blob_synced_total", "Blobs made durable by sync rounds (divide by rounds: blobs per round)",
                    static_cast<double>(blobs.syncedBlobs()));
        m.counterTo("pixelmill_output_evictions_total", "Rounds of output evictions for the storage quota",
                    static_cast<double>(storage.evictions()));
        notificationMetrics(m, sqliteStore, postgresStore, *notifier);
        httpMetrics(m, server.guard(), *services.access, intake);
        if (sqliteStore) storeConnectionMetrics(m, sqliteStore->connections());
        if (postgresStore) storeConnectionMetrics(m, postgresStore->connections());
        m.gauge("pixelmill_long_polls", "Requests parked with ?wait").Set(static_cast<double>(waiters.pending()));
        m.gauge("pixelmill_vips_tracked_memory_bytes", "Memory libvips has allocated")
            .Set(static_cast<double>(vips_tracked_get_mem()));
        m.gauge("pixelmill_vips_tracked_memory_highwater_bytes", "Most memory libvips has had allocated at once")
            .Set(static_cast<double>(vips_tracked_get_mem_highwater()));
        m.gauge("pixelmill_vips_tracked_allocations", "Allocations libvips holds")
            .Set(static_cast<double>(vips_tracked_get_allocs()));
        if (isolated) {
            m.counterTo("pixelmill_plugin_workers_started_total", "Plugin worker processes started",
                        static_cast<double>(isolated->started()));
            m.counterTo("pixelmill_plugin_worker_crashes_total", "Plugin worker processes that died under a job",
                        static_cast<double>(isolated->crashes()));
            m.gauge("pixelmill_plugin_workers", "Plugin worker processes alive")
                .Set(static_cast<double>(isolated->alive()));
            m.gauge("pixelmill_plugin_workers_resident_memory_bytes", "Resident memory of all plugin worker processes")
                .Set(static_cast<double>(isolated->residentBytes()));
        }
        if (store.shared()) {
            int64_t now = nowMs(), alive = 0, silent = 0;
            for (const NodeStatus& n : store.nodes(now - 3'600'000))
                ++(now - n.heartbeatAt <= static_cast<int64_t>(config.nodeTimeoutSeconds * 1000) ? alive : silent);
            m.gauge("pixelmill_cluster_nodes", "Daemons sharing the job store, by whether they still send heartbeats",
                    {{"state", "alive"}}).Set(static_cast<double>(alive));
            m.gauge("pixelmill_cluster_nodes", "Daemons sharing the job store, by whether they still send heartbeats",
                    {{"state", "silent"}}).Set(static_cast<double>(silent));
        }
        m.gauge("pixelmill_vips_open_files", "Files libvips holds open").Set(static_cast<double>(vips_tracked_get_files()));
    });
    // With other daemons on the store: heartbeats, rescues, and their submissions waking our workers.
    std::optional<ClusterNode> cluster;
    if (store.shared()) {
        node.address = host + ":" + std::to_string(server.port());
        ClusterNodeOptions clusterOptions;
        clusterOptions.heartbeatSeconds = config.heartbeatSeconds;
        clusterOptions.nodeTimeoutSeconds = config.nodeTimeoutSeconds;
        clusterOptions.leaseMs = static_cast<int64_t>((config.jobTimeoutSeconds + 30) * 1000);
        cluster.emplace(store, node, [&scheduler] { return std::make_pair(scheduler.busy(), scheduler.total()); },
                        [&scheduler](int jobs) { scheduler.jobsQueued(jobs); }, clusterOptions);
        cluster->start();
        store.watchForWork([&scheduler, workers = config.workers] { scheduler.jobsQueued(workers); });
        log::info("node_joined", {{"node", node.id}, {"nodes", static_cast<int>(store.nodes(nowMs() - 60'000).size())}});
    }
    scheduler.start();
    storage.start();
    notifier->start();
    ready = true;
    const std::string address = host + ":" + std::to_string(server.port());
    systemd.send("READY=1\nSTATUS=serving on " + address);
    // Pings only while the HTTP front responds to the daemon's own /healthz: a wedged front stops them.
    systemd.startWatchdog([&host, port = server.port()](std::chrono::milliseconds budget) {
        return frontResponds(host, port, "/healthz", budget);
    });
    log::info("listening", {{"address", address},
                            {"port", static_cast<int>(server.port())},
                            {"version", PIXELMILL_VERSION},
                            {"workers", config.workers},
                            {"http_threads", config.httpThreads},
                            {"plugins", static_cast<int>(plugins.list().size())},
                            {"isolation", config.isolation},
                            {"plugin_dir", pluginDir.string()},
                            {"data_dir", dataDir.string()},
                            {"recovered_jobs", recovered}});

    for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig == SIGHUP) {
            rescanPlugins("sighup");
            continue;
        }
        log::info("draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                               {"timeout_s", config.drainTimeoutSeconds}});
        systemd.send("STOPPING=1\nSTATUS=draining: running jobs finish, no new ones");
        break;
    }

    ready = false;
    jobs.stopAccepting();
    bool clean = scheduler.drain(config.drainTimeoutSeconds);
    notifier->stop();  // what it had not sent stays pending in the store
    intake.shutdown();    // answer uploads being checked…
    outbound.shutdown();  // finish downloads in flight…
    waiters.shutdown();   // …and answer long-polls while their connections still exist
    systemd.stopWatchdog();  // it asks the server, which goes now
    server.shutdown();
    if (!clean) {
        // A plugin that ignores should_stop() still holds a worker; its job stays
        // 'running' in the store and is requeued at the next start.
        log::warn("exit_with_stuck_workers", {});
        ::_exit(0);
    }
    scheduler.stop();
    storage.stop();
    if (cluster) cluster->stop();
    log::info("stopped", {{"uptime_s", monotonicSeconds() - startedAt}});
    ::close(lockFd);
    return 0;
}

}  // namespace pixelmill
