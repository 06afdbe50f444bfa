// PostgresJobStore: presets saved through the API, seen by every daemon.
#include "store/postgres/postgres_job_store.h"

#include "store/postgres/rows.h"
#include "store/row_mapping.h"

namespace pixelmill {

using namespace pg;

std::vector<Preset> PostgresJobStore::listPresets() {
    return pool_.run([&](Connection& c) {
        std::vector<Preset> out;
        for (Row r : c.query(std::string("SELECT ") + rows::kPresetColumns + " FROM presets ORDER BY name"))
            out.push_back(rows::readPreset(r, 0));
        return out;
    });
}

std::optional<Preset> PostgresJobStore::getPreset(std::string_view name) {
    return pool_.run([&](Connection& c) -> std::optional<Preset> {
        Result found =
            c.query(std::string("SELECT ") + rows::kPresetColumns + " FROM presets WHERE name = $1", {std::string(name)});
        if (found.empty()) return std::nullopt;
        return rows::readPreset(found.front(), 0);
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
