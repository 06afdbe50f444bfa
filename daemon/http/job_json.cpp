#include "http/job_json.h"

#include "common/clock.h"

namespace pixelmill::http {

using json = nlohmann::ordered_json;

namespace {

template <class T>
json orNull(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

json timeOrNull(const std::optional<int64_t>& ms) { return ms ? json(formatTime(*ms)) : json(nullptr); }

}  // namespace

json originalJson(const Original& o) {
    return {{"id", o.id},
            {"filename", o.filename},
            {"media_type", o.mediaType},
            {"size_bytes", o.sizeBytes},
            {"sha256", o.sha256},
            {"width", orNull(o.width)},
            {"height", orNull(o.height)},
            {"pages", orNull(o.pages)},
            {"created_at", formatTime(o.createdAt)}};
}

json jobJson(const Job& j) {
    std::string self = "/v1/jobs/" + j.id;
    json outputs = json::array();
    for (const Output& o : j.outputs) {
        outputs.push_back({{"index", o.index},
                           {"name", o.name},
                           {"media_type", o.mediaType},
                           {"size_bytes", o.sizeBytes},
                           {"width", orNull(o.width)},
                           {"height", orNull(o.height)},
                           {"url", self + "/outputs/" + std::to_string(o.index)}});
    }
    json params = json::parse(j.params, nullptr, false);
    if (params.is_discarded()) params = json::object();
    json error = nullptr;
    if (j.state == JobState::Failed && j.error) error = {{"code", j.error->code}, {"message", j.error->message}};
    return {{"id", j.id},
            {"plugin", j.plugin},
            {"plugin_version", j.pluginVersion},
            {"params", std::move(params)},
            {"state", toString(j.state)},
            {"priority", j.priority},
            {"attempts", j.attempts},
            {"created_at", formatTime(j.createdAt)},
            {"started_at", timeOrNull(j.startedAt)},
            {"finished_at", timeOrNull(j.finishedAt)},
            {"duration_seconds", orNull(j.durationSeconds)},
            {"progress", {{"done", j.progressDone}, {"total", j.progressTotal}}},
            {"error", std::move(error)},
            {"original", originalJson(j.original)},
            {"outputs", std::move(outputs)},
            {"callback_url", j.callbackUrl.empty() ? json(nullptr) : json(j.callbackUrl)},
            {"links", {{"self", self}, {"original", self + "/original"}, {"dashboard", "/dashboard/jobs/" + j.id}}}};
}

json pluginJson(const PluginDescriptor& p) {
    return {{"name", p.name},
            {"version", p.version},
            {"description", p.description},
            {"accepts", p.accepts},
            {"params", p.params.document()}};
}

}  // namespace pixelmill::http
