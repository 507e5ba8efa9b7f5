//! Storage for second factors (migration `0053_second_factors`): a person's authenticator app
//! (TOTP) and their recovery codes; organizations' policies requiring one (`0054`); passkeys
//! and the WebAuthn ceremonies that register and use them (`0056`). Codes are stored only as hashes; the TOTP secret is stored
//! as it is, since an app must compute the same codes.

use crate::StoreResult;
use async_trait::async_trait;
use castellan_core::authn::SecondFactorPolicy;
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
    /// Sets what the organization asks of its members' sign-ins; `false` when there is no
    /// such organization.
    async fn set_second_factor_policy(
        &self,
        organization_id: &str,
        policy: SecondFactorPolicy,
    ) -> StoreResult<bool>;
    /// What the organization asks of its members' sign-ins.
    async fn organization_second_factor_policy(
        &self,
        organization_id: &str,
    ) -> StoreResult<SecondFactorPolicy>;
    /// The strongest policy of the organizations the person is a member of.
    async fn second_factor_policy_for(&self, user_id: &str) -> StoreResult<SecondFactorPolicy>;

    /// Stores a newly registered passkey; [`crate::StoreError::Conflict`] when its credential
    /// id is registered already.
    async fn add_passkey(&self, passkey: &StoredPasskey) -> StoreResult<()>;
    /// The person's passkeys, oldest first.
    async fn list_passkeys(&self, user_id: &str) -> StoreResult<Vec<StoredPasskey>>;
    /// The passkey with this credential id (base64url), whoever's it is.
    async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<StoredPasskey>>;
    /// Records a sign-in with the passkey: its credential as updated (counter, flags) and when,
    /// if it is still `previous` (the credential the sign-in was checked against); `false` when
    /// it changed meanwhile (another sign-in won a race) or was removed.
    async fn record_passkey_use(
        &self,
        id: &str,
        previous: &str,
        credential: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Renames the person's passkey; `false` when they have no such passkey.
    async fn rename_passkey(&self, user_id: &str, id: &str, name: &str) -> StoreResult<bool>;
    /// Removes the person's passkey; `false` when they have no such passkey.
    async fn remove_passkey(&self, user_id: &str, id: &str) -> StoreResult<bool>;
    /// Removes all the person's passkeys; how many there were.
    async fn remove_passkeys(&self, user_id: &str) -> StoreResult<u64>;
    /// Stores the server's half of a WebAuthn ceremony until `ceremony.expires_at`.
    async fn put_ceremony(&self, ceremony: &Ceremony) -> StoreResult<()>;
    /// Takes (deletes) the ceremony `id` of `kind`, if it has not expired at `now`: a ceremony
    /// is finished once at most.
    async fn take_ceremony(
        &self,
        id: &str,
        kind: CeremonyKind,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Ceremony>>;
}

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    /// Castellan's id of it (`pk_…`).
    pub id: String,
    /// The person.
    pub user_id: String,
    /// The person's WebAuthn user handle (a UUID).
    pub user_handle: String,
    /// The credential id, base64url.
    pub credential_id: String,
    /// The name the person gave it.
    pub name: String,
    /// The verified credential (public key, counter, flags), as the WebAuthn library writes it.
    pub credential: String,
    /// Whether its authenticator may sync it to others.
    pub backup_eligible: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last signed in.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a WebAuthn ceremony does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Registers a passkey.
    Register,
    /// Signs in (or proves a second factor) with one.
    SignIn,
}

impl CeremonyKind {
    /// How it is stored.
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Register => "register",
            CeremonyKind::SignIn => "sign-in",
        }
    }
}

/// The server's half of a WebAuthn ceremony under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceremony {
    /// Its random id, which the browser sends back with its answer.
    pub id: String,
    /// What it does.
    pub kind: CeremonyKind,
    /// The person it was started for; `None` for a discoverable sign-in.
    pub user_id: Option<String>,
    /// The WebAuthn library's state (the challenge and what it expects).
    pub state: String,
    /// When it can no longer be finished.
    pub expires_at: DateTime<Utc>,
}
