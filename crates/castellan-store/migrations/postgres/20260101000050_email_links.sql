-- Links sent by email (or handed on by an OWNER when no mail server is configured): an
-- invitation to an organization, a link that verifies a person's email address, a link that
-- sets a new password. Each is stored only as the SHA-256 of its secret, expires, and is used
-- once (used_at). Times are Unix milliseconds.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

CREATE TABLE email_links (
    hash             BYTEA PRIMARY KEY CHECK (octet_length(hash) = 32),
    id               TEXT COLLATE "C" NOT NULL UNIQUE,
    purpose          TEXT COLLATE "C" NOT NULL,
    email            TEXT COLLATE "C" NOT NULL,
    user_id          TEXT COLLATE "C" REFERENCES users (id) ON DELETE CASCADE,
    organization_id  TEXT COLLATE "C" REFERENCES organizations (id) ON DELETE CASCADE,
    role             TEXT COLLATE "C",
    created_by       TEXT COLLATE "C" NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    used_at          BIGINT
);

CREATE INDEX email_links_organization ON email_links (organization_id, purpose);
CREATE INDEX email_links_expiry ON email_links (expires_at);
