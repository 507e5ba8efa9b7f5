-- Device authorizations (RFC 8628): a device's pending request under the SHA-256 of its
-- device_code and of its user_code (neither stored itself), decided once by a person
-- (approved with the grant it starts and when that person signed in, or denied) and redeemed
-- once by the device.
CREATE TABLE device_authorizations (
    device_hash     BLOB PRIMARY KEY NOT NULL CHECK (length(device_hash) = 32),
    user_code_hash  BLOB NOT NULL UNIQUE CHECK (length(user_code_hash) = 32),
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope           TEXT NOT NULL,
    resources       TEXT,
    status          TEXT NOT NULL,
    user_id         TEXT,
    organization_id TEXT,
    consent_id      TEXT,
    family_id       TEXT,
    auth_time       INTEGER,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX device_authorizations_expiry ON device_authorizations (expires_at);
