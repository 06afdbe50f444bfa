-- Idempotency-Key records and the submitting request's id, as in
-- store/sqlite/migrations/007_idempotency_keys.sql (which says what each holds).
CREATE TABLE idempotency_keys (
    client      TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (client, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

ALTER TABLE jobs ADD COLUMN request_id TEXT;
