#pragma once

#include "jobs/plugin_catalog.h"
#include "scheduler/executor.h"

#include <pixelmill/plugin.h>

#include <boost/dll/shared_library.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
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
// Thread-safe: a mutex guards the lists; libraries and LoadedPlugins are
// never removed, so pointers handed out stay valid for the process's life.
class PluginHost final : public PluginCatalog {
public:
    PluginHost(std::filesystem::path folder, PluginLimits limits);

    // Loads every .so in the folder not loaded yet; returns how many were accepted.
    int scan();
    // Loads one file; returns true if accepted (else it is in refused()).
    bool load(const std::filesystem::path& file);

    std::shared_ptr<const PluginDescriptor> find(std::string_view name,
                                                 std::string_view version = {}) const override;
    std::vector<std::shared_ptr<const PluginDescriptor>> list() const override;
    std::vector<RefusedPlugin> refused() const override;
    SourceInfo probe(const PluginDescriptor& plugin, const std::string& path,
                     std::string_view mediaType) const override;

    // Probes run elsewhere (in a worker process) when a runner is set.
    using ProbeRunner = std::function<ProbeResult(const PluginDescriptor&, const std::string& path,
                                                  std::string_view mediaType)>;
    void setProbeRunner(ProbeRunner runner) { probeRunner_ = std::move(runner); }

    // The ABI table for name+version, or nullptr.
    const pm_plugin* abi(std::string_view name, std::string_view version) const;

    const std::filesystem::path& folder() const { return folder_; }
    const PluginLimits& limits() const { return limits_; }

private:
    void refuse(const std::filesystem::path& file, const std::string& reason);

    std::filesystem::path folder_;
    PluginLimits limits_;
    mutable std::mutex mutex_;
    std::vector<boost::dll::shared_library> libraries_;  // never unloaded
    std::vector<LoadedPlugin> plugins_;
    std::vector<RefusedPlugin> refused_;
    std::vector<std::string> seen_;  // files already tried
    ProbeRunner probeRunner_;
};

// Compares dotted version strings numerically ("1.10.0" > "1.9.3").
int compareVersions(std::string_view a, std::string_view b);

}  // namespace pixelmill
