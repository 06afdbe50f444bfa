-- Idempotency-Key: a client's key (client as the access layer names it,
-- "token:NAME" or "ip:ADDRESS") answers for 24 hours with the job its first
-- submission made and that first answer's status (202, or 200 for a
-- succeeded equal job), provided the request is the same: `fingerprint` is
-- the SHA-256 of its canonical fields. No foreign key: a key whose job was
-- deleted is taken again by the next submission. Older keys are purged in
-- bounded steps, oldest first (created_at).
CREATE TABLE idempotency_keys (
    client      TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (client, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The X-Request-Id of the request that submitted the job: its webhooks send it back.
ALTER TABLE jobs ADD COLUMN request_id TEXT;
