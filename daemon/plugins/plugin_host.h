#pragma once

#include "jobs/plugin_catalog.h"
#include "scheduler/executor.h"

#include <pixelmill/plugin.h>

#include <boost/dll/shared_library.hpp>

#include <cstdint>
#include <filesystem>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pixelmill {

// A plugin the host accepted: its descriptor and the ABI table, which stays
// valid for the life of the process (libraries are never unloaded).
struct LoadedPlugin {
    std::shared_ptr<const PluginDescriptor> descriptor;
    const pm_plugin* abi = nullptr;
};

struct PluginLimits {
    uint64_t maxPixels = 71'000'000;
    uint32_t maxPages = 1000;
};

// Scans a folder for .so files, loads each with Boost.DLL (RTLD_LOCAL, bind
// now), checks the ABI version before touching anything else, and refuses a
// wrong version, a missing symbol, a broken descriptor or a duplicate
// name+version with one log line naming the file and the reason. Refused files
// do not stop the others.
//
// Where a PluginHost loads libraries from, and what it checks first.
struct PluginLoading {
    // With a staging folder every library is first copied to
    // staging/<sha256>.so and loaded from there: a file replaced in the
    // plugin folder, even at the same path, loads as a new library (dlopen
    // would hand back the old one for a known path), a copy still being
    // written is never mapped, and worker processes load exactly the bytes
    // this host checked. Files are also given a moment to settle (see
    // settling()). The folder is emptied first: it is the daemon's own.
    // A refused library's staged copy is removed at once, and after every
    // scan the staged names of the accepted libraries, one a line, are
    // written to acceptedList() (replaced whole, never half-written).
    std::filesystem::path staging;
    // Loads exactly the libraries a list names (a file written by another
    // host's acceptedList(); names relative to the folder) instead of every
    // .so in the folder: worker processes load what the daemon accepted and
    // nothing it refused.
    std::filesystem::path libraryList;
    // Checks a staged copy before this process maps it (for example by
    // loading it in a child process first, so that a truncated or hostile
    // library crashes the child, not the daemon); returns why it is refused,
    // or "" to go on.
    std::function<std::string(const std::filesystem::path&)> check;
};

// Thread-safe: a mutex guards the lists; libraries and LoadedPlugins are
// never removed, so pointers handed out stay valid for the process's life.
class PluginHost final : public PluginCatalog {
public:
    PluginHost(std::filesystem::path folder, PluginLimits limits, PluginLoading loading = {});

    // Loads every .so in the folder that is new or changed since the last
    // scan; returns how many were accepted. Serialized: concurrent callers
    // (watcher, SIGHUP, the reload route) take turns.
    // With `settle`, a file modified in the last half second is left for a
    // later scan (the folder watcher); without, everything is loaded now.
    int scan(bool settle = false);
    // True when the last scan() skipped a file modified in the last half
    // second (possibly still being copied in): scan again a little later.
    bool settling() const { return settling_; }

    // The file listing the accepted libraries' staged copies (staging only).
    std::filesystem::path acceptedList() const { return staging_.empty() ? staging_ : staging_ / "accepted"; }
    // Loads one file; returns true if accepted (else it is in refused()).
    bool load(const std::filesystem::path& file);

    std::shared_ptr<const PluginDescriptor> find(std::string_view name,
                                                 std::string_view version = {}) const override;
    std::vector<std::shared_ptr<const PluginDescriptor>> list() const override;
    std::vector<RefusedPlugin> refused() const override;
    SourceInfo probe(const PluginDescriptor& plugin, const std::string& path,
                     std::string_view mediaType) const override;

    // Probes run elsewhere (in a worker process) when a runner is set. Set
    // after construction: the worker processes that run them are started
    // with the list of libraries this host accepted (acceptedList()).
    using ProbeRunner = std::function<ProbeResult(const PluginDescriptor&, const std::string& path,
                                                  std::string_view mediaType)>;
    void setProbeRunner(ProbeRunner runner) { probeRunner_ = std::move(runner); }

    // The ABI table for name+version, or nullptr.
    const pm_plugin* abi(std::string_view name, std::string_view version) const;

    const std::filesystem::path& folder() const { return folder_; }
    const PluginLimits& limits() const { return limits_; }

private:
    void refuse(const std::filesystem::path& file, const std::string& reason);
    void writeAcceptedList();
    // Copies a library to staging/<sha256>.so, the copy this process maps;
    // nothing when it is refused or these very bytes were staged before.
    std::optional<std::filesystem::path> stage(const std::filesystem::path& file);
    // Maps a library; returns why it is refused, or "". One that does not
    // export the plugin symbol is kept anyway: its constructors have run.
    std::string openLibrary(const std::filesystem::path& from, boost::dll::shared_library& library);
    // Why a plugin of the same name and version cannot be loaded too, or ""
    // (mutex_ held).
    std::string duplicateOf(const PluginDescriptor& descriptor) const;

    std::filesystem::path folder_;
    PluginLimits limits_;
    mutable std::mutex mutex_;
    std::vector<boost::dll::shared_library> libraries_;  // never unloaded
    std::vector<LoadedPlugin> plugins_;
    std::vector<RefusedPlugin> refused_;
    std::map<std::string, std::string> seen_;  // file → size/mtime/inode when last tried
    std::map<std::string, std::string> staged_;  // sha256 → staged copy already loaded or refused
    const std::filesystem::path staging_;
    std::vector<std::string> acceptedStaged_;  // staged file names of accepted libraries
    const std::filesystem::path libraryList_;
    std::mutex scanMutex_;
    std::atomic<bool> settling_{false};
    ProbeRunner probeRunner_;
    const std::function<std::string(const std::filesystem::path&)> loadCheck_;
};

// Compares dotted version strings numerically ("1.10.0" > "1.9.3").
int compareVersions(std::string_view a, std::string_view b);

}  // namespace pixelmill
