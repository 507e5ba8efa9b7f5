//! Plain data the store keeps besides clients.

use castellan_core::Secret;
use chrono::{DateTime, Utc};

/// The database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// PostgreSQL, shared by replicas.
    Postgres,
}

impl Backend {
    /// The backend's name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// One page of a query (`{limit, offset, count, total, results}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub results: Vec<T>,
    /// How many items match in all, when asked for.
    pub total: Option<u64>,
}

/// A signing key as stored. The private key is PKCS#8 DER in unpadded base64url, held as a
/// secret.
#[derive(Clone)]
pub struct StoredKey {
    /// The key id (`kid`).
    pub kid: String,
    /// JOSE algorithm name: `ES256`, `EdDSA`, `RS256`.
    pub alg: String,
    /// The private key: PKCS#8 DER, unpadded base64url.
    pub private_pkcs8: Secret,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stopped being the current signing key (`None` while current).
    pub retired_at: Option<DateTime<Utc>>,
    /// When it can leave the JWKS: no token it signed is still valid.
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An opaque (reference) access token: only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OpaqueToken {
    /// SHA-256 of the token (the value itself is never stored).
    pub hash: [u8; 32],
    /// The client it was issued to.
    pub client_id: String,
    /// The user or client it acts for (`sub`).
    pub subject: String,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// The audience (`aud`) it was issued for.
    pub audience: Option<castellan_core::resource::Audience>,
    /// Further claims introspection returns (`org`, `env` …), as a JSON object.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// One entry of the revocation feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The entry's place in the feed: entries are read after a cursor, in order.
    pub cursor: i64,
    /// What was revoked.
    pub revoked: castellan_core::revocation::Revoked,
    /// When it was revoked: a connected app's or client's tokens issued before this are dead.
    pub created_at: DateTime<Utc>,
    /// When the entry stops mattering, when known (a revoked JWT's `exp`).
    pub expires_at: Option<DateTime<Utc>>,
}
