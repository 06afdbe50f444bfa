#pragma once

#include "config/config.h"
#include "plugins/image_library.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace pixelmill {

// `pixelmill serve`: runs the daemon until SIGTERM/SIGINT, then drains.
int runServe(const Config& config);

// `pixelmill plugins`: lists loadable plugins and refused files.
int runPlugins(const std::string& pluginDir, bool asJson);

// `pixelmill run`: one job in the foreground, no daemon, no database.
int runOnce(const std::string& pluginDir, const std::string& plugin, const std::string& input,
            const std::vector<std::string>& params, const std::string& outDir, const Config& limits);

// The plugin folder: the one given, else ../plugins or ../lib/pixelmill/plugins
// next to the running binary.
std::filesystem::path resolvePluginDir(const std::string& configured);

}  // namespace pixelmill
