#include "app/commands.h"

#include "app/daemon.h"
#include "app/systemd_notify.h"
#include "common/clock.h"
#include "common/log.h"
#include "http/server/access.h"
#include "http/server/route_rules.h"

#include <csignal>
#include <iostream>
#include <optional>
#include <thread>

namespace pixelmill {
namespace {

log::Level parseLevel(const std::string& s) {
    if (s == "debug") return log::Level::Debug;
    if (s == "warn") return log::Level::Warn;
    if (s == "error") return log::Level::Error;
    return log::Level::Info;
}

// Anyone who can reach a non-loopback address could submit and read:
// tokens, or a deliberate --insecure. Returns the access rules, or nullopt
// (having said why) when the daemon must not start.
std::optional<http::AccessOptions> accessFor(const Config& config, const std::string& host) {
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
        return std::nullopt;
    }
    if (!access.tokens.empty())
        log::info("auth_enabled", {{"tokens", std::to_string(access.tokens.size())},
                                   {"public_metrics", config.publicMetrics ? "true" : "false"}});
    return access;
}

}  // namespace

int runServe(const Config& configIn) {
    // Signals are taken by sigwait() in Daemon::run; block them before any thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    log::init(parseLevel(configIn.logLevel), configIn.logFormat == "json" ? log::Format::Json : log::Format::Logfmt);
    // Before any thread starts: it takes NOTIFY_SOCKET out of the environment.
    SystemdNotifier systemd;
    ServeSetup setup;
    setup.startedAt = monotonicSeconds();
    setup.config = configIn;
    Config& config = setup.config;
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    if (config.workers <= 0) config.workers = static_cast<int>(cores);
    if (config.httpThreads <= 0) config.httpThreads = static_cast<int>(std::max(2u, cores));
    config.pluginDir = resolvePluginDir(config.pluginDir).string();
    splitListen(config.listen, setup.host, setup.port);
    std::optional<http::AccessOptions> access = accessFor(config, setup.host);
    if (!access) return 2;
    setup.access = std::move(*access);

    // One libvips thread per pipeline: the workers already keep every core busy.
    initImageLibrary("pixelmill", 1, /*jobsAtOnce=*/config.isolation == "none");
    Daemon daemon(std::move(setup), systemd);
    return daemon.run(signals);
}

}  // namespace pixelmill
