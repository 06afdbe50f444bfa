#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace pixelmill {

// Everything `pixelmill serve` can be told. Each field is also a flag
// (--listen), an environment variable (PIXELMILL_LISTEN) and a key of the
// TOML config file (listen = "…"); flag beats env beats file beats default.
// A preset from the config file: [presets.NAME], `plugin = "…"`, then parameters.
struct ConfiguredPreset {
    std::string name;
    std::string plugin;
    std::string params;  // the table's other keys, as a JSON object
};

struct Config {
    std::string listen = "127.0.0.1:8080";
    std::string dataDir = "./data";
    std::string store;                   // empty or "sqlite:": SQLite in the data dir; postgres://…: shared by daemons
    std::string blobDir;                 // empty: <data-dir>/blobs; may be storage every daemon mounts
    double heartbeatSeconds = 2;         // several daemons: how often each says it is alive
    double nodeTimeoutSeconds = 15;      // several daemons: silent this long, a daemon's jobs are rescued
    std::string pluginDir;               // empty: ../plugins next to the binary
    int workers = 0;                     // 0: one per core
    std::string configFile;

    uint64_t maxUploadBytes = 256ull << 20;
    uint64_t maxStorageBytes = 0;        // 0: no quota
    bool allowPrivateNetwork = false;
    std::string webhookSecret;
    std::string linkSecret;              // signs share links; empty: <data-dir>/link-secret, made when absent
    double notifyRetryBaseSeconds = 5;   // notification retries: base, x3 each time, 6 attempts
    std::string smtpUrl;
    std::string mailFrom;                // default: pixelmill@<host name>
    std::string publicUrl;               // base of links in emails; default http://<listen>
    std::vector<std::string> allowHosts; // hosts reachable even on private addresses
    double originalRetentionSeconds = 0; // 0: originals are kept until deleted
    std::string tokenFile;               // API tokens (http/server/access.h); none: auth off, loopback only
    bool insecure = false;               // serve a non-loopback address without tokens
    bool publicMetrics = false;          // /metrics open even when auth is on
    double rateLimit = 0;                // requests/s per token or IP; 0: no limit
    double rateBurst = 0;                // 0: max(1, rateLimit)
    double jobTimeoutSeconds = 60;
    uint64_t maxPixels = 71'000'000;
    uint32_t maxPages = 1000;
    uint64_t maxSvgBytes = 8ull << 20;   // larger SVG sources get 422 (the reference check reads all of one)
    uint64_t queueLimit = 100'000;
    double drainTimeoutSeconds = 30;
    int maxAttempts = 3;
    double retryBaseSeconds = 1;         // first backoff; doubles per attempt
    int httpThreads = 0;                 // 0: max(2, cores)
    double headerTimeoutSeconds = 10;    // a request's head must arrive within this
    double keepaliveTimeoutSeconds = 75; // idle connections are closed after this
    uint64_t minBodyRate = 1024;         // bytes/s a body must average after 10 s
    uint64_t maxConnections = 1024;
    uint64_t maxConnectionsPerClient = 64;  // open connections from one client address
    uint64_t maxLongPolls = 10'000;      // ?wait= requests waiting at once; more are 503 too_many_waiters
    bool fsync = true;                   // fsync blobs and the database on commit
    bool watchPlugins = true;            // load .so files dropped into the plugin folder without a restart
    std::string isolation = "process";   // process: plugins run in worker processes; none: in the daemon
    uint64_t workerMemoryLimit = 4ull << 30;  // RLIMIT_AS of a worker process; 0: none
    double workerCpuSeconds = 0;         // RLIMIT_CPU per job in a worker; 0: job timeout x cores
    std::string logLevel = "info";
    std::string logFormat = "logfmt";  // or "json"
    std::vector<ConfiguredPreset> presets;  // config file only: no flag or variable names them

    // Filled in by resolve(): the effective values, for logs and /v1/status.
    std::string describe() const;
};

// Binds Config's options to a CLI11 subcommand and resolves the precedence
// (flag > PIXELMILL_* env > config file > default) after parsing.
class ConfigOptions {
public:
    explicit ConfigOptions(CLI::App& app);
    ~ConfigOptions();
    ConfigOptions(const ConfigOptions&) = delete;
    ConfigOptions& operator=(const ConfigOptions&) = delete;

    // Throws std::invalid_argument naming the source and option on bad values.
    Config resolve() const;

private:
    struct Option;
    std::vector<Option> options_;  // vector of an incomplete type: fine since C++17
    std::string configFile_;
};

// Parses "256MiB", "10M", "4096" into bytes; throws std::invalid_argument.
uint64_t parseBytes(const std::string& text);
// Parses "60", "60s", "1.5m", "250ms" into seconds; throws std::invalid_argument.
double parseSeconds(const std::string& text);
bool parseBool(const std::string& text);

// Splits "host:port"; throws std::invalid_argument.
void splitListen(const std::string& listen, std::string& host, uint16_t& port);

}  // namespace pixelmill
