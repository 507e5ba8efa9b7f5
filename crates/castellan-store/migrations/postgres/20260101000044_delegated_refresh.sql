-- Token exchange (RFC 8693) with refresh tokens. A delegated family hangs off the family of
-- the subject token (`parent_id`, under the same consent) and is revoked with it, however
-- deep the chain. A refresh token issued by an exchange keeps the `act` claim (JSON) of the
-- tokens it renews, so each refresh names the same actors, and the client whose person's token
-- was exchanged (`delegated_from`), whose delegation rule each refresh checks again; both NULL
-- for any other refresh token.
ALTER TABLE refresh_families ADD COLUMN parent_id TEXT COLLATE "C" REFERENCES refresh_families (id) ON DELETE CASCADE;
CREATE INDEX refresh_families_parent ON refresh_families (parent_id);
ALTER TABLE refresh_tokens ADD COLUMN act TEXT;
ALTER TABLE refresh_tokens ADD COLUMN delegated_from TEXT COLLATE "C";
