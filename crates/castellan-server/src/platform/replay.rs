//! One-time ids (replay protection): a DPoP proof's `jti` (RFC 9449 §11.1), a client
//! assertion's `jti` (RFC 7523 §3). [`Replay::first_use`] records an id and answers whether it
//! was seen before, across every replica:
//!
//! - with `[rate_limit] backend = "redis"`, in Redis (`SET NX PX`, one round trip);
//! - otherwise in storage (`used_ids`, one insert), purged by upkeep once expired.
//!
//! An id is kept by the SHA-256 of its namespace and parts ([`OneTimeId`]), so ids of different
//! kinds or different keys and clients never collide, and no presented value is stored as is.
//!
//! When neither can answer, the check fails closed: [`ReplayUnavailable`] is answered 503
//! `temporarily_unavailable`, whatever `redis_failure` says for rate limits. A replay check
//! that silently passed would make the one-time id worthless.

use crate::platform::state::AppState;
use castellan_core::OAuthError;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The key of one one-time id: SHA-256 of its namespace and parts, each ended by a 0 byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneTimeId([u8; 32]);

impl OneTimeId {
    /// The id `jti` of a DPoP proof made with the key of thumbprint `jkt`.
    pub fn dpop(jkt: &str, jti: &str) -> Self {
        Self::of("dpop", &[jkt, jti])
    }

    /// The id `jti` of a grant assertion (the JWT bearer grant) of the trusted issuer `iss`.
    pub fn grant_assertion(iss: &str, jti: &str) -> Self {
        Self::of("grant-assertion", &[iss, jti])
    }

    /// The id `jti` of a client assertion (`private_key_jwt`) of `client_id`.
    pub fn assertion(client_id: &str, jti: &str) -> Self {
        Self::of("assertion", &[client_id, jti])
    }

    fn of(namespace: &str, parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        h.update(namespace.as_bytes());
        h.update([0]);
        for p in parts {
            h.update(p.as_bytes());
            h.update([0]);
        }
        OneTimeId(h.finalize().into())
    }

    /// The 32-byte key.
    pub fn key(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Neither Redis nor storage could record the id: the request is refused (fails closed).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the replay check could not be made")]
pub struct ReplayUnavailable;

impl From<ReplayUnavailable> for OAuthError {
    fn from(_: ReplayUnavailable) -> Self {
        OAuthError::temporarily_unavailable("the replay check is unavailable; retry shortly")
    }
}

/// The replay check the server uses: Redis when rate limits are on Redis, else storage.
#[derive(Clone, Copy)]
pub struct Replay<'a> {
    state: &'a AppState,
}

impl<'a> Replay<'a> {
    /// The replay check of `state`.
    pub fn of(state: &'a AppState) -> Self {
        Replay { state }
    }

    /// Records `id` until `expires_at`: `Ok(true)` the first time, `Ok(false)` for a replay.
    pub async fn first_use(
        &self,
        id: &OneTimeId,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, ReplayUnavailable> {
        let now = self.state.clock.now();
        if let Some(redis) = self.state.rate_limiting.limiter.redis() {
            let ttl = u64::try_from((expires_at - now).num_milliseconds()).unwrap_or(0);
            return Box::pin(redis.first_use(id.key(), ttl.max(1)))
                .await
                .map_err(|kind| {
                    tracing::warn!(
                        failure = ?kind,
                        "the replay check could not ask Redis"
                    );
                    ReplayUnavailable
                });
        }
        Box::pin(self.state.store.first_use(id.key(), expires_at, now))
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "the replay check could not ask storage");
                ReplayUnavailable
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_parts_never_collide() {
        let a = OneTimeId::dpop("k", "j");
        assert_eq!(a, OneTimeId::dpop("k", "j"));
        assert_ne!(a, OneTimeId::assertion("k", "j"));
        // The separator keeps ("kj", "") apart from ("k", "j").
        assert_ne!(a, OneTimeId::dpop("kj", ""));
        assert_ne!(a, OneTimeId::dpop("k", "j2"));
    }
}
