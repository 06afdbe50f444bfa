-- Autovacuum at a pace a job queue needs. By default a table is vacuumed
-- once a fifth of it is dead: at 300,000 jobs that is 60,000 dead versions,
-- and until then every index keeps an entry for each version of a row
-- since the last vacuum (the queue itself has its own table since
-- migration 006, for that reason). Here each table with a row
-- per job is vacuumed after 1% of it (at least 2,000 rows) has changed, at
-- every autovacuum round, and analyzed as often, so that the planner's
-- picture of a table that grows from nothing stays current.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 2000,
                      autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000,
                      autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE originals SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 2000,
                           autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
ALTER TABLE job_attempts SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 2000,
                              autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 2000);
ALTER TABLE outputs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 2000);
-- Folded away every second (PostgresJobStore::foldCounts); the daemons also
-- vacuum it themselves every few seconds, as a minute's dead rows slow every count.
ALTER TABLE row_count_deltas SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
