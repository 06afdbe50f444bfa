#include "config/config.h"
#include "common/text.h"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <sstream>

namespace pixelmill {

struct ConfigOptions::Option {
    std::string name;  // flag name without dashes: "max-upload-bytes"
    std::string help;
    bool isFlag = false;
    std::function<void(Config&, const std::string&)> apply;
    bool isList = false;  // a TOML array is accepted (as comma-separated text)
    std::string cliValue;
    bool cliFlag = false;
    CLI::Option* cli = nullptr;
};

namespace {

std::string envName(const std::string& flag) {
    std::string out = "PIXELMILL_";
    for (char c : flag) out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    return out;
}

long long parseInteger(const std::string& text, long long min, long long max) {
    size_t used = 0;
    long long v = 0;
    try {
        v = std::stoll(text, &used);
    } catch (const std::exception&) {
        throw std::invalid_argument("'" + text + "' is not an integer");
    }
    if (used != text.size()) throw std::invalid_argument("'" + text + "' is not an integer");
    if (v < min || v > max)
        throw std::invalid_argument("'" + text + "' is outside " + std::to_string(min) + ".." + std::to_string(max));
    return v;
}

double parseNumber(const std::string& text) {
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        throw std::invalid_argument("'" + text + "' is not a number");
    }
    if (used != text.size() || !std::isfinite(v) || v < 0) throw std::invalid_argument("'" + text + "' is not a number >= 0");
    return v;
}

std::string tomlValueToString(const toml::node& node, bool allowArray = false) {
    if (auto s = node.as_string()) return s->get();
    if (auto a = node.as_array(); a && allowArray) {  // lists become comma-separated text
        std::string out;
        for (const toml::node& item : *a) out += (out.empty() ? "" : ",") + tomlValueToString(item);
        return out;
    }
    if (auto i = node.as_integer()) return std::to_string(i->get());
    if (auto f = node.as_floating_point()) {
        std::ostringstream os;
        os << f->get();
        return os.str();
    }
    if (auto b = node.as_boolean()) return b->get() ? "true" : "false";
    throw std::invalid_argument("unsupported value type");
}

// [presets.NAME] tables: a string `plugin` and scalar parameters.
std::vector<ConfiguredPreset> readPresets(const toml::table& file, const std::string& path) {
    std::vector<ConfiguredPreset> out;
    const toml::node* node = file.get("presets");
    if (!node) return out;
    const toml::table* presets = node->as_table();
    if (!presets) throw std::invalid_argument("config file " + path + ": presets must be a table of [presets.NAME]");
    for (auto&& [name, value] : *presets) {
        std::string where = "config file " + path + ": presets." + std::string(name.str());
        const toml::table* table = value.as_table();
        if (!table) throw std::invalid_argument(where + " must be a table");
        const toml::node* plugin = table->get("plugin");
        if (!plugin || !plugin->is_string()) throw std::invalid_argument(where + " needs plugin = \"NAME\"");
        toml::table params = *table;
        params.erase("plugin");
        for (auto&& [key, param] : params)
            if (!param.is_string() && !param.is_integer() && !param.is_floating_point() && !param.is_boolean())
                throw std::invalid_argument(where + "." + std::string(key.str()) +
                                            ": a parameter is a string, number or boolean");
        std::ostringstream json;
        json << toml::json_formatter{params};
        out.push_back({std::string(name.str()), plugin->as_string()->get(), json.str()});
    }
    return out;
}

}  // namespace

uint64_t parseBytes(const std::string& text) {
    std::string t = lowerAscii(text);
    size_t i = 0;
    while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
    if (i == 0) throw std::invalid_argument("'" + text + "' is not a size");
    double number = std::stod(t.substr(0, i));
    std::string unit = t.substr(i);
    while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
    double mult = 1;
    if (unit.empty() || unit == "b") mult = 1;
    else if (unit == "k" || unit == "kb") mult = 1e3;
    else if (unit == "m" || unit == "mb") mult = 1e6;
    else if (unit == "g" || unit == "gb") mult = 1e9;
    else if (unit == "t" || unit == "tb") mult = 1e12;
    else if (unit == "kib") mult = 1024.0;
    else if (unit == "mib") mult = 1024.0 * 1024;
    else if (unit == "gib") mult = 1024.0 * 1024 * 1024;
    else if (unit == "tib") mult = 1024.0 * 1024 * 1024 * 1024;
    else throw std::invalid_argument("'" + text + "' has an unknown unit");
    return static_cast<uint64_t>(number * mult);
}

double parseSeconds(const std::string& text) {
    std::string t = lowerAscii(text);
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(t, &used);
    } catch (const std::exception&) {
        throw std::invalid_argument("'" + text + "' is not a duration");
    }
    if (!std::isfinite(v) || v < 0) throw std::invalid_argument("'" + text + "' is not a duration");
    std::string unit = t.substr(used);
    if (unit.empty() || unit == "s") return v;
    if (unit == "ms") return v / 1000;
    if (unit == "m" || unit == "min") return v * 60;
    if (unit == "h") return v * 3600;
    throw std::invalid_argument("'" + text + "' has an unknown unit");
}

bool parseBool(const std::string& text) {
    std::string t = lowerAscii(text);
    if (t == "1" || t == "true" || t == "yes" || t == "on") return true;
    if (t == "0" || t == "false" || t == "no" || t == "off" || t.empty()) return false;
    throw std::invalid_argument("'" + text + "' is not a boolean");
}

void splitListen(const std::string& listen, std::string& host, uint16_t& port) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0) throw std::invalid_argument("'" + listen + "' is not host:port");
    host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    port = static_cast<uint16_t>(parseInteger(listen.substr(colon + 1), 0, 65535));
}

ConfigOptions::ConfigOptions(CLI::App& app) {
    auto add = [&](std::string name, std::string help, std::function<void(Config&, const std::string&)> apply,
                   bool isFlag = false) {
        options_.push_back(Option{std::move(name), std::move(help), isFlag, std::move(apply), false, {}, false, nullptr});
    };
    add("listen", "address to serve on, host:port", [](Config& c, const std::string& v) {
        std::string h;
        uint16_t p;
        splitListen(v, h, p);
        c.listen = v;
    });
    add("data-dir", "folder for the database and blobs", [](Config& c, const std::string& v) { c.dataDir = v; });
    add("store", "job store: sqlite: (the default, in the data dir) or postgres://user@host:port/db shared by "
        "several daemons",
        [](Config& c, const std::string& v) {
            if (!v.empty() && v != "sqlite:" && v.rfind("postgres://", 0) != 0 && v.rfind("postgresql://", 0) != 0)
                throw std::invalid_argument("expected sqlite: or postgres://…, got '" + v + "'");
            c.store = v;
        });
    add("blob-dir", "folder for blobs (default: <data-dir>/blobs); with several daemons, storage they all mount",
        [](Config& c, const std::string& v) { c.blobDir = v; });
    add("heartbeat-interval", "with a shared store: seconds between a daemon's signs of life",
        [](Config& c, const std::string& v) { c.heartbeatSeconds = parseSeconds(v); });
    add("node-timeout", "with a shared store: a daemon silent this long is dead and its jobs run elsewhere",
        [](Config& c, const std::string& v) { c.nodeTimeoutSeconds = parseSeconds(v); });
    add("plugin-dir", "folder of plugin .so files (default: ../plugins next to the binary)",
        [](Config& c, const std::string& v) { c.pluginDir = v; });
    add("workers", "worker threads (default: one per core)",
        [](Config& c, const std::string& v) { c.workers = static_cast<int>(parseInteger(v, 0, 1024)); });
    add("max-upload-bytes", "largest accepted upload (256MiB)",
        [](Config& c, const std::string& v) { c.maxUploadBytes = parseBytes(v); });
    add("max-storage-bytes", "quota for stored blobs; 0 is none",
        [](Config& c, const std::string& v) { c.maxStorageBytes = parseBytes(v); });
    add("allow-private-network", "let source_url and callback_url reach private and loopback addresses",
        [](Config& c, const std::string& v) { c.allowPrivateNetwork = parseBool(v); }, true);
    add("webhook-secret", "HMAC-SHA256 key for X-Pixelmill-Signature",
        [](Config& c, const std::string& v) { c.webhookSecret = v; });
    add("link-secret", "HMAC-SHA256 key that signs share links (/s/…), at least 16 characters; default: one made "
        "into <data-dir>/link-secret; daemons sharing a store need the same one; a new one revokes every link",
        [](Config& c, const std::string& v) {
            if (!v.empty() && v.size() < 16)  // empty: the one in the data dir
                throw std::invalid_argument("a link secret must be at least 16 characters long");
            c.linkSecret = v;
        });
    add("notify-retry-base", "first retry of a webhook or email (5s); then x3, 6 attempts in all",
        [](Config& c, const std::string& v) { c.notifyRetryBaseSeconds = parseSeconds(v); });
    add("smtp-url", "SMTP server for callback_email, smtp://host:port",
        [](Config& c, const std::string& v) { c.smtpUrl = v; });
    add("mail-from", "sender of callback emails (pixelmill@<host name>)",
        [](Config& c, const std::string& v) { c.mailFrom = v; });
    add("public-url", "base URL of links in emails (http://<listen>)",
        [](Config& c, const std::string& v) { c.publicUrl = v; });
    add("allow-hosts", "comma-separated hosts that source_url and callback_url may reach even on private addresses",
        [](Config& c, const std::string& v) {
            c.allowHosts.clear();
            size_t start = 0;
            while (start <= v.size()) {
                size_t comma = v.find(',', start);
                std::string host = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                host.erase(0, host.find_first_not_of(' '));
                host.erase(host.find_last_not_of(' ') + 1);
                if (!host.empty()) c.allowHosts.push_back(lowerAscii(host));
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
        });
    options_.back().isList = true;
    add("original-retention", "age after which unused originals' content is removed (0: never)",
        [](Config& c, const std::string& v) { c.originalRetentionSeconds = parseSeconds(v); });
    add("token-file", "file of API tokens, one 'NAME SCOPES sha256:HEX' per line (pixelmill token makes them); "
        "with it every route but /healthz and /readyz needs a token",
        [](Config& c, const std::string& v) { c.tokenFile = v; });
    add("insecure", "serve a non-loopback --listen address without a token file",
        [](Config& c, const std::string& v) { c.insecure = parseBool(v); }, true);
    add("public-metrics", "leave /metrics open when tokens are required (for a Prometheus without a token)",
        [](Config& c, const std::string& v) { c.publicMetrics = parseBool(v); }, true);
    add("rate-limit", "requests per second per client (token, else IP address); 0: no limit",
        [](Config& c, const std::string& v) { c.rateLimit = parseNumber(v); });
    add("rate-burst", "requests a client may send at once before --rate-limit applies (default: the rate)",
        [](Config& c, const std::string& v) { c.rateBurst = parseNumber(v); });
    add("job-timeout", "time one attempt may run (60s)",
        [](Config& c, const std::string& v) { c.jobTimeoutSeconds = parseSeconds(v); });
    add("max-pixels", "largest source in pixels (71000000)",
        [](Config& c, const std::string& v) { c.maxPixels = static_cast<uint64_t>(parseInteger(v, 1, 1LL << 40)); });
    add("max-pages", "most pages rendered per PDF (1000)",
        [](Config& c, const std::string& v) { c.maxPages = static_cast<uint32_t>(parseInteger(v, 1, 1'000'000)); });
    add("max-svg-bytes", "largest SVG source (8MiB); larger ones get 422",
        [](Config& c, const std::string& v) { c.maxSvgBytes = parseBytes(v); });
    add("queue-limit", "queued jobs beyond which submits get 429 (100000)",
        [](Config& c, const std::string& v) { c.queueLimit = static_cast<uint64_t>(parseInteger(v, 1, 1LL << 40)); });
    add("drain-timeout", "time running jobs get to finish on SIGTERM (30s)",
        [](Config& c, const std::string& v) { c.drainTimeoutSeconds = parseSeconds(v); });
    add("max-attempts", "attempts per job for transient failures (3)",
        [](Config& c, const std::string& v) { c.maxAttempts = static_cast<int>(parseInteger(v, 1, 100)); });
    add("retry-base", "backoff before the first retry, doubled each time (1s)",
        [](Config& c, const std::string& v) { c.retryBaseSeconds = parseSeconds(v); });
    add("http-threads", "HTTP reactor threads (default: max(2, cores))",
        [](Config& c, const std::string& v) { c.httpThreads = static_cast<int>(parseInteger(v, 0, 256)); });
    add("header-timeout", "time a request's head may take to arrive (10s)",
        [](Config& c, const std::string& v) { c.headerTimeoutSeconds = parseSeconds(v); });
    add("keepalive-timeout", "idle time after which a connection is closed (75s)",
        [](Config& c, const std::string& v) { c.keepaliveTimeoutSeconds = parseSeconds(v); });
    add("min-body-rate", "bytes per second a request body must average once --header-timeout has passed (1KiB)",
        [](Config& c, const std::string& v) { c.minBodyRate = parseBytes(v); });
    add("max-connections", "open connections beyond which new ones are closed (1024)",
        [](Config& c, const std::string& v) { c.maxConnections = static_cast<uint64_t>(parseInteger(v, 1, 1'000'000)); });
    add("max-connections-per-client", "open connections from one client address beyond which new ones are closed (64)",
        [](Config& c, const std::string& v) {
            c.maxConnectionsPerClient = static_cast<uint64_t>(parseInteger(v, 1, 1'000'000));
        });
    add("max-long-polls", "?wait= requests that may wait at once; more are answered 503 too_many_waiters (10000)",
        [](Config& c, const std::string& v) { c.maxLongPolls = static_cast<uint64_t>(parseInteger(v, 1, 1'000'000)); });
    add("fsync", "fsync blobs and commits (true); false survives a process crash, not a power cut",
        [](Config& c, const std::string& v) { c.fsync = parseBool(v); });
    add("watch-plugins", "load plugins dropped into the plugin folder as they arrive (inotify); "
        "SIGHUP and POST /v1/plugins/reload rescan either way",
        [](Config& c, const std::string& v) { c.watchPlugins = parseBool(v); }, true);
    add("isolation", "process: plugins run in supervised worker processes (a crash kills a worker, not the "
        "daemon); none: in the daemon's threads, faster, for trusted plugins",
        [](Config& c, const std::string& v) {
            if (v != "process" && v != "none") throw std::invalid_argument("'" + v + "' is not process or none");
            c.isolation = v;
        });
    add("worker-memory-limit", "address-space limit of each worker process (4GiB; 0: none)",
        [](Config& c, const std::string& v) { c.workerMemoryLimit = parseBytes(v); });
    add("worker-cpu-limit", "CPU seconds one job may use in a worker (0: job timeout x cores)",
        [](Config& c, const std::string& v) { c.workerCpuSeconds = parseSeconds(v); });
    add("log-level", "debug, info, warn or error", [](Config& c, const std::string& v) {
        static const std::vector<std::string> ok{"debug", "info", "warn", "error"};
        if (std::find(ok.begin(), ok.end(), lowerAscii(v)) == ok.end())
            throw std::invalid_argument("'" + v + "' is not one of debug, info, warn, error");
        c.logLevel = lowerAscii(v);
    });
    add("log-format", "logfmt (key=value) or json, one event a line", [](Config& c, const std::string& v) {
        if (lowerAscii(v) != "logfmt" && lowerAscii(v) != "json")
            throw std::invalid_argument("'" + v + "' is not one of logfmt, json");
        c.logFormat = lowerAscii(v);
    });

    app.add_option("--config", configFile_, "TOML config file")->envname("PIXELMILL_CONFIG");
    for (Option& o : options_) {
        std::string help = o.help + " [env " + envName(o.name) + "]";
        if (o.isFlag) {
            o.cli = app.add_option("--" + o.name, o.cliValue, help)->expected(0, 1)->default_str("true");
        } else {
            o.cli = app.add_option("--" + o.name, o.cliValue, help);
        }
    }
}

ConfigOptions::~ConfigOptions() = default;

Config ConfigOptions::resolve() const {
    Config config;
    config.configFile = configFile_;

    toml::table file;
    if (!config.configFile.empty()) {
        try {
            file = toml::parse_file(config.configFile);
        } catch (const toml::parse_error& e) {
            std::ostringstream os;
            os << "config file " << config.configFile << ": " << e.description() << " at line "
               << e.source().begin.line;
            throw std::invalid_argument(os.str());
        }
        for (auto&& [key, node] : file) {
            std::string k(key.str());
            std::replace(k.begin(), k.end(), '_', '-');
            bool known = std::any_of(options_.begin(), options_.end(), [&](const Option& o) { return o.name == k; });
            if (!known && !node.is_table())
                throw std::invalid_argument("config file " + config.configFile + ": unknown option '" +
                                            std::string(key.str()) + "'");
        }
        config.presets = readPresets(file, config.configFile);
    }

    for (const Option& o : options_) {
        std::string value;
        std::string source;
        if (o.cli && o.cli->count() > 0) {
            value = o.cliValue.empty() && o.isFlag ? "true" : o.cliValue;
            source = "--" + o.name;
        } else if (const char* env = std::getenv(envName(o.name).c_str())) {
            value = env;
            source = envName(o.name);
        } else {
            std::string underscored = o.name;
            std::replace(underscored.begin(), underscored.end(), '-', '_');
            const toml::node* node = file.get(o.name);
            if (!node) node = file.get(underscored);
            if (!node) continue;
            try {
                value = tomlValueToString(*node, o.isList);
            } catch (const std::exception& e) {
                throw std::invalid_argument("config file " + config.configFile + ": " + o.name + ": " + e.what());
            }
            source = "config file key " + o.name;
        }
        try {
            o.apply(config, value);
        } catch (const std::exception& e) {
            throw std::invalid_argument(source + ": " + e.what());
        }
    }
    return config;
}

std::string Config::describe() const {
    std::ostringstream os;
    os << "listen=" << listen << " data_dir=" << dataDir << " store=" << (store.rfind("postgres", 0) == 0 ? "postgres" : "sqlite")
       << " plugin_dir=" << pluginDir << " workers=" << workers
       << " max_upload_bytes=" << maxUploadBytes << " job_timeout_s=" << jobTimeoutSeconds
       << " max_attempts=" << maxAttempts << " fsync=" << (fsync ? "true" : "false");
    return os.str();
}

}  // namespace pixelmill
