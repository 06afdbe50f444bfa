#include "http/api/job_json.h"

#include "common/clock.h"
#include "jobs/chains.h"

#include <filesystem>

namespace pixelmill::http {

using json = nlohmann::ordered_json;

namespace {

template <class T>
json orNull(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

json timeOrNull(const std::optional<int64_t>& ms) { return ms ? json(formatTime(*ms)) : json(nullptr); }

// The delivery of one kind of notification: null until the job has ended
// with one to send.
json callbackJson(const Job& j, const std::string& kind) {
    const std::string& own = kind == "webhook" ? j.callbackUrl : j.callbackEmail;
    for (const Delivery& d : j.deliveries) {
        if (d.kind != kind || d.target != own) continue;  // another submitter's (dedup)
        return {{"state", d.state},
                {"attempts", d.attempts},
                {"last_status", orNull(d.lastStatus)},
                {"last_error", d.lastError.empty() ? json(nullptr) : json(d.lastError)}};
    }
    return nullptr;
}

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
            {"preset", j.preset.empty() ? json(nullptr) : json(j.preset)},
            {"params", std::move(params)},
            {"steps", j.steps.empty() ? json(nullptr) : stepsView(j)},
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
            {"callback", callbackJson(j, "webhook")},
            {"callback_email", j.callbackEmail.empty() ? json(nullptr) : json(j.callbackEmail)},
            {"email", callbackJson(j, "email")},
            {"links", {{"self", self}, {"original", self + "/original"}, {"dashboard", "/dashboard/jobs/" + j.id}}}};
}

json attemptsJson(const Job& j) {
    json out = json::array();
    for (const AttemptRecord& a : j.history) {
        out.push_back({{"attempt", a.attempt},
                       {"started_at", formatTime(a.startedAt)},
                       {"finished_at", timeOrNull(a.finishedAt)},
                       {"outcome", a.outcome.empty() ? json("running") : json(a.outcome)},
                       {"error", a.error ? json{{"code", a.error->code}, {"message", a.error->message}} : json(nullptr)},
                       {"duration_seconds", orNull(a.durationSeconds)}});
    }
    return out;
}

json pluginJson(const PluginDescriptor& p) {
    return {{"name", p.name},
            {"version", p.version},
            {"description", p.description},
            {"accepts", p.accepts},
            {"params", p.params.document()},
            // Libraries are never unloaded: a deleted file's plugin serves until a restart.
            {"file_removed", !p.file.empty() && !std::filesystem::exists(p.file)}};
}

json presetJson(const PresetState& state) {
    const Preset& p = state.preset;
    return {{"name", p.name},
            {"plugin", p.plugin},
            {"params", json(p.params)},
            {"valid", state.valid},
            {"why", state.valid ? json(nullptr) : json(state.why)}};
}

}  // namespace pixelmill::http
