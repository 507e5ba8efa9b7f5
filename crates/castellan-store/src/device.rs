//! Device authorizations (RFC 8628): what a device asked for, under the SHA-256 of its
//! `device_code` and of its `user_code`, until a person decides (approve starts a grant,
//! deny ends it) and the device redeems the approval once, or it expires.

use crate::StoreResult;
use async_trait::async_trait;
use castellan_core::resource::Audience;
use chrono::{DateTime, Utc};

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for a person.
    Pending,
    /// Approved: the device may redeem it once.
    Approved,
    /// Denied by the person.
    Denied,
    /// Redeemed: it gave its tokens.
    Used,
}

impl DeviceStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
            DeviceStatus::Used => "used",
        }
    }

    /// The status of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeviceStatus::Pending,
            "approved" => DeviceStatus::Approved,
            "denied" => DeviceStatus::Denied,
            "used" => DeviceStatus::Used,
            _ => return None,
        })
    }
}

/// A device authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// SHA-256 of its `device_code`.
    pub device_hash: [u8; 32],
    /// SHA-256 of its `user_code` (normalised).
    pub user_code_hash: [u8; 32],
    /// The client (device) that asked.
    pub client_id: String,
    /// The scopes asked, space-separated.
    pub scope: String,
    /// The resources asked (RFC 8707); `None`: the default audience.
    pub resources: Option<Audience>,
    /// Where it stands.
    pub status: DeviceStatus,
    /// Once approved: the person, the organization chosen, the consent and the grant started.
    pub approval: Option<DeviceApproval>,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
    /// When it can no longer be decided or redeemed.
    pub expires_at: DateTime<Utc>,
}

/// What a person's approval recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceApproval {
    /// The person.
    pub user_id: String,
    /// The organization they chose, if any.
    pub organization_id: Option<String>,
    /// The consent recorded.
    pub consent_id: String,
    /// The token family started under it.
    pub family_id: String,
    /// When the person who approved signed in (the tokens' `auth_time`).
    pub auth_time: DateTime<Utc>,
    /// How the person signed in (the `amr`/`acr` of its tokens).
    pub amr: castellan_core::authn::Amr,
}

/// Device authorizations.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Stores a new (pending) device authorization. `Conflict` when its device or user code
    /// hash exists.
    async fn insert_device(&self, d: &DeviceAuthorization) -> StoreResult<()>;
    /// The pending, unexpired authorization whose user code hash is this.
    async fn pending_device(
        &self,
        user_code_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DeviceAuthorization>>;
    /// The authorization whose device code hash is this, whatever its status.
    async fn get_device(&self, device_hash: &[u8; 32]) -> StoreResult<Option<DeviceAuthorization>>;
    /// Decides a pending, unexpired authorization, atomically: `approval` approves it, `None`
    /// denies it. `true` for the one call that found it pending.
    async fn decide_device(
        &self,
        user_code_hash: &[u8; 32],
        approval: Option<&DeviceApproval>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Redeems an approved, unexpired authorization, atomically: `true` once.
    async fn redeem_device(&self, device_hash: &[u8; 32], now: DateTime<Utc>) -> StoreResult<bool>;
    /// Deletes authorizations expired at `now`; answers how many.
    async fn purge_devices(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}
