-- A client can ask that ending a session revokes the refresh-token families issued in it
-- (logout_revokes_refresh_tokens): they are found by the session they were issued in.
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id, client_id)
    WHERE session_id IS NOT NULL;
