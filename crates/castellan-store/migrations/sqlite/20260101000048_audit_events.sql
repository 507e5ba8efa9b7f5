-- The audit log: one row per security event (see castellan-store/src/audit.rs). Times are Unix
-- milliseconds. No secret, token or password is ever stored here: only ids and short details.
CREATE TABLE audit_events (
    id               TEXT PRIMARY KEY NOT NULL,
    at               INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    actor_kind       TEXT NOT NULL,
    actor_id         TEXT NOT NULL,
    organization_id  TEXT,
    address          TEXT,
    outcome          TEXT NOT NULL,
    target           TEXT,
    detail           TEXT NOT NULL
) STRICT;

CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_organization ON audit_events (organization_id, at);
CREATE INDEX audit_events_actor ON audit_events (actor_id, at);
CREATE INDEX audit_events_kind ON audit_events (kind, at);
