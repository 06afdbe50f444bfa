-- Originals are stored once per distinct content; jobs refer to them.
CREATE TABLE originals (
    id          TEXT PRIMARY KEY,
    sha256      TEXT NOT NULL UNIQUE,
    filename    TEXT NOT NULL DEFAULT '',
    media_type  TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL,
    width       INTEGER,
    height      INTEGER,
    pages       INTEGER,
    created_at  INTEGER NOT NULL,
    used        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX originals_created ON originals (created_at);

CREATE TABLE batches (
    id          TEXT PRIMARY KEY,
    plugin      TEXT NOT NULL,
    params      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- seq orders jobs (newest first in listings, oldest first within a priority
-- in the queue) and is the paging cursor.
CREATE TABLE jobs (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    plugin            TEXT NOT NULL,
    plugin_version    TEXT NOT NULL,
    params            TEXT NOT NULL,
    dedup_key         TEXT NOT NULL,
    original_id       TEXT NOT NULL REFERENCES originals (id),
    state             TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    priority          INTEGER NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    run_after         INTEGER NOT NULL,
    lease_until       INTEGER NOT NULL DEFAULT 0,
    error_code        TEXT,
    error_message     TEXT,
    progress_done     INTEGER NOT NULL DEFAULT 0,
    progress_total    INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    duration_seconds  REAL,
    callback_url      TEXT NOT NULL DEFAULT '',
    batch_id          TEXT REFERENCES batches (id)
);
-- Exactly the claim query's order, over queued jobs only.
CREATE INDEX jobs_queue ON jobs (priority DESC, seq) WHERE state = 'queued';
CREATE INDEX jobs_dedup ON jobs (dedup_key);
CREATE INDEX jobs_state_seq ON jobs (state, seq);
CREATE INDEX jobs_plugin_seq ON jobs (plugin, seq);
CREATE INDEX jobs_original ON jobs (original_id);
CREATE INDEX jobs_batch ON jobs (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX jobs_running_lease ON jobs (lease_until) WHERE state = 'running';

-- Outputs of a job; (job_id, idx) is unique, so a retried attempt replaces
-- rather than duplicates.
CREATE TABLE outputs (
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL,
    width       INTEGER,
    height      INTEGER,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE INDEX outputs_sha ON outputs (sha256);
