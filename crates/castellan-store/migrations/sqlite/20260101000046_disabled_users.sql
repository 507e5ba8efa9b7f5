-- A person disabled by an operator (`castellan users disable`): when (Unix milliseconds), or
-- NULL for an active person. A disabled person cannot sign in or use any grant.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
