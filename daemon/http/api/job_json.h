#pragma once

#include "jobs/model/job.h"
#include "jobs/plugin_catalog.h"
#include "jobs/presets.h"

#include <nlohmann/json.hpp>

namespace pixelmill::http {

// The resources of API.md as JSON.
nlohmann::ordered_json originalJson(const Original& original);
nlohmann::ordered_json jobJson(const Job& job);
// The job's attempts, oldest first (filled by single-job reads only).
nlohmann::ordered_json attemptsJson(const Job& job);
nlohmann::ordered_json pluginJson(const PluginDescriptor& plugin);
// {"name", "plugin", "params" (as given), "valid", "why" (null when valid)}.
nlohmann::ordered_json presetJson(const PresetState& state);

}  // namespace pixelmill::http
