-- Passkeys (WebAuthn Level 2): a person's registered public-key credentials, and the ceremonies
-- between their two halves.
--
-- passkeys: credential_id is the authenticator's id of the credential (base64url), unique over
-- the deployment; user_handle is the person's WebAuthn user handle (a UUID, the same for all
-- their passkeys), which a discoverable credential gives back at sign-in. credential is the
-- verified public key with its signature counter and flags (JSON of the WebAuthn library's
-- credential); backup_eligible says whether the authenticator may sync it (amr swk, else hwk).
CREATE TABLE passkeys (
    id              TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_handle     TEXT COLLATE "C" NOT NULL,
    credential_id   TEXT COLLATE "C" NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    credential      TEXT NOT NULL,
    backup_eligible SMALLINT NOT NULL CHECK (backup_eligible IN (0, 1)),
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- webauthn_ceremonies: the server's half of a registration or sign-in under way (its challenge),
-- taken (deleted) by the answer that finishes it, so each challenge is answered once. user_id is
-- the person it was started for; NULL for a discoverable sign-in, where the passkey says who.
CREATE TABLE webauthn_ceremonies (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL CHECK (kind IN ('register', 'sign-in')),
    user_id     TEXT COLLATE "C" REFERENCES users (id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);

-- An OWNER can require passkeys in particular: passkeys_only = 1 (with second_factor_required
-- = 1) counts only sessions signed in with a passkey.
ALTER TABLE organizations ADD COLUMN passkeys_only SMALLINT NOT NULL DEFAULT 0
    CHECK (passkeys_only IN (0, 1));
