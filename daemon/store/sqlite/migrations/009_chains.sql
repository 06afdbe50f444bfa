-- Chains (submit with steps): the steps of a job, JSON [{"plugin",
-- "version", "params"}] (NULL for a job of one plugin), and its progress per
-- step, JSON [[done, total], ...].
ALTER TABLE jobs ADD COLUMN steps TEXT;
ALTER TABLE jobs ADD COLUMN steps_progress TEXT;

-- What a step of a chain made of one input: found again by its key (the
-- input's sha256, the plugin, its version and the canonical parameters), so
-- the same step on the same input is not run twice. Rows keep their blobs
-- referenced; they go with the job that made them.
CREATE TABLE step_outputs (
    step_key   TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    job_id     TEXT NOT NULL,
    name       TEXT NOT NULL,
    media_type TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    width      INTEGER,
    height     INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (step_key, idx)
);
CREATE INDEX step_outputs_sha256 ON step_outputs (sha256);
CREATE INDEX step_outputs_job ON step_outputs (job_id);
