-- Castellan's initial schema, SQLite flavour (the PostgreSQL twin is migrations/postgres).
--
-- Migrations are append-only: once released, a file is never edited; changes come as a new
-- file. Both backends store the same representation, so one SQL text in src/sql serves both:
--   * instants are INTEGER Unix milliseconds; `last_used_at` is INTEGER days since 1970-01-01
--     (the values core's query AST carries for these fields);
--   * hashes are the raw 32-byte SHA-256 as BLOB;
--   * booleans are INTEGER 0/1 (the sqlx Any driver cannot read SQLite's BOOLEAN);
--   * scope patterns and grant types are space-separated text, redirect URIs and free-form
--     metadata are JSON text.
-- Tables are STRICT so that a value of the wrong type is refused instead of stored.

-- Facts about the installation itself. `bootstrap_client` records that the bootstrap admin
-- client was created; inserting that row is the atomic claim when several replicas start.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- OAuth clients (SPEC 3): the applications that ask for tokens.
CREATE TABLE clients (
    id                              TEXT PRIMARY KEY NOT NULL,
    name                            TEXT NOT NULL,
    kind                            TEXT NOT NULL,        -- confidential | public
    secret_hash                     BLOB CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
    scope                           TEXT NOT NULL,        -- allowed patterns; fixed at creation
    default_scope                   TEXT,                 -- NULL: all allowed non-wildcard scopes
    grant_types                     TEXT NOT NULL,
    redirect_uris                   TEXT NOT NULL,        -- JSON array of strings
    auth_method                     TEXT NOT NULL,
    token_format                    TEXT NOT NULL,        -- jwt | opaque
    public_client_credentials       INTEGER NOT NULL CHECK (public_client_credentials IN (0, 1)),
    access_token_validity_seconds   INTEGER,
    refresh_token_validity_seconds  INTEGER,
    created_at                      INTEGER NOT NULL,
    last_used_at                    INTEGER,              -- day granularity: no write per token
    delete_at                       INTEGER,
    -- Dynamic registration (RFC 7591); all NULL unless registered that way.
    software_id                     TEXT,
    registered_by                   TEXT,
    registration_token_hash         BLOB CHECK (registration_token_hash IS NULL
                                                OR length(registration_token_hash) = 32),
    metadata                        TEXT NOT NULL DEFAULT '{}'  -- JSON object
) STRICT;

-- The query API's default order (createdAt, id) and its paging.
CREATE INDEX clients_created_at ON clients (created_at, id);
CREATE INDEX clients_name ON clients (name);
-- The purge job only looks at clients scheduled for deletion.
CREATE INDEX clients_delete_at ON clients (delete_at) WHERE delete_at IS NOT NULL;
-- Repeated dynamic registrations find the earlier client.
CREATE INDEX clients_registration ON clients (software_id, registered_by)
    WHERE software_id IS NOT NULL;

-- Signing keys (SPEC 2.2). A key is current while `retired_at` is NULL, and published in the
-- JWKS until `expires_at`. The private key is PKCS#8 DER in unpadded base64url.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY NOT NULL,
    alg            TEXT NOT NULL,
    private_pkcs8  TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER,
    expires_at     INTEGER
) STRICT;

-- At most one current key per algorithm: this is what makes "insert the first key" atomic
-- when several replicas start at once.
CREATE UNIQUE INDEX signing_keys_one_current_per_alg ON signing_keys (alg)
    WHERE retired_at IS NULL;

-- Opaque (reference) access tokens (SPEC 4.6), keyed by the SHA-256 of the token; the token
-- itself is never stored. They go with their client.
CREATE TABLE opaque_tokens (
    hash        BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject     TEXT NOT NULL,
    scope       TEXT NOT NULL,
    audience    TEXT,
    claims      TEXT NOT NULL DEFAULT '{}',                 -- JSON object
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) STRICT;

CREATE INDEX opaque_tokens_client ON opaque_tokens (client_id);
CREATE INDEX opaque_tokens_expires_at ON opaque_tokens (expires_at);

-- Revoked JWT access tokens (SPEC 9.1), kept until the token would have expired anyway.
CREATE TABLE revoked_jwts (
    jti         TEXT PRIMARY KEY NOT NULL,
    client_id   TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX revoked_jwts_client ON revoked_jwts (client_id);
CREATE INDEX revoked_jwts_expires_at ON revoked_jwts (expires_at);
