#pragma once

#include "jobs/model/preset.h"
#include "jobs/plugin_catalog.h"
#include "store/preset_store.h"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <variant>
#include <vector>

namespace pixelmill {

// A preset as GET /v1/presets lists it: whether it can be used now, and
// if not, why (its plugin is not loaded, or a parameter no longer suits the
// plugin's schema after an upgrade). An invalid preset is never used.
struct PresetState {
    Preset preset;
    bool valid = true;
    std::string why;
};

// Parameters as a submission sent them: text (form fields, query) or JSON.
using SentParams = std::variant<std::map<std::string, std::string>, nlohmann::json>;

// The presets a submission may name: the config file's (read-only here) and
// those saved in the store (every daemon sharing it sees them). Each is
// checked against the plugin loaded now whenever it is listed or used, so a
// plugin upgrade that makes one invalid shows at once, and no cache goes stale.
// Thread-safe: it keeps nothing mutable.
class Presets {
public:
    Presets(PresetStore& store, const PluginCatalog& plugins, std::vector<Preset> fromConfig);

    // Every preset, by name; a saved one of a config file's name is not listed.
    std::vector<PresetState> list() const;
    // The preset called `name` (404 unknown_preset when none, 400 naming
    // `preset` when it is invalid now).
    Preset find(const std::string& name) const;
    // Checks `preset` against its plugin (404 unknown_plugin, or 400 naming
    // `params.NAME`) and saves it; true when the name was new. A config
    // file's preset cannot be replaced (409).
    bool save(Preset preset);
    // 404 when there is none; 409 for a config file's.
    void remove(const std::string& name);

    // The canonical parameters of a submission naming `preset`: the preset's
    // with those sent in place of its own (ParamSchema::validateOver).
    nlohmann::json resolveParams(const Preset& preset, const PluginDescriptor& plugin, const SentParams& sent) const;

    // 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.
    static bool validName(const std::string& name);

private:
    // Why `preset` cannot be used now; "" when it can.
    std::string whyInvalid(const Preset& preset) const;
    const Preset* configured(const std::string& name) const;

    PresetStore& store_;
    const PluginCatalog& plugins_;
    const std::vector<Preset> fromConfig_;
};

}  // namespace pixelmill
