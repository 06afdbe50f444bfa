#pragma once

#include "jobs/params.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill {

// What the domain knows of a loaded plugin; the ABI stays in daemon/plugins.
struct PluginDescriptor {
    std::string name;
    std::string version;
    std::string description;
    std::string file;  // the .so it came from
    std::vector<std::string> accepts;
    ParamSchema params;
    bool canProbe = false;

    bool acceptsType(std::string_view mediaType) const {
        for (const std::string& a : accepts)
            if (a == mediaType) return true;
        return false;
    }
};

struct RefusedPlugin {
    std::string file;
    std::string reason;
};

// What a plugin read from a source's header.
struct SourceInfo {
    std::optional<int> width;
    std::optional<int> height;
    std::optional<int> pages;
};

// The plugins available to jobs. Thread-safe.
class PluginCatalog {
public:
    virtual ~PluginCatalog() = default;

    // The plugin called `name`: the given version, or the newest loaded.
    virtual std::shared_ptr<const PluginDescriptor> find(std::string_view name,
                                                         std::string_view version = {}) const = 0;
    virtual std::vector<std::shared_ptr<const PluginDescriptor>> list() const = 0;
    virtual std::vector<RefusedPlugin> refused() const = 0;

    // Reads the source's header with `plugin`'s probe (no pixels decoded).
    // Throws ApiError 422 when the source cannot be read.
    virtual SourceInfo probe(const PluginDescriptor& plugin, const std::string& path,
                             std::string_view mediaType) const = 0;
};

}  // namespace pixelmill
