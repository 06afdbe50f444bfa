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
// `pixelmill plugins --check FILE`: loads one library; exit 0 if accepted, else 1 with the reason.
int checkPluginFile(const std::string& file);

// `pixelmill run`: one job in the foreground, no daemon, no database.
int runOnce(const std::string& pluginDir, const std::string& plugin, const std::string& input,
            const std::vector<std::string>& params, const std::string& outDir, const Config& limits);

// `pixelmill token`: prints a new token and its hashed line; with a file, appends the line.
int runToken(const std::string& name, const std::string& scopes, const std::string& file);

// The plugin folder: the one given, else ../plugins or ../lib/pixelmill/plugins
// next to the running binary.
std::filesystem::path resolvePluginDir(const std::string& configured);

}  // namespace pixelmill
