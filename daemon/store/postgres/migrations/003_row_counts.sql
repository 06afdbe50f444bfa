-- The counts every status call shows (jobs by state, originals), kept by
-- triggers in the same transaction as the change, instead of count(*) over
-- the whole table on every /v1/status, dashboard page and scrape.
--
-- One counter row per state would be updated by every claim and finish of
-- every daemon, serialising them all on its row lock (and leaving a dead
-- tuple per job). So each statement appends its net change to
-- row_count_deltas (inserts never wait on each other), a reader sums
-- row_counts and the deltas, and the deltas are folded into row_counts now
-- and then (PostgresJobStore::foldCounts): the deltas table stays small.
CREATE TABLE row_counts (
    name TEXT PRIMARY KEY,  -- 'jobs.<state>' or 'originals'
    n    BIGINT NOT NULL
);

CREATE TABLE row_count_deltas (
    id   BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    n    BIGINT NOT NULL
);

INSERT INTO row_counts (name, n)
SELECT 'jobs.' || s.state, (SELECT count(*) FROM jobs j WHERE j.state = s.state)
FROM unnest(ARRAY['queued', 'running', 'succeeded', 'failed', 'canceled']) AS s (state);
INSERT INTO row_counts (name, n) SELECT 'originals', count(*) FROM originals;

CREATE FUNCTION jobs_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO row_count_deltas (name, n) SELECT 'jobs.' || state, count(*) FROM new_rows GROUP BY state;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO row_count_deltas (name, n) SELECT 'jobs.' || state, -count(*) FROM old_rows GROUP BY state;
    ELSE
        -- Most updates (progress, leases) leave the state alone: nothing to append.
        INSERT INTO row_count_deltas (name, n)
        SELECT name, sum(n) FROM (SELECT 'jobs.' || state AS name, -1 AS n FROM old_rows
                                  UNION ALL
                                  SELECT 'jobs.' || state, 1 FROM new_rows) d
        GROUP BY name HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_counted_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_counted();
CREATE TRIGGER jobs_counted_update AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_counted();
CREATE TRIGGER jobs_counted_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_counted();

CREATE FUNCTION originals_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO row_count_deltas (name, n) SELECT 'originals', count(*) FROM new_rows HAVING count(*) > 0;
    ELSE
        INSERT INTO row_count_deltas (name, n) SELECT 'originals', -count(*) FROM old_rows HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER originals_counted_insert AFTER INSERT ON originals REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION originals_counted();
CREATE TRIGGER originals_counted_delete AFTER DELETE ON originals REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION originals_counted();
