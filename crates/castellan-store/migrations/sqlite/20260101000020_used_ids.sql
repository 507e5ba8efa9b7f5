-- One-time ids already seen (a DPoP proof's `jti`, a client assertion's `jti`), by the SHA-256
-- of a namespace and the id, kept until the id could no longer be accepted anyway. The
-- primary key makes "first use" one atomic insert across replicas.
CREATE TABLE used_ids (
    key         BLOB PRIMARY KEY NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX used_ids_expires_at ON used_ids (expires_at);
