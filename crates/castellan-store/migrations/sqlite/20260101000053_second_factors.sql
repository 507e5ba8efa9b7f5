-- Second factors and how each sign-in was made.
--
-- totp_factors: one authenticator app (TOTP, RFC 6238) per person. The secret is base32 text,
-- readable to whoever reads the database, like the signing keys' private halves: an app must
-- compute the same codes. confirmed_at is NULL while enrolment waits for a first code (such a
-- row counts for nothing); last_step is the last 30-second step whose code was accepted, so
-- each code counts once. failed_codes counts wrong codes since the last right one: past a
-- limit the app's codes are refused until a recovery code is used.
CREATE TABLE totp_factors (
    user_id       TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER NOT NULL DEFAULT 0,
    last_used_at  INTEGER,
    failed_codes  INTEGER NOT NULL DEFAULT 0
) STRICT;

-- recovery_codes: single-use codes for a lost authenticator, stored only as SHA-256 of their
-- normal form; used_at is set when one is used.
CREATE TABLE recovery_codes (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash        BLOB NOT NULL CHECK (length(hash) = 32),
    created_at  INTEGER NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (user_id, hash)
) STRICT;

-- The authentication methods (RFC 8176 names, space-separated) of the sign-in a session, a
-- code, a refresh token or a device approval carries: the `amr` and `acr` of its tokens.
-- Rows from before were signed in with a password.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE authorization_codes ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE device_authorizations ADD COLUMN amr TEXT;

-- Refresh tokens of a token exchange are a client acting for the person, not a sign-in: they
-- carry no methods.
UPDATE refresh_tokens SET amr = '' WHERE delegated_from IS NOT NULL;
