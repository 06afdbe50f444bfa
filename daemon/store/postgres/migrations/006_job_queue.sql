-- The queued jobs, apart: a row per job in state 'queued', kept by a
-- trigger in the same statement as the change, whatever the statement.
--
-- Claims used to find their jobs through partial indexes on jobs. Every
-- claimed job leaves its entry there, dead, until a vacuum of the whole jobs
-- table and all its indexes removes it, and those vacuums come further apart
-- as the table grows; the index is a few pages that every submit writes to,
-- so a scan often cannot mark the dead entries it passes. Here the churn is
-- in a table of a few thousand rows at most, which the daemons vacuum every
-- few seconds (PostgresJobStore::heartbeat): what a claim walks no longer
-- depends on the size of jobs or on when it was last vacuumed.
CREATE TABLE job_queue (
    seq        BIGINT PRIMARY KEY,  -- jobs.seq
    priority   INTEGER NOT NULL,
    run_after  BIGINT NOT NULL
);
CREATE INDEX job_queue_order ON job_queue (priority DESC, seq) INCLUDE (run_after);
CREATE INDEX job_queue_due ON job_queue (run_after);
ALTER TABLE job_queue SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

INSERT INTO job_queue (seq, priority, run_after) SELECT seq, priority, run_after FROM jobs WHERE state = 'queued';

CREATE FUNCTION jobs_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Most updates (progress, leases, the end of an attempt that is not a
    -- retry) have no queued row before or after: two statements that find nothing.
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM job_queue q USING old_rows o WHERE q.seq = o.seq AND o.state = 'queued';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO job_queue (seq, priority, run_after)
        SELECT seq, priority, run_after FROM new_rows WHERE state = 'queued';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_queued_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_queued();
CREATE TRIGGER jobs_queued_update AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_queued();
CREATE TRIGGER jobs_queued_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_queued();

-- The partial indexes the queue used to be read through.
DROP INDEX jobs_queue;
DROP INDEX jobs_queue_due;

-- Every change to a running job names it by id, this daemon and its
-- attempt; the planner's generic plan took this small partial index on the
-- owner for those instead of the unique id, and so walked every running
-- version of this daemon's jobs since the last vacuum on each finish.
-- Heartbeats and rescues, which it was for, read jobs_running_lease.
DROP INDEX jobs_running_owner;
