#pragma once

// A preset: a name for a plugin and parameters, which a submission may name
// instead of the plugin (`preset=avatar`).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace pixelmill {

struct Preset {
    std::string name;
    std::string plugin;
    nlohmann::json params = nlohmann::json::object();  // as given, without the plugin's defaults
    int64_t updatedAt = 0;                              // unix ms; 0 for the config file's
    bool fromConfig = false;                            // the config file's: not changed through the API
};

}  // namespace pixelmill
