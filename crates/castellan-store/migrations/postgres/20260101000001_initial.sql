-- Castellan's initial schema, PostgreSQL flavour (the SQLite twin is migrations/sqlite).
--
-- Migrations are append-only: once released, a file is never edited; changes come as a new
-- file. Both backends store the same representation, so one SQL text in src/sql serves both:
--   * instants are BIGINT Unix milliseconds; `last_used_at` is BIGINT days since 1970-01-01
--     (the values core's query AST carries for these fields);
--   * hashes are the raw 32-byte SHA-256 as BYTEA;
--   * booleans are SMALLINT 0/1, as on SQLite (the sqlx Any driver reads both as integers);
--   * scope patterns and grant types are space-separated text, redirect URIs and free-form
--     metadata are JSON text;
--   * text that the query API compares or sorts (`id`, `name`) uses the "C" collation, so that
--     order is bytewise, as SQLite's BINARY collation, whatever the database's locale.

-- Facts about the installation itself. `bootstrap_client` records that the bootstrap admin
-- client was created; inserting that row is the atomic claim when several replicas start.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- OAuth clients (SPEC 3): the applications that ask for tokens.
CREATE TABLE clients (
    id                              TEXT COLLATE "C" PRIMARY KEY,
    name                            TEXT COLLATE "C" NOT NULL,
    kind                            TEXT NOT NULL,        -- confidential | public
    secret_hash                     BYTEA CHECK (secret_hash IS NULL OR octet_length(secret_hash) = 32),
    scope                           TEXT NOT NULL,        -- allowed patterns; fixed at creation
    default_scope                   TEXT,                 -- NULL: all allowed non-wildcard scopes
    grant_types                     TEXT NOT NULL,
    redirect_uris                   TEXT NOT NULL,        -- JSON array of strings
    auth_method                     TEXT NOT NULL,
    token_format                    TEXT NOT NULL,        -- jwt | opaque
    public_client_credentials       SMALLINT NOT NULL CHECK (public_client_credentials IN (0, 1)),
    access_token_validity_seconds   BIGINT,
    refresh_token_validity_seconds  BIGINT,
    created_at                      BIGINT NOT NULL,
    last_used_at                    BIGINT,               -- day granularity: no write per token
    delete_at                       BIGINT,
    -- Dynamic registration (RFC 7591); all NULL unless registered that way.
    software_id                     TEXT,
    registered_by                   TEXT,
    registration_token_hash         BYTEA CHECK (registration_token_hash IS NULL
                                                 OR octet_length(registration_token_hash) = 32),
    metadata                        TEXT NOT NULL DEFAULT '{}'  -- JSON object
);

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
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    private_pkcs8  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    retired_at     BIGINT,
    expires_at     BIGINT
);

-- At most one current key per algorithm: this is what makes "insert the first key" atomic
-- when several replicas start at once.
CREATE UNIQUE INDEX signing_keys_one_current_per_alg ON signing_keys (alg)
    WHERE retired_at IS NULL;

-- Opaque (reference) access tokens (SPEC 4.6), keyed by the SHA-256 of the token; the token
-- itself is never stored. They go with their client.
CREATE TABLE opaque_tokens (
    hash        BYTEA PRIMARY KEY CHECK (octet_length(hash) = 32),
    client_id   TEXT COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject     TEXT NOT NULL,
    scope       TEXT NOT NULL,
    audience    TEXT,
    claims      TEXT NOT NULL DEFAULT '{}',                 -- JSON object
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked     SMALLINT NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);

CREATE INDEX opaque_tokens_client ON opaque_tokens (client_id);
CREATE INDEX opaque_tokens_expires_at ON opaque_tokens (expires_at);

-- Revoked JWT access tokens (SPEC 9.1), kept until the token would have expired anyway.
CREATE TABLE revoked_jwts (
    jti         TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX revoked_jwts_client ON revoked_jwts (client_id);
CREATE INDEX revoked_jwts_expires_at ON revoked_jwts (expires_at);
