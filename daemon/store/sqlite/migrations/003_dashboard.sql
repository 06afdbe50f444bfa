-- Indexes the dashboard's pages need to answer in milliseconds at 100k jobs.

-- Jobs filtered by state and plugin at once, newest first (seq is the rowid,
-- the implicit last column of every index).
CREATE INDEX jobs_state_plugin ON jobs (state, plugin);

-- Throughput and duration percentiles over the last hour: a range of
-- finished_at answered from the index alone.
CREATE INDEX jobs_finished ON jobs (finished_at, state, duration_seconds) WHERE finished_at IS NOT NULL;

-- The latest failures, and failures counted by plugin and error code.
CREATE INDEX jobs_failed_finished ON jobs (finished_at) WHERE state = 'failed';
CREATE INDEX jobs_failed_codes ON jobs (plugin, error_code) WHERE state = 'failed';

-- Search by filename prefix, case-insensitive: a NOCASE range.
CREATE INDEX originals_filename ON originals (filename COLLATE NOCASE);

-- Originals no job has used yet, newest first (GET /v1/originals?pending=true too).
CREATE INDEX originals_pending ON originals (used) WHERE used = 0 AND purged_at IS NULL;
