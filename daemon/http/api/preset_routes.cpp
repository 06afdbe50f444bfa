// Presets: a name for a plugin and its parameters (GET, PUT, DELETE /v1/presets).
#include "common/error.h"
#include "http/api/job_json.h"
#include "http/api/route_helpers.h"
#include "http/server/body.h"
#include "http/server/respond.h"

#include <pistache/router.h>

namespace pixelmill::http {

using namespace Pistache;
using json = nlohmann::ordered_json;

namespace {

// A preset's body is small: a plugin's name and a few parameters.
constexpr uint64_t kMaxPresetBody = 64 * 1024;

std::string nameParam(const Rest::Request& request) { return request.param(":name").as<std::string>(); }

void savePreset(Services& s, const Rest::Request& request, const RequestBody& body, Http::ResponseWriter& response) {
    nlohmann::json doc = body.jsonObject();
    Preset preset;
    preset.name = nameParam(request);
    preset.plugin = stringMember(doc, "plugin");
    if (doc.contains("params")) {
        if (!doc["params"].is_object()) throw ApiError::invalidParam("params", "params must be an object");
        preset.params = doc["params"];
    }
    bool created = s.presets.save(preset);
    for (const PresetState& state : s.presets.list())
        if (state.preset.name == preset.name)
            return sendJson(response, created ? 201 : 200, presetJson(state),
                            {{"Location", "/v1/presets/" + preset.name}});
    throw ApiError::internal("preset '" + preset.name + "' was saved but is not listed");
}

}  // namespace

void addPresetRoutes(RouteTable& routes, Services& s) {
    routes.get("/v1/presets", [&s](const Rest::Request&, Http::ResponseWriter& rs) {
        json list = json::array();
        for (const PresetState& state : s.presets.list()) list.push_back(presetJson(state));
        sendJson(rs, 200, {{"presets", std::move(list)}});
    });
    routes.put("/v1/presets/:name",
               [&s](const Rest::Request& rq, RequestBody& body, Http::ResponseWriter& rs) { savePreset(s, rq, body, rs); },
               RouteRule::admin(kMaxPresetBody));
    routes.del("/v1/presets/:name", [&s](const Rest::Request& rq, Http::ResponseWriter& rs) {
        s.presets.remove(nameParam(rq));
        sendEmpty(rs, 204);
    }, RouteRule::admin());
}

}  // namespace pixelmill::http
