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

-- What was revoked before the feed existed and still matters: JWTs revoked by `jti` that have
-- not expired, and revoked refresh families (kept for the longest access-token lifetime after
-- their revocation, like every family entry). A consent revoked before the feed existed left
-- nothing to carry over (its families were deleted with it): guards learn nothing of it, and
-- its access tokens pass them until they expire.
INSERT INTO revocations (kind, value, subject, created_at, expires_at)
SELECT 'jwt', jti, NULL, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT), expires_at
FROM revoked_jwts
WHERE expires_at > CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)
ORDER BY expires_at;

INSERT INTO revocations (kind, value, subject, created_at, expires_at)
SELECT 'family', id, NULL, revoked_at, NULL
FROM refresh_families
WHERE revoked_at IS NOT NULL
ORDER BY revoked_at;
