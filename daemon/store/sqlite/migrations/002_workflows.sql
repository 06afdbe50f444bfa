-- Push notifications, output cache accounting and attempt history.
ALTER TABLE jobs ADD COLUMN callback_email TEXT NOT NULL DEFAULT '';
-- Downloads of the job's outputs: the least frequently used are evicted first.
ALTER TABLE jobs ADD COLUMN hits INTEGER NOT NULL DEFAULT 0;
-- Outputs dropped to honour the storage quota; a download requeues the job.
ALTER TABLE jobs ADD COLUMN evicted INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_evictable ON jobs (hits, finished_at) WHERE state = 'succeeded' AND evicted = 0;

-- An original whose content was removed (deleted or past retention) keeps its
-- row, so the jobs that used it still say what it was.
ALTER TABLE originals ADD COLUMN purged_at INTEGER;

-- One row per notification to send when a job ends: a webhook POST or an
-- email. Created in the transaction that ends the job, so none is lost.
CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id           TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
    target           TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER NOT NULL DEFAULT 0,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_job ON deliveries (job_id);

-- Every attempt of a job, for the dashboard's timeline.
CREATE TABLE job_attempts (
    job_id         TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt        INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    outcome        TEXT,
    error_code     TEXT,
    error_message  TEXT,
    duration_seconds REAL,
    PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;

-- A batch lists its jobs in the order of the request; a job equal to an
-- earlier one (dedup) is listed, not copied.
CREATE TABLE batch_jobs (
    batch_id  TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    job_id    TEXT NOT NULL,
    PRIMARY KEY (batch_id, position)
) WITHOUT ROWID;
CREATE INDEX batch_jobs_job ON batch_jobs (job_id);
