-- People and their grants (SPEC 4.3, 4.5, 5, 9.3), SQLite flavour (the PostgreSQL twin is
-- migrations/postgres). Same representation as 0001: instants are INTEGER Unix milliseconds,
-- hashes raw 32-byte SHA-256 BLOBs, scopes space-separated text. Codes, session ids and
-- refresh tokens are stored only as hashes.
--
-- Everything a client was given goes with it (ON DELETE CASCADE from `clients`, and
-- `delete_client` also deletes explicitly); everything a user holds goes with the user.

-- People who sign in. `email` is normalised (trimmed, lower-cased) before it gets here;
-- `password_hash` is an Argon2id PHC string.
CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;

-- Organizations (SPEC 5.6): a user's token is bound to one of them.
CREATE TABLE organizations (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX organizations_name ON organizations (name);

-- Who belongs to which organization, in which role (OWNER | MANAGER | VIEWER).
CREATE TABLE memberships (
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('OWNER', 'MANAGER', 'VIEWER')),
    PRIMARY KEY (organization_id, user_id)
) STRICT;

CREATE INDEX memberships_user ON memberships (user_id);

-- Signed-in browser sessions, keyed by the SHA-256 of the cookie value.
CREATE TABLE sessions (
    hash        BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id);

-- Consents ("connected apps", SPEC 5.3, 9.3): a user let a client act with `scope` (the union
-- of every approval) in an organization. One per (user, client, organization); a NULL
-- organization counts as one value for that rule, hence the expression index.
CREATE TABLE consents (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    organization_id  TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX consents_one_per_party
    ON consents (user_id, client_id, COALESCE(organization_id, ''));
CREATE INDEX consents_client ON consents (client_id);

-- Authorization codes (RFC 6749 §4.1.2, SPEC 5.4), keyed by SHA-256, bound to everything the
-- exchange checks. `used_at` is set by the one redemption that wins; a later one is a replay.
CREATE TABLE authorization_codes (
    hash             BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri     TEXT NOT NULL,
    code_challenge   TEXT,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id  TEXT,
    scope            TEXT NOT NULL,
    nonce            TEXT,
    resource         TEXT,
    auth_time        INTEGER NOT NULL,
    consent_id       TEXT NOT NULL REFERENCES consents (id) ON DELETE CASCADE,
    family_id        TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    used_at          INTEGER
) STRICT;

CREATE INDEX authorization_codes_client ON authorization_codes (client_id);
CREATE INDEX authorization_codes_consent ON authorization_codes (consent_id);

-- Token families: every access and refresh token issued from one code redemption (or one
-- password grant) carries the family id (`gid`). A family is revoked by setting `revoked_at`
-- (reuse, replay, revocation endpoint) or by deleting its consent, which deletes it; a family
-- that is not here counts as revoked.
CREATE TABLE refresh_families (
    id          TEXT PRIMARY KEY NOT NULL,
    consent_id  TEXT NOT NULL REFERENCES consents (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX refresh_families_consent ON refresh_families (consent_id);

-- Refresh tokens (RFC 9700 §4.14.2), keyed by SHA-256. The current token of a family has
-- `rotated_at` NULL; rotated-out tokens are kept so that presenting one again is detected as
-- reuse. `expires_at` is an inactivity expiry: each rotation stores a new one.
CREATE TABLE refresh_tokens (
    hash             BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    family_id        TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    consent_id       TEXT NOT NULL,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id  TEXT,
    scope            TEXT NOT NULL,
    auth_time        INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    rotated_at       INTEGER
) STRICT;

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
