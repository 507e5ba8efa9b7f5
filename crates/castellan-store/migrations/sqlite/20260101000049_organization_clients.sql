-- An organization's OAuth apps (the OAuth apps page): which organization a client belongs to,
-- who registered it there and when (Unix milliseconds). A client belongs to at most one
-- organization; clients of the management API and dynamic registration belong to none.
CREATE TABLE organization_clients (
    client_id        TEXT PRIMARY KEY NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL
) STRICT;

CREATE INDEX organization_clients_organization ON organization_clients (organization_id, created_at);
