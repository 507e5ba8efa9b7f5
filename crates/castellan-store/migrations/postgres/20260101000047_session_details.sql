-- What the sessions page shows of each signed-in browser: a public id (the page and the API
-- name a session by it; the cookie's hash is never shown), the device (browser and system read
-- from its User-Agent) and the address it signed in from. Sessions from before this migration
-- get an id derived from their hash and an empty device and address.
ALTER TABLE sessions ADD COLUMN id TEXT COLLATE "C";
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
UPDATE sessions SET id = 'ses_' || encode(substring(hash FROM 1 FOR 16), 'hex') WHERE id IS NULL;
ALTER TABLE sessions ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX sessions_id ON sessions (id);
CREATE INDEX sessions_expiry ON sessions (expires_at);
