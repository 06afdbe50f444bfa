// SqliteJobStore: what chain steps made (step_outputs).
#include "store/row_mapping.h"
#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_job_store.h"

namespace pixelmill {

using namespace sqlite;

std::optional<std::vector<Output>> SqliteJobStore::findStepOutputs(const std::string& stepKey) {
    auto db = reader();
    Statement& s = db->prepare(std::string("SELECT ") + rows::kOutputColumns +
                               " FROM step_outputs WHERE step_key = ? ORDER BY idx");
    Reset r(s);
    s.bind(1, stepKey);
    std::vector<Output> out;
    while (s.step()) out.push_back(rows::readOutput(s, 0));
    if (out.empty()) return std::nullopt;
    return out;
}

void SqliteJobStore::saveStepOutputs(const std::string& stepKey, const std::string& jobId,
                                     const std::vector<Output>& outputs, int64_t now) {
    write([&](Connection& db) {
        for (const Output& o : outputs)
            db.prepare("INSERT INTO step_outputs (step_key, idx, job_id, name, media_type, sha256, size_bytes, "
                       "width, height, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT (step_key, idx) DO NOTHING")
                .bind(1, stepKey)
                .bind(2, static_cast<int64_t>(o.index))
                .bind(3, jobId)
                .bind(4, o.name)
                .bind(5, o.mediaType)
                .bind(6, o.sha256)
                .bind(7, static_cast<int64_t>(o.sizeBytes))
                .bind(8, o.width)
                .bind(9, o.height)
                .bind(10, now)
                .run();
    });
}

void SqliteJobStore::setStepsProgress(const std::string& jobId, int attempt, const std::string& stepsProgress) {
    write([&](Connection& db) {
        db.prepare("UPDATE jobs SET steps_progress = ? WHERE id = ? AND attempts = ? AND state = 'running'")
            .bind(1, stepsProgress)
            .bind(2, jobId)
            .bind(3, attempt)
            .run();
    });
}

}  // namespace pixelmill
