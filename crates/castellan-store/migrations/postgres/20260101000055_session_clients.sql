-- Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the session a code or a refresh
-- token was issued in (the `sid` of their ID tokens; NULL when none was: the device flow, the
-- password grant, a token exchange), and which clients got a code in which session, so that
-- when the session ends each of them can be sent a logout token. Rows are taken (deleted) when
-- the session ends.
ALTER TABLE authorization_codes ADD COLUMN session_id TEXT COLLATE "C";
ALTER TABLE refresh_tokens ADD COLUMN session_id TEXT COLLATE "C";

CREATE TABLE session_clients (
    session_id  TEXT COLLATE "C" NOT NULL,
    client_id   TEXT COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX session_clients_created ON session_clients (created_at);
