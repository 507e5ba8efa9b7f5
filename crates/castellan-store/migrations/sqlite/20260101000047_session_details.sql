-- What the sessions page shows of each signed-in browser: a public id (the page and the API
-- name a session by it; the cookie's hash is never shown), the device (browser and system read
-- from its User-Agent) and the address it signed in from. Sessions from before this migration
-- get an id derived from their hash and an empty device and address. (SQLite cannot add a NOT
-- NULL column without a default; every insert sets the id, and the unique index keeps it one.)
ALTER TABLE sessions ADD COLUMN id TEXT;
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
UPDATE sessions SET id = 'ses_' || lower(hex(substr(hash, 1, 16))) WHERE id IS NULL;
CREATE UNIQUE INDEX sessions_id ON sessions (id);
CREATE INDEX sessions_expiry ON sessions (expires_at);
