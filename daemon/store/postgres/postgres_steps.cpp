// PostgresJobStore: what chain steps made (step_outputs), seen by every node.
#include "store/postgres/postgres_job_store.h"

#include "store/postgres/rows.h"
#include "store/row_mapping.h"

namespace pixelmill {

using namespace pg;

std::optional<std::vector<Output>> PostgresJobStore::findStepOutputs(const std::string& stepKey) {
    return pool_.run([&](Connection& c) -> std::optional<std::vector<Output>> {
        std::vector<Output> out;
        for (Row r : c.query(std::string("SELECT ") + rows::kOutputColumns +
                                 " FROM step_outputs WHERE step_key = $1 ORDER BY idx",
                             {stepKey}))
            out.push_back(rows::readOutput(r, 0));
        if (out.empty()) return std::nullopt;
        return out;
    });
}

void PostgresJobStore::saveStepOutputs(const std::string& stepKey, const std::string& jobId,
                                       const std::vector<Output>& outputs, int64_t now) {
    pool_.transaction([&](Connection& c) {
        for (const Output& o : outputs)
            c.query("INSERT INTO step_outputs (step_key, idx, job_id, name, media_type, sha256, size_bytes, width, "
                    "height, created_at) VALUES ($1, $2::int, $3, $4, $5, $6, $7::bigint, $8::int, $9::int, $10::bigint) "
                    "ON CONFLICT (step_key, idx) DO NOTHING",
                    {stepKey, o.index, jobId, o.name, o.mediaType, o.sha256, o.sizeBytes, o.width, o.height, now});
        return 0;
    });
}

void PostgresJobStore::setStepsProgress(const std::string& jobId, int attempt, const std::string& stepsProgress) {
    pool_.run([&](Connection& c) {
        c.query("UPDATE jobs SET steps_progress = $4 WHERE id = $1 AND attempts = $2::int AND state = 'running' "
                "AND lease_owner = $3",
                {jobId, attempt, nodeId_, stepsProgress});
        return 0;
    });
}

}  // namespace pixelmill
