//! What the revocation feed tells resource servers was revoked: one access
//! token (`jwt`, by `jti`), a token family (`family`, the `gid` claim of a user's grant), a
//! connected app (`connected_app`: one client acting for one user) or a whole client
//! (`client`). A JWT matches an entry by its `jti`, `gid`, `client_id` and `sub` claims.

/// One revoked thing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Revoked {
    /// One access token, by its `jti`.
    Jwt(String),
    /// A token family, by its id (the `gid` claim).
    Family(String),
    /// Every token a client got for a user before the revocation (a connected app).
    ConnectedApp {
        /// The client.
        client_id: String,
        /// The user it acted for.
        user_id: String,
    },
    /// Every token a client got before the revocation (the client was deleted).
    Client(String),
}

impl Revoked {
    /// The feed's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Revoked::Jwt(_) => "jwt",
            Revoked::Family(_) => "family",
            Revoked::ConnectedApp { .. } => "connected_app",
            Revoked::Client(_) => "client",
        }
    }

    /// The feed's `value`: the jti, family id or client id.
    pub fn value(&self) -> &str {
        match self {
            Revoked::Jwt(v) | Revoked::Family(v) | Revoked::Client(v) => v,
            Revoked::ConnectedApp { client_id, .. } => client_id,
        }
    }

    /// The feed's `subject`: the user of a connected app.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Revoked::ConnectedApp { user_id, .. } => Some(user_id),
            _ => None,
        }
    }

    /// Reads a feed entry back; `None` for an unknown kind or a connected app without user.
    pub fn from_parts(kind: &str, value: &str, subject: Option<&str>) -> Option<Revoked> {
        let value = value.to_owned();
        Some(match kind {
            "jwt" => Revoked::Jwt(value),
            "family" => Revoked::Family(value),
            "connected_app" => Revoked::ConnectedApp {
                client_id: value,
                user_id: subject?.to_owned(),
            },
            "client" => Revoked::Client(value),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_parts() {
        for r in [
            Revoked::Jwt("j".into()),
            Revoked::Family("f".into()),
            Revoked::ConnectedApp {
                client_id: "c".into(),
                user_id: "u".into(),
            },
            Revoked::Client("c".into()),
        ] {
            assert_eq!(
                Revoked::from_parts(r.kind(), r.value(), r.subject()),
                Some(r)
            );
        }
        assert_eq!(Revoked::from_parts("nope", "x", None), None);
        assert_eq!(Revoked::from_parts("connected_app", "c", None), None);
    }
}
