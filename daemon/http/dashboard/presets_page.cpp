// GET /dashboard/presets: every preset with its plugin, parameters and
// whether it can be used now; a form to save one and a delete button
// (admin), each an action that answers 303 back to the page.
#include "http/dashboard/csrf.h"
#include "http/dashboard/form.h"
#include "http/dashboard/pages.h"
#include "http/server/body.h"

namespace pixelmill::http::dashboard {

using namespace Pistache;

namespace {

// A preset's form is a few fields; its parameters are a small JSON object.
constexpr uint64_t kMaxPresetForm = 64 * 1024;

void presetsPage(Services& s, const Rest::Request& rq, Http::ResponseWriter& rs) {
    Page page(s, rq, rs, "presets", "Presets", "presets");
    Data presets = list();
    std::vector<PresetState> all = s.presets.list();
    for (const PresetState& state : all) {
        const Preset& p = state.preset;
        Data d;
        d.set("name", p.name);
        d.set("plugin", p.plugin);
        d.set("params", p.params.empty() ? std::string("—") : p.params.dump());
        d.set("valid", state.valid);
        d.set("why", state.why);
        d.set("from_config", p.fromConfig);
        d.set("submit_href", "/dashboard/submit" + queryString({{"preset", p.name}}));
        presets.push_back(d);
    }
    Data plugins = list();
    for (const auto& p : s.plugins.list()) plugins.push_back(Data(p->name));
    page.data().set("presets", presets);
    page.data().set("has_presets", !all.empty());
    page.data().set("plugins", plugins);
    page.send();
}

void answer(Http::ResponseWriter& rs, const std::string& key, const std::string& message) {
    redirect(rs, "/dashboard/presets?" + key + "=" + urlEncode(message));
}

void savePreset(Services& s, const Rest::Request& rq, const RequestBody& body, Http::ResponseWriter& rs) {
    Form form = Form::of(body);
    checkCsrf(rq, form.get(kCsrfField));
    Preset preset;
    preset.name = form.get("name");
    preset.plugin = form.get("plugin");
    try {
        std::string params = form.get("params");
        preset.params = params.empty() ? nlohmann::json::object() : nlohmann::json::parse(params, nullptr, false);
        if (!preset.params.is_object())
            throw ApiError::invalidParam("params", "parameters are a JSON object, such as {\"size\": 128}");
        bool created = s.presets.save(preset);
        answer(rs, "notice", std::string(created ? "Saved" : "Replaced") + " preset " + preset.name + ".");
    } catch (const ApiError& e) {
        answer(rs, "problem", e.what());
    }
}

void deletePreset(Services& s, const Rest::Request& rq, const RequestBody& body, Http::ResponseWriter& rs) {
    Form form = Form::of(body);
    checkCsrf(rq, form.get(kCsrfField));
    std::string name = form.get("name");
    try {
        s.presets.remove(name);
        answer(rs, "notice", "Deleted preset " + name + ".");
    } catch (const ApiError& e) {
        answer(rs, "problem", e.what());
    }
}

}  // namespace

void addPresetsPage(RouteTable& routes, Services& s) {
    using Body = RequestBody;
    routes.get("/dashboard/presets",
               guarded(s, [&s](const Rest::Request& rq, Http::ResponseWriter& rs) { presetsPage(s, rq, rs); }));
    routes.post("/dashboard/actions/presets/save",
                guarded(s, [&s](const Rest::Request& rq, Body& body, Http::ResponseWriter& rs) {
                    savePreset(s, rq, body, rs);
                }),
                RouteRule::admin(kMaxPresetForm));
    routes.post("/dashboard/actions/presets/delete",
                guarded(s, [&s](const Rest::Request& rq, Body& body, Http::ResponseWriter& rs) {
                    deletePreset(s, rq, body, rs);
                }),
                RouteRule::admin(kMaxPresetForm));
}

}  // namespace pixelmill::http::dashboard
