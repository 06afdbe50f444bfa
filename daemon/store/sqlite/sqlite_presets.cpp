// SqliteJobStore: presets saved through the API.
#include "store/row_mapping.h"
#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_job_store.h"

namespace pixelmill {

using namespace sqlite;

std::vector<Preset> SqliteJobStore::listPresets() {
    auto db = reader();
    Statement& s = db->prepare(std::string("SELECT ") + rows::kPresetColumns + " FROM presets ORDER BY name");
    Reset r(s);
    std::vector<Preset> out;
    while (s.step()) out.push_back(rows::readPreset(s, 0));
    return out;
}

std::optional<Preset> SqliteJobStore::getPreset(std::string_view name) {
    auto db = reader();
    Statement& s = db->prepare(std::string("SELECT ") + rows::kPresetColumns + " FROM presets WHERE name = ?");
    Reset r(s);
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    return rows::readPreset(s, 0);
}

bool SqliteJobStore::savePreset(const Preset& preset) {
    return write([&](Connection& db) {
        Statement& known = db.prepare("SELECT 1 FROM presets WHERE name = ?");
        Reset r(known);
        known.bind(1, preset.name);
        bool existed = known.step();
        db.prepare("INSERT INTO presets (name, plugin, params, updated_at) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (name) DO UPDATE SET plugin = excluded.plugin, params = excluded.params, "
                   "updated_at = excluded.updated_at")
            .bind(1, preset.name)
            .bind(2, preset.plugin)
            .bind(3, preset.params.dump())
            .bind(4, preset.updatedAt)
            .run();
        return !existed;
    });
}

bool SqliteJobStore::deletePreset(std::string_view name) {
    return write([&](Connection& db) {
        db.prepare("DELETE FROM presets WHERE name = ?").bind(1, name).run();
        return db.changes() > 0;
    });
}

}  // namespace pixelmill
