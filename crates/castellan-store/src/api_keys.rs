//! Storage for API keys: one row per key, found by the SHA-256 of the whole key
//! (unique index, O(1) lookup). The key itself is never stored; what may be shown of it is
//! its visible prefix (`csb_L` + four body characters) and its last four characters.

use crate::{Page, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use std::fmt;
use std::str::FromStr;

/// Whether a key is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKeyStatus {
    /// Accepted.
    Active,
    /// Refused until re-enabled.
    Disabled,
    /// Refused for good (revoked, or rotated away).
    Revoked,
}

impl ApiKeyStatus {
    /// The status's name in storage and in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyStatus::Active => "active",
            ApiKeyStatus::Disabled => "disabled",
            ApiKeyStatus::Revoked => "revoked",
        }
    }
}

impl fmt::Display for ApiKeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApiKeyStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "active" => Ok(ApiKeyStatus::Active),
            "disabled" => Ok(ApiKeyStatus::Disabled),
            "revoked" => Ok(ApiKeyStatus::Revoked),
            _ => Err(()),
        }
    }
}

/// A stored API key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key's id (not secret; names it in the management API).
    pub id: String,
    /// SHA-256 of the whole key.
    pub hash: [u8; 32],
    /// What may be shown of the key's start (`csb_L` and four body characters).
    pub visible_prefix: String,
    /// The key's last four characters.
    pub last_four: String,
    /// A name its creator gave it.
    pub name: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The organization it belongs to, if any.
    pub organization_id: Option<String>,
    /// The rate-limit tier its calls are counted under.
    pub tier: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The user or client that created it.
    pub created_by: String,
    /// Day granularity: written at most once a day.
    pub last_used_at: Option<NaiveDate>,
    /// When it stops being accepted, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether it is accepted.
    pub status: ApiKeyStatus,
    /// The key this one replaced by rotation.
    pub rotated_from: Option<String>,
}

/// Which keys to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeyOwner {
    /// The keys of one organization.
    Organization(String),
    /// The keys one user or client created.
    Creator(String),
    /// Every key.
    All,
}

/// API keys: stored by hash, listed by owner, their status changed and rotated.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// `Conflict` when the id or hash is taken.
    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    /// The key whose whole-key SHA-256 is `hash`: the lookup of every API-key check.
    async fn find_api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>>;
    /// The key with id `id`.
    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKey>>;
    /// Keys of `owner`, oldest first (then by id); `total` only when `with_total`.
    async fn list_api_keys(
        &self,
        owner: &ApiKeyOwner,
        limit: u32,
        offset: u32,
        with_total: bool,
    ) -> StoreResult<Page<ApiKey>>;
    /// Sets the status; `false` when absent. A revoked key stays revoked.
    async fn set_api_key_status(&self, id: &str, status: ApiKeyStatus) -> StoreResult<bool>;
    /// Atomically inserts `new` and revokes `old_id`; `false` (nothing written) when `old_id`
    /// is absent or already revoked.
    async fn rotate_api_key(&self, old_id: &str, new: &ApiKey) -> StoreResult<bool>;
    /// Raises `last_used_at` to `day` if it is earlier (never lowers it).
    async fn record_api_key_use(&self, id: &str, day: NaiveDate) -> StoreResult<()>;
}
