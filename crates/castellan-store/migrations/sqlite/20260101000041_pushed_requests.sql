-- Pushed authorization requests (RFC 9126): the parameters a client pushed, under the SHA-256
-- of their request_uri (a bearer handle, never stored itself), single-use and short-lived.
CREATE TABLE pushed_requests (
    hash        BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    parameters  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;

CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);
CREATE INDEX pushed_requests_client ON pushed_requests (client_id);
