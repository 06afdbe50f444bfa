-- The schema of store/sqlite/migrations 001-002 for several daemons on one
-- database. Times are unix ms (BIGINT). Identifiers compare bytewise
-- (COLLATE "C"), as in SQLite, whatever the database's locale.

-- Originals are stored once per distinct content; jobs refer to them. seq
-- orders them (newest first in listings) and is the paging cursor.
CREATE TABLE originals (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id          TEXT COLLATE "C" PRIMARY KEY,
    sha256      TEXT COLLATE "C" NOT NULL UNIQUE,
    filename    TEXT NOT NULL DEFAULT '',
    media_type  TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    width       INTEGER,
    height      INTEGER,
    pages       INTEGER,
    created_at  BIGINT NOT NULL,
    used        BOOLEAN NOT NULL DEFAULT false,
    -- The content was removed (deleted or past retention); the row stays so
    -- that the jobs that used it still say what it was.
    purged_at   BIGINT
);
CREATE INDEX originals_created ON originals (created_at);

CREATE TABLE batches (
    id          TEXT COLLATE "C" PRIMARY KEY,
    plugin      TEXT COLLATE "C" NOT NULL,
    params      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- seq orders jobs (newest first in listings, oldest first within a priority
-- in the queue) and is the paging cursor.
CREATE TABLE jobs (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT COLLATE "C" NOT NULL UNIQUE,
    plugin            TEXT COLLATE "C" NOT NULL,
    plugin_version    TEXT NOT NULL,
    params            TEXT NOT NULL,
    dedup_key         TEXT COLLATE "C" NOT NULL,
    original_id       TEXT COLLATE "C" NOT NULL REFERENCES originals (id),
    state             TEXT COLLATE "C" NOT NULL
                      CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    priority          INTEGER NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    run_after         BIGINT NOT NULL,
    lease_until       BIGINT NOT NULL DEFAULT 0,
    -- The daemon (nodes.id) running the job: only it may record the attempt.
    lease_owner       TEXT COLLATE "C",
    error_code        TEXT COLLATE "C",
    error_message     TEXT,
    progress_done     BIGINT NOT NULL DEFAULT 0,
    progress_total    BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT,
    duration_seconds  DOUBLE PRECISION,
    callback_url      TEXT NOT NULL DEFAULT '',
    callback_email    TEXT NOT NULL DEFAULT '',
    batch_id          TEXT COLLATE "C" REFERENCES batches (id),
    -- Downloads of the job's outputs: the least frequently used are evicted first.
    hits              BIGINT NOT NULL DEFAULT 0,
    -- Outputs dropped to honour the storage quota; a download requeues the job.
    evicted           BOOLEAN NOT NULL DEFAULT false
);
-- Exactly the claim query's order, over queued jobs only.
CREATE INDEX jobs_queue ON jobs (priority DESC, seq) WHERE state = 'queued';
-- nextRunAfter and oldestReadySince.
CREATE INDEX jobs_queue_due ON jobs (run_after) WHERE state = 'queued';
CREATE INDEX jobs_dedup ON jobs (dedup_key);
CREATE INDEX jobs_state_seq ON jobs (state, seq);
CREATE INDEX jobs_plugin_seq ON jobs (plugin, seq);
CREATE INDEX jobs_original ON jobs (original_id, seq);
CREATE INDEX jobs_batch ON jobs (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX jobs_running_lease ON jobs (lease_until) WHERE state = 'running';
-- Heartbeats extend, and rescues take back, the jobs of one daemon.
CREATE INDEX jobs_running_owner ON jobs (lease_owner) WHERE state = 'running';
CREATE INDEX jobs_evictable ON jobs (hits, finished_at) WHERE state = 'succeeded' AND NOT evicted;

-- Outputs of a job; (job_id, idx) is unique, so a retried attempt replaces
-- rather than duplicates.
CREATE TABLE outputs (
    job_id      TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    sha256      TEXT COLLATE "C" NOT NULL,
    size_bytes  BIGINT NOT NULL,
    width       INTEGER,
    height      INTEGER,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX outputs_sha ON outputs (sha256);

-- One row per notification to send when a job ends: a webhook POST or an
-- email. Created in the transaction that ends the job, so none is lost.
CREATE TABLE deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id           TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
    target           TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT NOT NULL DEFAULT 0,
    -- The daemon sending it: a rescue makes the sends of a dead one due again.
    lease_owner      TEXT COLLATE "C",
    last_status      INTEGER,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_job ON deliveries (job_id);
CREATE INDEX deliveries_owner ON deliveries (lease_owner) WHERE state = 'pending' AND lease_owner IS NOT NULL;

-- Every attempt of a job, for the dashboard's timeline.
CREATE TABLE job_attempts (
    job_id            TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt           INTEGER NOT NULL,
    started_at        BIGINT NOT NULL,
    finished_at       BIGINT,
    outcome           TEXT,
    error_code        TEXT,
    error_message     TEXT,
    duration_seconds  DOUBLE PRECISION,
    PRIMARY KEY (job_id, attempt)
);

-- A batch lists its jobs in the order of the request; a job equal to an
-- earlier one (dedup) is listed, not copied.
CREATE TABLE batch_jobs (
    batch_id  TEXT COLLATE "C" NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    job_id    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (batch_id, position)
);
CREATE INDEX batch_jobs_job ON batch_jobs (job_id);

-- The daemons sharing the database: each upserts its row with every
-- heartbeat; a rescue deletes the rows of the silent ones.
CREATE TABLE nodes (
    id            TEXT COLLATE "C" PRIMARY KEY,
    address       TEXT NOT NULL,
    version       TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL,
    busy          INTEGER NOT NULL DEFAULT 0,
    workers       INTEGER NOT NULL DEFAULT 0
);
