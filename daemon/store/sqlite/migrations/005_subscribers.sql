-- The callbacks of a submission answered with an equal job (dedup): each
-- submitter is notified when that job ends, not only the one that created it
-- (whose callbacks are the job's own columns).
CREATE TABLE job_subscribers (
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
    target      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (job_id, kind, target)
) WITHOUT ROWID;
