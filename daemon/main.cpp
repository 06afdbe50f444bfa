// pixelmill: serve | plugins | run | token
#include "app/commands.h"
#include "common/log.h"
#include "config/config.h"
#include "http/server/access.h"
#include "worker/worker_main.h"

#include <CLI/CLI.hpp>

#include <iostream>

#ifndef PIXELMILL_VERSION
#define PIXELMILL_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
    CLI::App app{"pixelmill: turns images and PDFs into thumbnails, resized images, ASCII art and PNG pages"};
    app.set_version_flag("--version", PIXELMILL_VERSION);
    app.require_subcommand(1);

    CLI::App* serve = app.add_subcommand("serve", "run the daemon (HTTP API, scheduler, dashboard)");
    pixelmill::ConfigOptions serveOptions(*serve);

    CLI::App* plugins = app.add_subcommand("plugins", "list the plugins that can be loaded, and refused files");
    std::string pluginsDir;
    bool pluginsJson = false;
    plugins->add_option("--plugin-dir", pluginsDir, "plugin folder")->envname("PIXELMILL_PLUGIN_DIR");
    plugins->add_flag("--json", pluginsJson, "print JSON");
    std::string pluginsCheck;
    plugins->add_option("--check", pluginsCheck, "load one .so and say whether it would be accepted (exit 0) or why not");

    CLI::App* run = app.add_subcommand("run", "run one job in the foreground, without a daemon or database");
    pixelmill::ConfigOptions runOptions(*run);
    std::string runPlugin, runInput, runOut = ".";
    std::vector<std::string> runParams;
    run->add_option("plugin", runPlugin, "plugin name")->required();
    run->add_option("input", runInput, "source file, or - for standard input")->required();
    run->add_option("-p,--param", runParams, "plugin parameter key=value (repeatable)");
    run->add_option("-o,--out", runOut, "folder for the outputs (default: .)");

    CLI::App* token = app.add_subcommand("token", "make an API token: prints it once, and the line for --token-file");
    std::string tokenName, tokenScopes = "read,submit", tokenFile;
    token->add_option("name", tokenName, "who the token is for (letters, digits, - and _)")->required()
        ->check(CLI::Validator([](std::string& v) {
            bool ok = !v.empty() && v.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == std::string::npos;
            return ok ? std::string() : std::string("a name is letters, digits, '-', '_' and '.'");
        }, "NAME"));
    token->add_option("--scopes", tokenScopes, "comma-separated: read, submit, admin (default read,submit)");
    token->add_option("--append", tokenFile, "append the hashed line to this token file");

    // Started by the daemon itself, never by people: not listed in --help.
    CLI::App* worker = app.add_subcommand("worker", "")->group("");
    pixelmill::worker::WorkerOptions workerOptions;
    std::string workerThreads = "1";
    worker->add_option("--socket-fd", workerOptions.fd)->required();
    worker->add_option("--plugin-dir", workerOptions.pluginDir)->required();
    worker->add_option("--plugin-list", workerOptions.pluginList);
    worker->add_option("--blob-dir", workerOptions.blobDir)->required();
    worker->add_option("--tmp-dir", workerOptions.tmpDir)->required();
    worker->add_option("--fsync", workerOptions.fsync);
    worker->add_option("--memory-limit", workerOptions.memoryLimitBytes);
    worker->add_option("--cpu-seconds", workerOptions.cpuSecondsPerJob);
    worker->add_option("--max-pixels", workerOptions.limits.maxPixels);
    worker->add_option("--max-pages", workerOptions.limits.maxPages);
    worker->add_option("--threads", workerOptions.threads);
    worker->add_option("--log-level", workerOptions.logLevel);
    worker->add_option("--log-format", workerOptions.logFormat);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0; any other mistake on the command line is a usage error: 2.
        return app.exit(e) == 0 ? 0 : 2;
    }

    try {
        if (*worker) return pixelmill::worker::runWorker(workerOptions);
        if (*serve) return pixelmill::runServe(serveOptions.resolve());
        if (*plugins && !pluginsCheck.empty()) return pixelmill::checkPluginFile(pluginsCheck);
        if (*plugins) return pixelmill::runPlugins(pluginsDir, pluginsJson);
        if (*token) return pixelmill::runToken(tokenName, tokenScopes, tokenFile);
        if (*run) {
            pixelmill::Config config = runOptions.resolve();
            return pixelmill::runOnce(config.pluginDir, runPlugin, runInput, runParams, runOut, config);
        }
    } catch (const std::invalid_argument& e) {
        std::cerr << "pixelmill: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        pixelmill::log::error("fatal", {{"error", e.what()}});
        std::cerr << "pixelmill: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
