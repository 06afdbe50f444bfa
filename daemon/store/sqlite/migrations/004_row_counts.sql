-- The counts every status call shows (jobs by state, originals), kept by
-- triggers in the same transaction as the change: COUNT(*) walks a whole
-- table or index, which at a few hundred thousand jobs takes longer than
-- /v1/status, the dashboard or a scrape may take.
CREATE TABLE row_counts (
    name TEXT PRIMARY KEY,  -- 'jobs.<state>' or 'originals'
    n    INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO row_counts (name, n)
SELECT 'jobs.' || s.state, (SELECT COUNT(*) FROM jobs j WHERE j.state = s.state)
FROM (SELECT 'queued' AS state UNION ALL SELECT 'running' UNION ALL SELECT 'succeeded'
      UNION ALL SELECT 'failed' UNION ALL SELECT 'canceled') s;
INSERT INTO row_counts (name, n) SELECT 'originals', COUNT(*) FROM originals;

CREATE TRIGGER jobs_counted_insert AFTER INSERT ON jobs BEGIN
    UPDATE row_counts SET n = n + 1 WHERE name = 'jobs.' || NEW.state;
END;

CREATE TRIGGER jobs_counted_delete AFTER DELETE ON jobs BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'jobs.' || OLD.state;
END;

CREATE TRIGGER jobs_counted_state AFTER UPDATE OF state ON jobs WHEN OLD.state IS NOT NEW.state BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'jobs.' || OLD.state;
    UPDATE row_counts SET n = n + 1 WHERE name = 'jobs.' || NEW.state;
END;

CREATE TRIGGER originals_counted_insert AFTER INSERT ON originals BEGIN
    UPDATE row_counts SET n = n + 1 WHERE name = 'originals';
END;

CREATE TRIGGER originals_counted_delete AFTER DELETE ON originals BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'originals';
END;
