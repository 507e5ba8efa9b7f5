-- DPoP (RFC 9449): the key thumbprint (`jkt`) a code was bound to by the authorization
-- request's `dpop_jkt` (§10), and the one a public client's refresh token is bound to (§5):
-- the token request that redeems the code, or uses the refresh token, must prove that key.
-- NULL: not bound.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
