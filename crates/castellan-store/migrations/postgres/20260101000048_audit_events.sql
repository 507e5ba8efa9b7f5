-- The audit log: one row per security event (see castellan-store/src/audit.rs). Times are Unix
-- milliseconds. No secret, token or password is ever stored here: only ids and short details.
CREATE TABLE audit_events (
    id               TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    at               BIGINT NOT NULL,
    kind             TEXT COLLATE "C" NOT NULL,
    actor_kind       TEXT COLLATE "C" NOT NULL,
    actor_id         TEXT COLLATE "C" NOT NULL,
    organization_id  TEXT COLLATE "C",
    address          TEXT,
    outcome          TEXT COLLATE "C" NOT NULL,
    target           TEXT COLLATE "C",
    detail           TEXT NOT NULL
);

CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_organization ON audit_events (organization_id, at);
CREATE INDEX audit_events_actor ON audit_events (actor_id, at);
CREATE INDEX audit_events_kind ON audit_events (kind, at);
