-- Indexes the dashboard's pages need to answer in milliseconds at 100k jobs
-- (the counterpart of store/sqlite/migrations/003_dashboard.sql).

-- Jobs filtered by state and plugin at once, newest first.
CREATE INDEX jobs_state_plugin ON jobs (state, plugin, seq);

-- Throughput and duration percentiles over the last hour: a range of
-- finished_at answered from the index alone.
CREATE INDEX jobs_finished ON jobs (finished_at) INCLUDE (state, duration_seconds) WHERE finished_at IS NOT NULL;

-- The latest failures, and failures counted by plugin and error code.
CREATE INDEX jobs_failed_finished ON jobs (finished_at) WHERE state = 'failed';
CREATE INDEX jobs_failed_codes ON jobs (plugin, error_code) WHERE state = 'failed';

-- Search by filename prefix, ASCII case-insensitive: LIKE 'prefix%' over the
-- folded name, bytewise, so that the prefix becomes a range of this index.
-- The expression must stay the one postgres_dashboard.cpp queries.
CREATE INDEX originals_filename
    ON originals ((translate(filename, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) COLLATE "C");

-- Originals no job has used yet, newest first (GET /v1/originals?pending=true too).
CREATE INDEX originals_pending ON originals (seq) WHERE NOT used AND purged_at IS NULL;
