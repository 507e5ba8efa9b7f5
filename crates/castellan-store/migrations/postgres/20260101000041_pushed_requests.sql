-- Pushed authorization requests (RFC 9126): the parameters a client pushed, under the SHA-256
-- of their request_uri (a bearer handle, never stored itself), single-use and short-lived.
CREATE TABLE pushed_requests (
    hash        BYTEA PRIMARY KEY CHECK (octet_length(hash) = 32),
    client_id   TEXT COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    parameters  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);
CREATE INDEX pushed_requests_client ON pushed_requests (client_id);
