-- Client secret rotation: the secret a client had before its last rotation (SHA-256, never the
-- secret itself) and when it stops being accepted (Unix milliseconds). Both NULL: none.
ALTER TABLE clients ADD COLUMN previous_secret_hash BYTEA;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at BIGINT;
