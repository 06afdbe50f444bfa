-- Presets saved through the API (PUT /v1/presets/{name}): a plugin and its
-- parameters as given (a JSON object, without defaults). The config file's
-- presets are not stored: each daemon reads its own file.
CREATE TABLE presets (
    name       TEXT PRIMARY KEY,
    plugin     TEXT NOT NULL,
    params     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The preset a job was submitted with, if any (its plugin and parameters are
-- the job's own columns, resolved when it was submitted).
ALTER TABLE jobs ADD COLUMN preset TEXT;
