-- Links sent by email (or handed on by an OWNER when no mail server is configured): an
-- invitation to an organization, a link that verifies a person's email address, a link that
-- sets a new password. Each is stored only as the SHA-256 of its secret, expires, and is used
-- once (used_at). Times are Unix milliseconds.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

CREATE TABLE email_links (
    hash             BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    id               TEXT NOT NULL UNIQUE,
    purpose          TEXT NOT NULL,
    email            TEXT NOT NULL,
    user_id          TEXT REFERENCES users (id) ON DELETE CASCADE,
    organization_id  TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    role             TEXT,
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    used_at          INTEGER
) STRICT;

CREATE INDEX email_links_organization ON email_links (organization_id, purpose);
CREATE INDEX email_links_expiry ON email_links (expires_at);
