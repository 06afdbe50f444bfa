// PostgresJobStore: presets saved through the API, seen by every daemon.
#include "store/postgres/postgres_job_store.h"

#include "store/postgres/rows.h"

namespace pixelmill {

using namespace pg;

namespace {

constexpr const char* kPresetColumns = "SELECT name, plugin, params, updated_at FROM presets";

Preset readPreset(const Row& r) {
    Preset p;
    p.name = r.text(0);
    p.plugin = r.text(1);
    p.params = nlohmann::json::parse(r.text(2), nullptr, false);
    if (!p.params.is_object()) p.params = nlohmann::json::object();
    p.updatedAt = r.i64(3);
    return p;
}

}  // namespace

std::vector<Preset> PostgresJobStore::listPresets() {
    return pool_.run([&](Connection& c) {
        std::vector<Preset> out;
        for (Row r : c.query(std::string(kPresetColumns) + " ORDER BY name")) out.push_back(readPreset(r));
        return out;
    });
}

std::optional<Preset> PostgresJobStore::getPreset(std::string_view name) {
    return pool_.run([&](Connection& c) -> std::optional<Preset> {
        Result rows = c.query(std::string(kPresetColumns) + " WHERE name = $1", {std::string(name)});
        if (rows.empty()) return std::nullopt;
        return readPreset(rows.front());
    });
}

bool PostgresJobStore::savePreset(const Preset& preset) {
    // xmax = 0 only on a row this statement inserted, not on one it updated.
    return pool_.run([&](Connection& c) {
        return c
            .query("INSERT INTO presets (name, plugin, params, updated_at) VALUES ($1, $2, $3, $4) "
                   "ON CONFLICT (name) DO UPDATE SET plugin = excluded.plugin, params = excluded.params, "
                   "updated_at = excluded.updated_at RETURNING (xmax = 0)",
                   {preset.name, preset.plugin, preset.params.dump(), preset.updatedAt})
            .front()
            .boolean(0);
    });
}

bool PostgresJobStore::deletePreset(std::string_view name) {
    return pool_.run([&](Connection& c) {
        return !c.query("DELETE FROM presets WHERE name = $1 RETURNING 1", {std::string(name)}).empty();
    });
}

}  // namespace pixelmill
