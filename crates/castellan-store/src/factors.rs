//! Storage for second factors (migration `0053_second_factors`): a person's authenticator app
//! (TOTP) and their recovery codes; and organizations' policies requiring one (`0054`). Codes are stored only as hashes; the TOTP secret is stored
//! as it is, since an app must compute the same codes.

use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A person's authenticator app.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpFactor {
    /// The person.
    pub user_id: String,
    /// The shared secret, base32.
    pub secret: castellan_core::Secret,
    /// When enrolment started.
    pub created_at: DateTime<Utc>,
    /// When the first code confirmed it; `None` while enrolment waits (it counts for nothing).
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last step whose code was accepted (each code counts once).
    pub last_step: i64,
    /// When a code was last accepted.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Wrong codes since the last right one (of the app or a recovery code).
    pub failed_codes: u32,
}

impl std::fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpFactor")
            .field("user_id", &self.user_id)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .field("failed_codes", &self.failed_codes)
            .finish_non_exhaustive()
    }
}

/// A person's recovery codes: how many are left, and when one was last used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecoveryCodes {
    /// Codes not used yet.
    pub left: u32,
    /// When the last one was used.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Second factors.
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// Starts enrolling an authenticator app with `secret` (replacing an enrolment not yet
    /// confirmed); `false`, changing nothing, when the person has a confirmed one.
    async fn start_totp(
        &self,
        user_id: &str,
        secret: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The person's authenticator app, confirmed or not.
    async fn get_totp(&self, user_id: &str) -> StoreResult<Option<TotpFactor>>;
    /// Confirms the enrolment waiting with `secret` by the code of `step`, and gives the person
    /// the recovery codes `recovery` (hashes; replacing any they had), in one transaction;
    /// `false`, changing nothing, when no such enrolment waits.
    async fn confirm_totp(
        &self,
        user_id: &str,
        secret: &str,
        step: i64,
        recovery: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Accepts the code of `step` from the person's confirmed app if it is later than the last
    /// one accepted and fewer than `max_failed` wrong codes came since the last right one
    /// (which this resets); `false` (a replay, a race lost to another use of the code, or an
    /// app locked by wrong codes) otherwise.
    async fn use_totp_step(
        &self,
        user_id: &str,
        step: i64,
        max_failed: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Counts a wrong second-factor code of the person; answers how many came since the last
    /// right one (0 when they have no app).
    async fn record_failed_code(&self, user_id: &str) -> StoreResult<u32>;
    /// Removes the person's app and recovery codes; `false` when they had no app.
    async fn remove_totp(&self, user_id: &str) -> StoreResult<bool>;
    /// Uses up the person's unused recovery code with this hash, and resets their count of
    /// wrong codes; `false` when there is none.
    async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Replaces the person's recovery codes by `recovery` (hashes); `false`, changing nothing,
    /// when they have no confirmed app.
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        recovery: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The person's recovery codes left and their last use.
    async fn recovery_codes(&self, user_id: &str) -> StoreResult<RecoveryCodes>;
    /// Sets whether the organization requires its members to sign in with a second factor;
    /// `false` when there is no such organization.
    async fn set_second_factor_required(
        &self,
        organization_id: &str,
        required: bool,
    ) -> StoreResult<bool>;
    /// Whether the organization requires a second factor of its members.
    async fn organization_requires_second_factor(&self, organization_id: &str)
        -> StoreResult<bool>;
    /// Whether any organization the person is a member of requires a second factor.
    async fn second_factor_required_for(&self, user_id: &str) -> StoreResult<bool>;
}
