-- The audience (`aud`) a refresh token's grant was issued for: a refresh keeps it (RFC 8707
-- §2.2: a refresh may narrow the resources, never switch them). NULL for tokens stored before
-- this column: they are refreshed for the default audience, as they were issued.
ALTER TABLE refresh_tokens ADD COLUMN audience TEXT;
