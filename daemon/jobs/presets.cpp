#include "jobs/presets.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

#include <algorithm>
#include <cctype>

namespace pixelmill {

namespace {

nlohmann::json asJson(const SentParams& sent) {
    if (const auto* object = std::get_if<nlohmann::json>(&sent)) return *object;
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : std::get<std::map<std::string, std::string>>(sent)) out[key] = value;
    return out;
}

ApiError configured409(const std::string& name) {
    return ApiError::conflict("conflict", "preset '" + name +
                                              "' comes from the config file; change it there, or save another name");
}

}  // namespace

Presets::Presets(PresetStore& store, const PluginCatalog& plugins, std::vector<Preset> fromConfig)
    : store_(store), plugins_(plugins), fromConfig_(std::move(fromConfig)) {}

bool Presets::validName(const std::string& name) {
    if (name.empty() || name.size() > 64 || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

const Preset* Presets::configured(const std::string& name) const {
    for (const Preset& p : fromConfig_)
        if (p.name == name) return &p;
    return nullptr;
}

std::string Presets::whyInvalid(const Preset& preset) const {
    auto plugin = plugins_.find(preset.plugin);
    if (!plugin) return "plugin '" + preset.plugin + "' is not loaded";
    try {
        plugin->params.validate(preset.params);
    } catch (const ApiError& e) {
        return "plugin '" + preset.plugin + "' " + plugin->version + ": " + e.what();
    }
    return {};
}

std::vector<PresetState> Presets::list() const {
    std::vector<PresetState> out;
    for (const Preset& p : fromConfig_) out.push_back({p, true, {}});
    for (Preset& p : store_.listPresets())
        if (!configured(p.name)) out.push_back({std::move(p), true, {}});
    for (PresetState& s : out) {
        s.why = whyInvalid(s.preset);
        s.valid = s.why.empty();
    }
    std::sort(out.begin(), out.end(),
              [](const PresetState& a, const PresetState& b) { return a.preset.name < b.preset.name; });
    return out;
}

Preset Presets::find(const std::string& name) const {
    std::optional<Preset> preset;
    if (const Preset* p = configured(name)) preset = *p;
    else if (validName(name)) preset = store_.getPreset(name);
    if (!preset) throw ApiError(404, "unknown_preset", "no preset named '" + name + "'", "preset");
    if (std::string why = whyInvalid(*preset); !why.empty())
        throw ApiError::invalidParam("preset", "preset '" + name + "' cannot be used: " + why);
    return *preset;
}

bool Presets::save(Preset preset) {
    if (!validName(preset.name))
        throw ApiError::invalidParam("name", "a preset's name is 1 to 64 letters, digits, '.', '_' or '-', "
                                             "starting with a letter or digit");
    if (configured(preset.name)) throw configured409(preset.name);
    if (preset.plugin.empty()) throw ApiError::invalidParam("plugin", "plugin is required");
    auto plugin = plugins_.find(preset.plugin);
    if (!plugin) throw ApiError(404, "unknown_plugin", "no plugin named '" + preset.plugin + "'", "plugin");
    try {
        plugin->params.validate(preset.params);
    } catch (const ApiError& e) {
        throw ApiError(e.status(), e.code(), e.what(), e.field().empty() ? "params" : "params." + e.field());
    }
    preset.updatedAt = nowMs();
    preset.fromConfig = false;
    bool created = store_.savePreset(preset);
    log::info("preset_saved", {{"preset", preset.name}, {"plugin", preset.plugin}, {"created", created}});
    return created;
}

void Presets::remove(const std::string& name) {
    if (configured(name)) throw configured409(name);
    if (!validName(name) || !store_.deletePreset(name))
        throw ApiError(404, "unknown_preset", "no preset named '" + name + "'", "preset");
    log::info("preset_deleted", {{"preset", name}});
}

nlohmann::json Presets::resolveParams(const Preset& preset, const PluginDescriptor& plugin,
                                      const SentParams& sent) const {
    return plugin.params.validateOver(preset.params, asJson(sent));
}

}  // namespace pixelmill
