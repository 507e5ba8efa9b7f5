-- API keys (SPEC 6), postgres flavour. Same representation as 0001: instants are BIGINT Unix
-- milliseconds, `last_used_at` is BIGINT days since 1970-01-01 (written at most once a day),
-- hashes raw 32-byte SHA-256 values. The key itself is never stored: only its hash, found
-- through a unique index (one lookup per check), and what may be shown of it.

CREATE TABLE api_keys (
    id               TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    hash             BYTEA NOT NULL UNIQUE CHECK (octet_length(hash) = 32),  -- SHA-256 of the whole key
    visible_prefix   TEXT NOT NULL,                 -- e.g. csb_LAb3x: prefix, env letter, 4 chars
    last_four        TEXT NOT NULL,                 -- last four characters (of the checksum)
    name             TEXT NOT NULL,
    scope            TEXT NOT NULL,                 -- space-separated, at most the creator's
    organization_id  TEXT,                          -- NULL: not bound to an organization
    tier             TEXT NOT NULL,                 -- rate-limit tier
    created_at       BIGINT NOT NULL,
    created_by       TEXT NOT NULL,                 -- user or client id of the creator
    last_used_at     BIGINT,                           -- day granularity
    expires_at       BIGINT,                           -- NULL: never expires
    status           TEXT NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'disabled', 'revoked')),
    rotated_from     TEXT                           -- the key this one replaced
);

CREATE INDEX api_keys_organization ON api_keys (organization_id, created_at);
CREATE INDEX api_keys_created_by ON api_keys (created_by, created_at);
