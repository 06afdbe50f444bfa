// pixelmill: serve | plugins | run | token
#include "app/commands.h"
#include "common/log.h"
#include "config/config.h"
#include "http/server/access.h"
#include "worker/worker_main.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>
#include <vector>

#ifndef PIXELMILL_VERSION
#define PIXELMILL_VERSION "0.0.0"
#endif

namespace {

struct PluginsArguments {
    std::string dir;
    bool json = false;
    std::string check;  // one .so to check instead of listing
};

struct RunArguments {
    std::string plugin, input, out = ".";
    std::vector<std::string> params;
};

struct TokenArguments {
    std::string name, scopes = "read,submit", file;
};

CLI::App* addPluginsCommand(CLI::App& app, PluginsArguments& args) {
    CLI::App* plugins = app.add_subcommand("plugins", "list the plugins that can be loaded, and refused files");
    plugins->add_option("--plugin-dir", args.dir, "plugin folder")->envname("PIXELMILL_PLUGIN_DIR");
    plugins->add_flag("--json", args.json, "print JSON");
    plugins->add_option("--check", args.check, "load one .so and say whether it would be accepted (exit 0) or why not");
    return plugins;
}

// After the daemon's options, which `run` takes too.
void addRunArguments(CLI::App& run, RunArguments& args) {
    run.add_option("plugin", args.plugin, "plugin name")->required();
    run.add_option("input", args.input, "source file, or - for standard input")->required();
    run.add_option("-p,--param", args.params, "plugin parameter key=value (repeatable)");
    run.add_option("-o,--out", args.out, "folder for the outputs (default: .)");
}

CLI::App* addTokenCommand(CLI::App& app, TokenArguments& args) {
    CLI::App* token = app.add_subcommand("token", "make an API token: prints it once, and the line for --token-file");
    token->add_option("name", args.name, "who the token is for (letters, digits, - and _)")->required()
        ->check(CLI::Validator([](std::string& v) {
            bool ok = !v.empty() && v.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == std::string::npos;
            return ok ? std::string() : std::string("a name is letters, digits, '-', '_' and '.'");
        }, "NAME"));
    token->add_option("--scopes", args.scopes, "comma-separated: read, submit, admin (default read,submit)");
    token->add_option("--append", args.file, "append the hashed line to this token file");
    return token;
}

// Started by the daemon itself, never by people: not listed in --help.
CLI::App* addWorkerCommand(CLI::App& app, pixelmill::worker::WorkerOptions& options) {
    CLI::App* worker = app.add_subcommand("worker", "")->group("");
    worker->add_option("--socket-fd", options.fd)->required();
    worker->add_option("--plugin-dir", options.pluginDir)->required();
    worker->add_option("--plugin-list", options.pluginList);
    worker->add_option("--blob-dir", options.blobDir)->required();
    worker->add_option("--tmp-dir", options.tmpDir)->required();
    worker->add_option("--fsync", options.fsync);
    worker->add_option("--memory-limit", options.memoryLimitBytes);
    worker->add_option("--cpu-seconds", options.cpuSecondsPerJob);
    worker->add_option("--max-pixels", options.limits.maxPixels);
    worker->add_option("--max-pages", options.limits.maxPages);
    worker->add_option("--threads", options.threads);
    worker->add_option("--log-level", options.logLevel);
    worker->add_option("--log-format", options.logFormat);
    return worker;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"pixelmill: turns images and PDFs into thumbnails, resized images, ASCII art and PNG pages"};
    app.set_version_flag("--version", PIXELMILL_VERSION);
    app.require_subcommand(1);

    // Declared in the order --help lists them.
    CLI::App* serve = app.add_subcommand("serve", "run the daemon (HTTP API, scheduler, dashboard)");
    pixelmill::ConfigOptions serveOptions(*serve);
    PluginsArguments pluginsArgs;
    CLI::App* plugins = addPluginsCommand(app, pluginsArgs);
    CLI::App* run = app.add_subcommand("run", "run one job in the foreground, without a daemon or database");
    pixelmill::ConfigOptions runOptions(*run);
    RunArguments runArgs;
    addRunArguments(*run, runArgs);
    TokenArguments tokenArgs;
    CLI::App* token = addTokenCommand(app, tokenArgs);
    pixelmill::worker::WorkerOptions workerOptions;
    CLI::App* worker = addWorkerCommand(app, workerOptions);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0; any other mistake on the command line is a usage error: 2.
        return app.exit(e) == 0 ? 0 : 2;
    }

    try {
        if (*worker) return pixelmill::worker::runWorker(workerOptions);
        if (*serve) return pixelmill::runServe(serveOptions.resolve());
        if (*plugins && !pluginsArgs.check.empty()) return pixelmill::checkPluginFile(pluginsArgs.check);
        if (*plugins) return pixelmill::runPlugins(pluginsArgs.dir, pluginsArgs.json);
        if (*token) return pixelmill::runToken(tokenArgs.name, tokenArgs.scopes, tokenArgs.file);
        if (*run) {
            pixelmill::Config config = runOptions.resolve();
            return pixelmill::runOnce(config.pluginDir, runArgs.plugin, runArgs.input, runArgs.params, runArgs.out,
                                      config);
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
