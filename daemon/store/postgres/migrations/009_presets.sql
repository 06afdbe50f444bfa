-- Presets, as in store/sqlite/migrations/008_presets.sql (which says what each holds).
CREATE TABLE presets (
    name       TEXT PRIMARY KEY,
    plugin     TEXT NOT NULL,
    params     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

ALTER TABLE jobs ADD COLUMN preset TEXT;
