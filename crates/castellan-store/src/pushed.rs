//! Pushed authorization requests (RFC 9126): the parameters a client pushed, kept under the
//! SHA-256 of their `request_uri` until used once or expired, so that every replica can
//! answer the authorization request that names it.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A pushed authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    /// SHA-256 of its `request_uri` (the reference itself is never stored).
    pub hash: [u8; 32],
    /// The client that pushed it; only that client may use it.
    pub client_id: String,
    /// The authorization request's parameters, form-encoded.
    pub parameters: String,
    /// When it was pushed.
    pub created_at: DateTime<Utc>,
    /// When it can no longer be used.
    pub expires_at: DateTime<Utc>,
}

/// Pushed authorization requests.
#[async_trait]
pub trait PushedRequestStore: Send + Sync {
    /// Stores a pushed request. `Conflict` when its hash exists.
    async fn insert_pushed_request(&self, request: &PushedRequest) -> StoreResult<()>;
    /// The request with this hash if it is neither used nor expired at `now`.
    async fn get_pushed_request(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PushedRequest>>;
    /// Uses the request up, atomically: `true` for the one call that found it unused and
    /// unexpired at `now` and pushed by `client_id`; every later call answers `false`.
    async fn use_pushed_request(
        &self,
        hash: &[u8; 32],
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deletes requests expired at `now`; answers how many.
    async fn purge_pushed_requests(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}
