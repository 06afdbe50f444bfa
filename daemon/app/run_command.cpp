#include "app/commands.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/parallel.h"
#include "common/log.h"
#include "jobs/job_service.h"
#include "jobs/sniff.h"
#include "plugins/in_process_executor.h"
#include "plugins/plugin_host.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace pixelmill {
namespace {

// The scheduler's part for a single foreground job: outputs go to files,
// progress to a bar on a terminal, parallel work to a few local threads.
class LocalControl final : public JobControl {
public:
    LocalControl(fs::path outDir, double timeoutSeconds)
        : outDir_(std::move(outDir)), deadline_(monotonicSeconds() + timeoutSeconds), tty_(::isatty(2)) {}

    bool shouldStop() const override { return monotonicSeconds() > deadline_; }

    bool addOutput(uint32_t index, const std::string& name, const std::string&, std::span<const unsigned char> bytes,
                   int32_t, int32_t) override {
        // Output names come from plugins: keep them inside the folder.
        std::string safe = fs::path(name).filename().string();
        if (safe.empty() || safe == "." || safe == "..") safe = "output-" + std::to_string(index);
        fs::path target = outDir_ / safe;
        fs::path temp = outDir_ / ("." + safe + ".part");
        {
            std::ofstream out(temp, std::ios::binary);
            out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
            if (!out) return false;
        }
        std::error_code ec;
        fs::rename(temp, target, ec);
        if (ec) return false;
        std::lock_guard lock(mutex_);
        written_[index] = target.string();
        return true;
    }

    bool addStoredOutput(uint32_t, const std::string&, const std::string&, const std::string&, uint64_t, int32_t,
                         int32_t) override {
        return false;  // the in-process executor hands over bytes
    }

    void progress(uint32_t done, uint32_t total) override {
        if (!tty_ || total == 0) return;
        std::lock_guard lock(mutex_);
        int width = 30;
        int filled = static_cast<int>(static_cast<double>(done) / total * width);
        std::cerr << "\r[" << std::string(static_cast<size_t>(filled), '#')
                  << std::string(static_cast<size_t>(width - filled), ' ') << "] " << done << "/" << total
                  << std::flush;
        if (done == total) std::cerr << "\n";
    }

    void log(int level, const std::string& message) override {
        if (level >= 2) std::cerr << "plugin: " << message << "\n";
    }

    void parallelFor(uint32_t count, void (*fn)(void*, uint32_t), void* user) override {
        runParallel(count, std::thread::hardware_concurrency(), fn, user);
    }

    std::map<uint32_t, std::string> written() const {
        std::lock_guard lock(mutex_);
        return written_;
    }

private:
    fs::path outDir_;
    double deadline_;
    bool tty_;
    mutable std::mutex mutex_;
    std::map<uint32_t, std::string> written_;
};

// Standard input in a file, since plugins read a path. mkstemp makes it in
// $TMPDIR (default /tmp) with O_EXCL, mode 0600 and a name nobody can guess,
// so a link planted in a shared /tmp is never followed. Removed on destruction.
class StdinCopy {
public:
    StdinCopy() {
        const char* tmp = std::getenv("TMPDIR");
        std::string name = (fs::path(tmp && *tmp ? tmp : "/tmp") / "pixelmill-stdin-XXXXXX").string();
        int fd = ::mkstemp(name.data());
        if (fd < 0) throw std::runtime_error("cannot create " + name + ": " + std::strerror(errno));
        path_ = name;
        int err = copyTo(fd);
        if (::close(fd) != 0 && err == 0) err = errno;
        if (err != 0) {
            ::unlink(name.c_str());
            throw std::runtime_error("cannot copy standard input to " + name + ": " + std::strerror(err));
        }
    }
    ~StdinCopy() { ::unlink(path_.c_str()); }
    StdinCopy(const StdinCopy&) = delete;
    StdinCopy& operator=(const StdinCopy&) = delete;

    const fs::path& path() const { return path_; }

private:
    // Copies standard input to `fd`; returns 0 or the errno that stopped it.
    static int copyTo(int fd) {
        std::vector<char> buffer(1 << 16);
        for (;;) {
            ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return errno;
            if (n == 0) return 0;
            for (ssize_t done = 0; done < n;) {
                ssize_t w = ::write(fd, buffer.data() + done, static_cast<size_t>(n - done));
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) return errno;
                done += w;
            }
        }
    }

    fs::path path_;
};

// The -p key=value arguments, as the plugin's schema reads them.
std::map<std::string, std::string> parseParams(const std::vector<std::string>& params) {
    std::map<std::string, std::string> raw;
    for (const std::string& kv : params) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) throw ApiError::invalidParam(kv, "-p takes key=value, got '" + kv + "'");
        raw[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return raw;
}

// The same checks as a daemon's (SVG references and size included), with the
// plugin named on the command line instead of one chosen by type.
CheckedSource checkInput(PluginHost& host, const Config& config,
                         const std::shared_ptr<const PluginDescriptor>& plugin, std::ifstream& in,
                         const fs::path& source) {
    std::string head(4096, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    std::error_code sizeError;
    uint64_t size = fs::file_size(source, sizeError);
    JobLimits limits;
    limits.maxPixels = config.maxPixels;
    limits.maxPages = config.maxPages;
    limits.maxSvgBytes = config.maxSvgBytes;
    return checkSource(host, limits, head, source.string(), sizeError ? 0 : size, [&](const std::string& type) {
        if (!plugin->acceptsType(type)) {
            std::string accepts;
            for (const auto& a : plugin->accepts) accepts += (accepts.empty() ? "" : ", ") + a;
            throw ApiError::unsupportedMediaType("file is " + type + "; plugin '" + plugin->name + "' accepts " +
                                                 accepts);
        }
        return plugin;
    });
}

}  // namespace

int runOnce(const std::string& pluginDir, const std::string& pluginName, const std::string& input,
            const std::vector<std::string>& params, const std::string& outDir, const Config& config) {
    log::init(log::Level::Warn);
    initImageLibrary("pixelmill", static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    PluginHost host(resolvePluginDir(pluginDir), PluginLimits{config.maxPixels, config.maxPages});
    host.scan();
    auto plugin = host.find(pluginName, {});
    if (!plugin) {
        std::cerr << "pixelmill: no plugin named '" << pluginName << "' in " << host.folder().string() << "\n";
        return 2;
    }

    std::optional<StdinCopy> stdinCopy;
    if (input == "-") stdinCopy.emplace();
    fs::path source = stdinCopy ? stdinCopy->path() : fs::path(input);

    try {
        nlohmann::json canonical = plugin->params.validate(parseParams(params));

        std::ifstream in(source, std::ios::binary);
        if (!in) {
            std::cerr << "pixelmill: cannot read " << source.string() << "\n";
            return 2;
        }
        CheckedSource checked = checkInput(host, config, plugin, in, source);

        fs::create_directories(outDir);
        LocalControl control(outDir, config.jobTimeoutSeconds);
        InProcessExecutor executor(host);
        ExecRequest request;
        request.plugin = plugin->name;
        request.pluginVersion = plugin->version;
        request.params = ParamSchema::toText(canonical);
        request.inputPath = fs::absolute(source).string();
        request.mediaType = checked.mediaType;
        ExecResult result = executor.execute(request, control);
        if (result.status != ExecResult::Status::Ok) {
            std::cerr << "pixelmill: " << plugin->name << " failed: "
                      << (result.message.empty() ? "no message" : result.message) << "\n";
            return 1;
        }
        for (const auto& [index, path] : control.written()) std::cout << path << "\n";
        return 0;
    } catch (const ApiError& e) {
        std::cerr << "pixelmill: " << e.code() << ": " << e.what() << "\n";
        return e.status() == 415 || e.status() == 400 ? 2 : 1;
    }
}

}  // namespace pixelmill
