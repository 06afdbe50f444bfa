// GET /dashboard/submit: a form to upload a file and run a plugin on it.
#include "http/dashboard/pages.h"

namespace pixelmill::http::dashboard {

using namespace Pistache;

namespace {

// The valid presets to choose from, `selected` chosen; its plugin, if any.
std::pair<Data, std::string> presetChoices(Services& s, const std::string& selected) {
    Data choices = list();
    std::string plugin;
    for (const PresetState& state : s.presets.list()) {
        if (!state.valid) continue;
        Data d;
        d.set("name", state.preset.name);
        d.set("plugin", state.preset.plugin);
        d.set("params", state.preset.params.dump());
        d.set("selected", state.preset.name == selected);
        if (state.preset.name == selected) plugin = state.preset.plugin;
        choices.push_back(d);
    }
    return {choices, plugin};
}

}  // namespace

void renderSubmitPage(Services& s, const Rest::Request& rq, Http::ResponseWriter& rs, int status,
                      const std::string& problem, const std::string& plugin, const std::string& preset) {
    Page page(s, rq, rs, "submit", "New job", "submit");
    Data& d = page.data();
    auto [presets, presetPlugin] = presetChoices(s, preset.empty() ? queryParam(rq, "preset") : preset);
    std::string chosen = !plugin.empty() ? plugin : !presetPlugin.empty() ? presetPlugin : queryParam(rq, "plugin");
    d.set("forms", pluginForms(s, chosen));
    d.set("presets", presets);
    d.set("has_presets", !presets.is_empty_list());
    d.set("has_error", !problem.empty());
    d.set("error", problem);
    d.set("max_upload", bytesText(s.config.maxUploadBytes));
    d.set("accepting", s.jobs.accepting());
    page.send(status);
}

void addSubmitPage(RouteTable& routes, Services& s) {
    routes.get("/dashboard/submit", guarded(s, [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
                   renderSubmitPage(s, rq, rs, 200, "", "", "");
               }));
}

}  // namespace pixelmill::http::dashboard
