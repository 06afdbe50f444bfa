#include "app/daemon.h"

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/priorities.h"
#include "common/sha256.h"
#include "http/api/job_json.h"
#include "notify/email_message.h"
#include "notify/fetcher.h"
#include "plugins/image_library.h"
#include "store/connection_counts.h"
#include "store/postgres/postgres_job_store.h"
#include "store/sqlite/sqlite_job_store.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
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

// Blobs may live on storage every daemon mounts; each daemon writes its
// temp files in a folder of its own there (renames stay on one file system).
fs::path tempDirFor(const Config& config, const fs::path& dataDir, const fs::path& blobDir) {
    if (config.blobDir.empty()) return dataDir / "tmp";
    return blobDir / ".tmp" / (notify::localHostName() + "-" + Sha256::hex(dataDir.string()).substr(0, 12));
}

NodeStatus thisNode(const Config& config) {
    NodeStatus node;
    node.id = notify::localHostName() + "-" + newId().substr(0, 8);  // a new one at every start
    node.address = config.listen;
    node.version = PIXELMILL_VERSION;
    node.startedAt = nowMs();
    return node;
}

// Threads for the routes that may wait (see the intake pool). With SQLite
// most of their time is a wait for the group commit, which takes every write
// in flight at once: many threads, few cores. PostgreSQL groups commits
// across connections itself, and each thread may hold a connection of a
// server that several daemons share: fewer.
int intakeThreadsFor(const Config& config) {
    bool shared = config.store.rfind("postgres", 0) == 0;
    return shared ? std::max(8, 2 * config.httpThreads) : std::max(64, 4 * config.httpThreads);
}

OpenedStore openStore(const Config& config, const fs::path& dataDir, const NodeStatus& node, int intakeThreads) {
    OpenedStore opened;
    if (config.store.rfind("postgres", 0) == 0) {
        PostgresJobStore::Options options;
        options.nodeId = node.id;
        options.poolSize = config.workers + config.httpThreads + intakeThreads + 4;
        try {
            auto postgres = std::make_unique<PostgresJobStore>(config.store, options);
            opened.postgres = postgres.get();
            opened.store = std::move(postgres);
        } catch (const std::exception& e) {
            log::error("store_unreachable", {{"error", e.what()}});
            throw std::runtime_error(std::string("cannot open the job store: ") + e.what());
        }
        // Other daemons share the database: only leases that ran out are orphans.
        opened.recovered = opened.store->requeueExpired(nowMs(), false);
        return opened;
    }
    SqliteJobStore::Options options;
    options.fsync = config.fsync;
    auto sqlite = std::make_unique<SqliteJobStore>((dataDir / "pixelmill.db").string(), options);
    opened.sqlite = sqlite.get();
    opened.store = std::move(sqlite);
    // One daemon owns this file (the data folder's lock): whatever was running belongs to a dead process.
    opened.recovered = opened.store->requeueExpired(nowMs(), true);
    return opened;
}

// The plugin folder scanned, libraries loaded from checked copies under the
// data folder (see PluginLoading::staging), each first loaded in a child process.
std::unique_ptr<PluginHost> loadPlugins(const Config& config, const fs::path& dataDir) {
    PluginLoading loading{.staging = dataDir / "plugins-loaded"};
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) loading.check = [self](const fs::path& library) { return checkInChild(self, library); };
    auto plugins = std::make_unique<PluginHost>(config.pluginDir, PluginLimits{config.maxPixels, config.maxPages},
                                                std::move(loading));
    plugins->scan();
    return plugins;
}

// Plugins run in supervised worker processes unless told to trust them
// (--isolation none): null then.
std::unique_ptr<worker::ProcessExecutor> workerProcesses(const Config& config, PluginHost& plugins, BlobStore& blobs,
                                                         const fs::path& dataDir, const fs::path& blobDir,
                                                         const fs::path& tmpDir, unsigned cores) {
    if (config.isolation != "process") return nullptr;
    std::error_code ec;
    worker::ProcessExecutorOptions w;
    w.binary = fs::read_symlink("/proc/self/exe", ec).string();
    double cpu = config.workerCpuSeconds > 0 ? config.workerCpuSeconds : config.jobTimeoutSeconds * cores;
    w.args = {"--plugin-dir", (dataDir / "plugins-loaded").string(),
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
    auto isolated = std::make_unique<worker::ProcessExecutor>(w, blobs);
    plugins.setProbeRunner([executor = isolated.get()](const PluginDescriptor& p, const std::string& path,
                                                       std::string_view type) {
        return executor->probe(p.name, p.version, path, std::string(type));
    });
    return isolated;
}

SchedulerOptions schedulerOptions(const Config& config) {
    SchedulerOptions options;
    options.workers = config.workers;
    options.jobTimeoutSeconds = config.jobTimeoutSeconds;
    options.retryBaseSeconds = config.retryBaseSeconds;
    return options;
}

StorageOptions storageOptions(const Config& config) {
    StorageOptions options;
    options.quotaBytes = config.maxStorageBytes;
    options.originalRetentionSeconds = config.originalRetentionSeconds;
    return options;
}

notify::NotifierOptions notifierOptions(const Config& config, const std::string& defaultUrl) {
    notify::NotifierOptions options;
    options.webhookSecret = config.webhookSecret;
    options.smtpUrl = config.smtpUrl;
    options.mailFrom = config.mailFrom;
    options.publicUrl = config.publicUrl.empty() ? defaultUrl : config.publicUrl;
    options.retrySchedule.clear();
    for (int i = 0, factor = 1; i < 5; ++i, factor *= 3)  // 5 s, 15 s, 45 s, 2¼ min, 6¾ min by default
        options.retrySchedule.push_back(
            std::chrono::milliseconds(static_cast<int64_t>(config.notifyRetryBaseSeconds * 1000 * factor)));
    return options;
}

http::GuardLimits guardLimits(const Config& config) {
    http::GuardLimits guard;
    guard.headerTimeout = config.headerTimeoutSeconds;
    guard.keepaliveTimeout = config.keepaliveTimeoutSeconds;
    guard.bodyGrace = config.headerTimeoutSeconds;
    guard.minBodyRate = static_cast<double>(config.minBodyRate);
    guard.maxConnections = config.maxConnections;
    guard.maxPerClient = config.maxConnectionsPerClient;
    return guard;
}

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

// What signs share links: --link-secret, else the secret kept in the data
// folder (made at the first start). Daemons sharing a store each make their
// own unless told one, and then honour only their own links.
ShareLinks shareLinks(const Config& config, const fs::path& dataDir) {
    if (!config.linkSecret.empty()) return ShareLinks(config.linkSecret);
    if (config.store.rfind("postgres", 0) == 0)
        log::warn("link_secret_per_node", {{"hint", "give every daemon sharing the store the same --link-secret, "
                                                    "or a share link works only on the daemon that made it"}});
    return ShareLinks(loadOrCreateLinkSecret(dataDir / "link-secret"));
}

// The store's pooled connections: PostgreSQL's, or SQLite's readers.
void storeConnectionMetrics(Metrics& m, ConnectionCounts c) {
    const char* help = "Job store connections of this process, by state: in_use (borrowed by a call) or idle (pooled)";
    m.gauge("pixelmill_store_connections", help, {{"state", "in_use"}}).Set(static_cast<double>(c.inUse));
    m.gauge("pixelmill_store_connections", help, {{"state", "idle"}}).Set(static_cast<double>(c.idle));
}

// The config file's presets; a bad name stops the daemon before it serves.
std::vector<Preset> configuredPresets(const Config& config) {
    std::vector<Preset> out;
    for (const ConfiguredPreset& c : config.presets) {
        if (!Presets::validName(c.name))
            throw std::runtime_error("config file: preset name '" + c.name +
                                     "' is not 1 to 64 letters, digits, '.', '_' or '-'");
        out.push_back({c.name, c.plugin, nlohmann::json::parse(c.params), 0, true});
    }
    return out;
}

}  // namespace

Daemon::Daemon(ServeSetup setup, SystemdNotifier& systemd)
    : setup_(std::move(setup)),
      systemd_(systemd),
      cores_(std::max(1u, std::thread::hardware_concurrency())),
      dataDir_(fs::absolute(config_.dataDir)),
      lockFd_((fs::create_directories(dataDir_), lockDataDir(dataDir_))),
      blobDir_(config_.blobDir.empty() ? dataDir_ / "blobs" : fs::absolute(config_.blobDir)),
      tmpDir_(tempDirFor(config_, dataDir_, blobDir_)),
      blobs_(blobDir_, tmpDir_, config_.fsync),
      node_(thisNode(config_)),
      intakeThreads_(intakeThreadsFor(config_)),
      opened_(openStore(config_, dataDir_, node_, intakeThreads_)),
      store_(*opened_.store),
      plugins_(loadPlugins(config_, dataDir_)),
      metrics_(PIXELMILL_VERSION),
      inProcess_(*plugins_),
      isolated_(workerProcesses(config_, *plugins_, blobs_, dataDir_, blobDir_, tmpDir_, cores_)),
      executor_(isolated_ ? static_cast<Executor&>(*isolated_) : inProcess_),
      waiters_(config_.maxLongPolls),
      scheduler_(store_, store_, blobs_, executor_, events_, schedulerOptions(config_), &metrics_, &store_),
      policy_(config_.allowPrivateNetwork, config_.allowHosts),
      storage_({.originals = store_, .cache = store_, .references = store_, .queue = store_}, blobs_,
               storageOptions(config_)),
      presets_(store_, *plugins_, configuredPresets(config_)),
      jobs_({.queue = store_, .reads = store_, .originals = store_, .cache = store_, .references = store_}, blobs_,
            *plugins_, scheduler_, events_,
            JobLimits{config_.maxPixels, config_.maxPages, config_.maxAttempts, config_.queueLimit,
                      config_.maxSvgBytes},
            {.metrics = &metrics_,
             .storage = &storage_,
             .checkCallback = [this](const std::string& url) { policy_.check(url, "callback_url"); },
             .presets = &presets_}),
      outbound_(4),
      // Every request that may wait (a commit, a probe, an SVG scan, a DNS
      // lookup) runs here, never on a reactor thread; at a lower priority
      // than the reactors, so that a core busy with an upload's checks is
      // still handed at once to a reactor with a request to frame or answer.
      intake_(intakeThreads_, kIntakeNice),
      links_(shareLinks(config_, dataDir_)),
      services_(services()),
      server_(services_, http::FrontLimits{config_.maxUploadBytes, 16 * 1024}, guardLimits(config_)) {
    events_.subscribe([this](const std::string& id, JobState) { waiters_.notify(id); });
    events_.subscribe([this](const std::string&, JobState state) {
        if (state == JobState::Succeeded) storage_.nudge();  // new outputs count against the quota
    });
    services_.access = std::make_shared<http::AccessControl>(std::move(setup_.access));
}

Daemon::~Daemon() { ::close(lockFd_); }

http::Services Daemon::services() {
    return http::Services{
        .jobs = jobs_,
        .reads = store_,
        .cluster = store_,
        .dashboard = store_,
        .blobs = blobs_,
        .plugins = *plugins_,
        .config = config_,
        .links = links_,
        .workers = [this] { return std::make_pair(scheduler_.busy(), scheduler_.total()); },
        .ready = ready_,
        .waiters = waiters_,
        .storage = storage_,
        .presets = presets_,
        .metrics = metrics_,
        .outbound = outbound_,
        .fetchSource =
            [this](const std::string& url) {
                return notify::fetchSource(url, policy_, blobs_, notify::FetchLimits{config_.maxUploadBytes});
            },
        .version = PIXELMILL_VERSION,
        .startedAtMonotonic = setup_.startedAt,
        .intake = &intake_,
        .reloadPlugins = [this] { return rescanPlugins("reload_route"); },
    };
}

int Daemon::rescanPlugins(const char* why, bool settle) {
    int added = plugins_->scan(settle);
    if (added > 0) log::info("plugins_rescanned", {{"added", added}, {"trigger", why}});
    return added;
}

int Daemon::run(const sigset_t& signals) {
    start();
    waitForStop(signals);
    if (!drain()) {
        // A plugin that ignores should_stop() still holds a worker; its job stays
        // 'running' in the store and is requeued at the next start.
        log::warn("exit_with_stuck_workers", {});
        ::_exit(0);
    }
    log::info("stopped", {{"uptime_s", monotonicSeconds() - setup_.startedAt}});
    return 0;
}

void Daemon::start() {
    const std::string& host = setup_.host;
    server_.init(host, setup_.port, config_.httpThreads);
    server_.start();
    // A .so dropped into (or renamed into) the plugin folder is served without a restart.
    if (config_.watchPlugins)
        watcher_.emplace(config_.pluginDir, [this] {
            rescanPlugins("watch", true);
            return plugins_->settling();
        });
    const std::string address = host + ":" + std::to_string(server_.port());
    notifier_.emplace(store_, store_, policy_, [](const Job& job) { return http::jobJson(job).dump(); },
                      notifierOptions(config_, "http://" + address));
    events_.subscribe([this](const std::string&, JobState) { notifier_->wake(); });
    registerMetrics();
    // With other daemons on the store: heartbeats, rescues, and their submissions waking our workers.
    if (store_.shared()) {
        node_.address = address;
        ClusterNodeOptions clusterOptions;
        clusterOptions.heartbeatSeconds = config_.heartbeatSeconds;
        clusterOptions.nodeTimeoutSeconds = config_.nodeTimeoutSeconds;
        clusterOptions.leaseMs = static_cast<int64_t>((config_.jobTimeoutSeconds + 30) * 1000);
        cluster_.emplace(store_, node_, [this] { return std::make_pair(scheduler_.busy(), scheduler_.total()); },
                         [this](int jobs) { scheduler_.jobsQueued(jobs); }, clusterOptions);
        cluster_->start();
        store_.watchForWork([this, workers = config_.workers] { scheduler_.jobsQueued(workers); });
        log::info("node_joined",
                  {{"node", node_.id}, {"nodes", static_cast<int>(store_.nodes(nowMs() - 60'000).size())}});
    }
    scheduler_.start();
    storage_.start();
    notifier_->start();
    ready_ = true;
    systemd_.send("READY=1\nSTATUS=serving on " + address);
    // Pings only while the HTTP front responds to the daemon's own /healthz: a wedged front stops them.
    systemd_.startWatchdog([host, port = server_.port()](std::chrono::milliseconds budget) {
        return frontResponds(host, port, "/healthz", budget);
    });
    log::info("listening", {{"address", address},
                            {"port", static_cast<int>(server_.port())},
                            {"version", PIXELMILL_VERSION},
                            {"workers", config_.workers},
                            {"http_threads", config_.httpThreads},
                            {"plugins", static_cast<int>(plugins_->list().size())},
                            {"isolation", config_.isolation},
                            {"plugin_dir", config_.pluginDir},
                            {"data_dir", dataDir_.string()},
                            {"recovered_jobs", opened_.recovered}});
}

void Daemon::waitForStop(const sigset_t& signals) {
    for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig == SIGHUP) {
            rescanPlugins("sighup");
            continue;
        }
        log::info("draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                               {"timeout_s", config_.drainTimeoutSeconds}});
        systemd_.send("STOPPING=1\nSTATUS=draining: running jobs finish, no new ones");
        return;
    }
}

// No new jobs; running ones finish (up to the drain timeout); answers owed
// go out while their connections exist; then the server and the rest stop.
// False when a job would not stop in time.
bool Daemon::drain() {
    ready_ = false;
    jobs_.stopAccepting();
    bool clean = scheduler_.drain(config_.drainTimeoutSeconds);
    notifier_->stop();    // what it had not sent stays pending in the store
    intake_.shutdown();    // answer uploads being checked…
    outbound_.shutdown();  // finish downloads in flight…
    waiters_.shutdown();   // …and answer long-polls while their connections still exist
    systemd_.stopWatchdog();  // it asks the server, which goes now
    server_.shutdown();
    if (!clean) return false;
    scheduler_.stop();
    storage_.stop();
    if (cluster_) cluster_->stop();
    return true;
}

// Each family is registered on first scrape by the part it tells of.
void Daemon::registerMetrics() {
    metrics_.onScrape([this](Metrics& m) {
        queueMetrics(m);
        storeMetrics(m);
        storageMetrics(m);
        notificationMetrics(m, opened_.sqlite, opened_.postgres, *notifier_);
        httpMetrics(m, server_.guard(), *services_.access, intake_);
        m.gauge("pixelmill_long_polls", "Requests parked with ?wait").Set(static_cast<double>(waiters_.pending()));
        reportImageLibrary(m);
        if (isolated_) isolated_->report(m);
        if (store_.shared()) clusterMetrics(m);
    });
}

// Jobs by state, the workers, and how long the oldest ready job has waited.
void Daemon::queueMetrics(Metrics& m) {
    for (const auto& [state, n] : store_.countByState())
        m.gauge("pixelmill_jobs", "Jobs in the store, by state", {{"state", std::string(toString(state))}})
            .Set(static_cast<double>(n));
    m.gauge("pixelmill_workers_busy", "Workers running a job").Set(scheduler_.busy());
    m.gauge("pixelmill_workers", "Workers in the pool").Set(scheduler_.total());
    auto since = store_.oldestReadySince(nowMs());
    m.gauge("pixelmill_oldest_queued_job_age_seconds", "How long the longest-waiting ready job has waited")
        .Set(since ? static_cast<double>(nowMs() - *since) / 1000.0 : 0.0);
}

// The database: SQLite's WAL and group commit, PostgreSQL's batched writes, pooled connections.
void Daemon::storeMetrics(Metrics& m) {
    if (opened_.sqlite) {
        sqliteMetrics(m, opened_.sqlite->walStats(), opened_.sqlite->writeStats());
        storeConnectionMetrics(m, opened_.sqlite->connections());
    }
    if (opened_.postgres) {
        WriteStats writes = opened_.postgres->writeStats();
        m.counterTo("pixelmill_postgres_commits_total",
                    "Transactions that recorded running attempts' outputs, progress and ends",
                    static_cast<double>(writes.commits));
        m.counterTo("pixelmill_postgres_writes_total",
                    "Outputs, progress and ends of running attempts written, many to a transaction",
                    static_cast<double>(writes.tasks));
        storeConnectionMetrics(m, opened_.postgres->connections());
    }
}

// The blob files: bytes against the quota, sync rounds, evictions.
void Daemon::storageMetrics(Metrics& m) {
    m.gauge("pixelmill_blob_store_bytes", "Bytes of blobs stored").Set(static_cast<double>(blobs_.totalBytes()));
    m.gauge("pixelmill_blob_store_quota_bytes", "The storage quota in bytes (0: none)")
        .Set(static_cast<double>(config_.maxStorageBytes));
    // This process's commits (uploads; outputs when plugins run in the daemon): a worker process keeps its own.
    m.counterTo("pixelmill_blob_sync_rounds_total", "Sync rounds that made committed blobs durable together",
                static_cast<double>(blobs_.syncRounds()));
    m.counterTo("pixelmill_blob_synced_total", "Blobs made durable by sync rounds (divide by rounds: blobs per round)",
                static_cast<double>(blobs_.syncedBlobs()));
    m.counterTo("pixelmill_output_evictions_total", "Rounds of output evictions for the storage quota",
                static_cast<double>(storage_.evictions()));
}

// The daemons sharing the store, by whether they still send heartbeats.
void Daemon::clusterMetrics(Metrics& m) {
    int64_t now = nowMs(), alive = 0, silent = 0;
    for (const NodeStatus& n : store_.nodes(now - 3'600'000))
        ++(now - n.heartbeatAt <= static_cast<int64_t>(config_.nodeTimeoutSeconds * 1000) ? alive : silent);
    const char* help = "Daemons sharing the job store, by whether they still send heartbeats";
    m.gauge("pixelmill_cluster_nodes", help, {{"state", "alive"}}).Set(static_cast<double>(alive));
    m.gauge("pixelmill_cluster_nodes", help, {{"state", "silent"}}).Set(static_cast<double>(silent));
}

}  // namespace pixelmill
