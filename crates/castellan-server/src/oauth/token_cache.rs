//! What a replica remembers about presented access tokens, so that checking the same JWT again
//! (introspection, userinfo, bearer-protected API calls) costs a hash and two cache reads
//! instead of a signature verification and storage reads (DESIGN: hot paths).
//!
//! * **Verified JWTs**: the claims of a JWT whose signature checked out, keyed by the SHA-256
//!   of the token. The time, issuer and environment rules are still applied at every check;
//!   only the signature verification and the claim parsing are skipped.
//! * **Revocation statuses** of `jti`s and token families, read from storage once and then
//!   trusted for `token.check_cache_seconds`.
//!
//! A revocation made on this replica takes effect at once: every revocation path calls
//! [`TokenCheckCache::revoked_here`], which moves an epoch forward so that no status read
//! before it is used again. Other replicas see a revocation within `token.check_cache_seconds`.
//! With `check_cache_seconds = 0` nothing is cached and every check reads storage.

use castellan_core::token::AccessClaims;
use castellan_crypto::hash_secret;
use castellan_store::{Store, StoreResult};
use moka::sync::Cache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn bounded<K, V>(capacity: u64, ttl: Duration) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(capacity)
        .time_to_live(ttl)
        .build()
}

/// A revocation status, valid only while the epoch it was read under is current.
#[derive(Debug, Clone, Copy)]
struct Status {
    epoch: u64,
    revoked: bool,
}

/// The verified JWTs and revocation statuses this replica remembers.
pub struct TokenCheckCache {
    enabled: bool,
    epoch: AtomicU64,
    verified: Cache<[u8; 32], Arc<AccessClaims>>,
    jtis: Cache<String, Status>,
    families: Cache<String, Status>,
}

impl TokenCheckCache {
    /// A cache of at most `capacity` entries of each kind, each held `ttl_seconds` (0 turns it
    /// off).
    pub fn new(capacity: u64, ttl_seconds: u32) -> Self {
        let ttl = Duration::from_secs(u64::from(ttl_seconds.max(1)));
        TokenCheckCache {
            enabled: ttl_seconds > 0,
            epoch: AtomicU64::new(0),
            verified: bounded(capacity, ttl),
            jtis: bounded(capacity, ttl),
            families: bounded(capacity, ttl),
        }
    }

    /// The key a token is remembered under (never the token itself).
    pub fn key(token: &str) -> [u8; 32] {
        hash_secret(token).0
    }

    /// Claims of a JWT already verified on this replica.
    pub fn verified(&self, key: &[u8; 32]) -> Option<Arc<AccessClaims>> {
        if !self.enabled {
            return None;
        }
        let found = self.verified.get(key);
        crate::platform::metrics::cache_lookup(
            crate::platform::metrics::Cache::TokenChecks,
            found.is_some(),
        );
        found
    }

    /// Remembers the claims of a JWT whose signature checked out.
    pub fn remember_verified(&self, key: [u8; 32], claims: Arc<AccessClaims>) {
        if self.enabled {
            self.verified.insert(key, claims);
        }
    }

    /// Whether the JWT `jti` was revoked (storage, or a status read within the bound).
    pub async fn is_jwt_revoked(&self, store: &dyn Store, jti: &str) -> StoreResult<bool> {
        self.status(&self.jtis, jti, || store.is_jwt_revoked(jti))
            .await
    }

    /// Whether the token family was revoked (storage, or a status read within the bound).
    pub async fn is_family_revoked(&self, store: &dyn Store, family: &str) -> StoreResult<bool> {
        self.status(&self.families, family, || store.is_family_revoked(family))
            .await
    }

    /// To be called after every revocation made on this replica: statuses read before it are
    /// not used again.
    pub fn revoked_here(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    async fn status<F: std::future::Future<Output = StoreResult<bool>>>(
        &self,
        cache: &Cache<String, Status>,
        id: &str,
        read: impl FnOnce() -> F,
    ) -> StoreResult<bool> {
        if !self.enabled {
            return read().await;
        }
        // The epoch is taken before storage is read, so a revocation that lands while the
        // read is in flight makes this status stale at once.
        let epoch = self.epoch.load(Ordering::SeqCst);
        if let Some(hit) = cache.get(id) {
            if hit.epoch == epoch {
                return Ok(hit.revoked);
            }
        }
        let revoked = read().await?;
        cache.insert(id.to_owned(), Status { epoch, revoked });
        Ok(revoked)
    }
}
