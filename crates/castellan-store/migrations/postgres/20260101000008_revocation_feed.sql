-- The revocation feed (SPEC 7.1, 9.1): every revocation a resource server must learn, in the
-- order it was committed. `id` is the feed's cursor: writers lock the table before inserting
-- (see sql/revocations.rs), so ids become visible in order. `kind` is jwt (value: jti),
-- family (value: family id), connected_app (value: client id, subject: user id) or client
-- (value: client id). `expires_at` (Unix ms) is when the entry stops mattering, when known (a
-- JWT's exp); the others are kept for the longest access-token lifetime after `created_at`.
CREATE TABLE revocations (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('jwt', 'family', 'connected_app', 'client')),
    value       TEXT NOT NULL,
    subject     TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT
);

CREATE INDEX revocations_created_at ON revocations (created_at);
