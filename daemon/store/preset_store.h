#pragma once

#include "jobs/model/preset.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pixelmill {

// Presets saved through the API, kept in the job store so that every daemon
// sharing it sees the same ones. The store keeps them as given: checking them
// against a plugin is the domain's (jobs/presets.h), since plugins change.
class PresetStore {
public:
    virtual ~PresetStore() = default;

    // Every saved preset, by name.
    virtual std::vector<Preset> listPresets() = 0;
    virtual std::optional<Preset> getPreset(std::string_view name) = 0;
    // Inserts or replaces; true when the name was new.
    virtual bool savePreset(const Preset& preset) = 0;
    // False when there was none by that name.
    virtual bool deletePreset(std::string_view name) = 0;
};

}  // namespace pixelmill
