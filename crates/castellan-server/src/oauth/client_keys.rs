//! A `private_key_jwt` client's public keys (RFC 7523 §2.2, RFC 7591 §2 `jwks`/`jwks_uri`):
//! the registered `jwks`, or the key set at its `jwks_uri`, fetched with the SSRF-safe
//! [`crate::platform::fetch::Fetcher`] and cached for its `Cache-Control` lifetime within the
//! `[client_metadata]` bounds. An assertion naming a `kid` the cached set lacks refetches the
//! set (a client rotating its keys), at most once per [`REFETCH_INTERVAL`] per URL, so
//! made-up `kid`s cannot make Castellan hammer a client's server.

use crate::platform::fetch::{FetchError, FetchLimits, Fetcher};
use castellan_core::client::Client;
use castellan_crypto::jwk::PublicJwk;
use moka::sync::Cache;
use moka::Expiry;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// The shortest time between two fetches of one `jwks_uri` for an unknown `kid`.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Why a client's keys could not be had (logged; the client is answered `invalid_client`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// The client has neither `jwks` nor `jwks_uri`.
    #[error("the client has no keys (jwks or jwks_uri)")]
    None,
    /// Its `jwks` or the fetched set is not a JWK Set of accepted public keys.
    #[error("the client's key set is not accepted: {0}")]
    Bad(castellan_crypto::jwk::JwkError),
    /// Its `jwks_uri` is not a URL.
    #[error("the client's jwks_uri is not a URL")]
    BadUri,
    /// The fetch failed.
    #[error("the client's jwks_uri: {0}")]
    Fetch(FetchError),
}

/// Why a `jwks` a registrant or an operator sends is refused; the message completes `jwks`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksRefusal {
    /// Not a JWK Set of bounded size.
    #[error("{0}")]
    Shape(castellan_core::client_keys::KeySourceError),
    /// A key that is not an accepted public key: a private member (`d`, `p`, `q`, `dp`, `dq`,
    /// `qi`, `oth`, `k`), a symmetric key, an unaccepted type, curve or size.
    #[error("{0}")]
    Key(castellan_crypto::jwk::JwkError),
}

/// The one check of a `jwks` before it is stored (dynamic registration, the management API):
/// the shape of a JWK Set of bounded size, then every key an accepted public key, as
/// [`ClientKeys::keys_of`] will read it.
pub fn check_jwks(jwks: &serde_json::Value) -> Result<(), JwksRefusal> {
    castellan_core::client_keys::check_jwks_shape(jwks).map_err(JwksRefusal::Shape)?;
    PublicJwk::set_from_value(jwks).map_err(JwksRefusal::Key)?;
    Ok(())
}

#[derive(Clone)]
struct Entry {
    keys: Arc<[PublicJwk]>,
    ttl: Duration,
}

struct ByTtl;

impl Expiry<String, Entry> for ByTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The cache of key sets fetched from `jwks_uri`s; cheap to clone.
#[derive(Clone)]
pub struct ClientKeys {
    sets: Cache<String, Entry>,
    /// URLs fetched within [`REFETCH_INTERVAL`].
    recent: Cache<String, ()>,
}

impl ClientKeys {
    /// A cache of at most `capacity` key sets.
    pub fn new(capacity: u64) -> Self {
        ClientKeys {
            sets: Cache::builder()
                .max_capacity(capacity)
                .expire_after(ByTtl)
                .build(),
            recent: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(REFETCH_INTERVAL)
                .build(),
        }
    }

    /// The keys of `client` that may have signed with `kid` (`None`: the header named none).
    pub async fn keys_of(
        &self,
        client: &Client,
        kid: Option<&str>,
        fetcher: &Fetcher,
        limits: FetchLimits,
    ) -> Result<Arc<[PublicJwk]>, KeysError> {
        self.keys_at(client.jwks(), client.jwks_uri(), kid, fetcher, limits)
            .await
    }

    /// The keys of a party that publishes `jwks` (a JWK Set) or `jwks_uri` (fetched, cached
    /// within its cache headers, fetched again for an unknown `kid` at most once per interval).
    pub async fn keys_at(
        &self,
        jwks: Option<&serde_json::Value>,
        jwks_uri: Option<&str>,
        kid: Option<&str>,
        fetcher: &Fetcher,
        limits: FetchLimits,
    ) -> Result<Arc<[PublicJwk]>, KeysError> {
        if let Some(set) = jwks {
            return PublicJwk::set_from_value(set)
                .map(Arc::from)
                .map_err(KeysError::Bad);
        }
        let uri = jwks_uri.ok_or(KeysError::None)?;
        if let Some(hit) = self.sets.get(uri) {
            let known = kid.is_none_or(|k| hit.keys.iter().any(|j| j.kid() == Some(k)));
            if known || self.recent.contains_key(uri) {
                return Ok(hit.keys);
            }
            // An unknown kid: refetch, and not again for this URL within the interval.
            self.recent.insert(uri.to_owned(), ());
        }
        let url = Url::parse(uri).map_err(|_| KeysError::BadUri)?;
        let fetched = fetcher
            .get_json(&url, limits)
            .await
            .map_err(KeysError::Fetch)?;
        let keys: Arc<[PublicJwk]> = PublicJwk::set_from_value(&fetched.json)
            .map_err(KeysError::Bad)?
            .into();
        self.sets.insert(
            uri.to_owned(),
            Entry {
                keys: Arc::clone(&keys),
                ttl: fetched.cache_for,
            },
        );
        Ok(keys)
    }
}
