//! Storage for people and their grants: users, organizations,
//! memberships, browser sessions, authorization codes, consents (connected apps) and refresh
//! token families. Only hashes of codes, session ids and refresh tokens are stored.
//!
//! These traits are part of [`crate::Store`] once implemented by `SqlStore` (migration
//! `0002_people` on each backend).

use crate::StoreResult;
use async_trait::async_trait;
use castellan_core::resource::Audience;
use castellan_core::user::{Membership, Organization, Role, User};
use chrono::{DateTime, Utc};

/// The message of the `Conflict` that keeps an organization's last OWNER
/// ([`UserStore::upsert_membership`], [`UserStore::remove_membership`]).
pub const LAST_OWNER: &str = "the last OWNER of an organization can be neither removed nor demoted";

/// Users, organizations and memberships.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// `Conflict` when the email (normalised) or id is taken.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    /// The user with id `id`.
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
    /// `email` is already normalised (`castellan_core::user::normalize_email`).
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Sets or clears a user's admin flag; `false` when there is no such user.
    async fn set_user_admin(&self, id: &str, is_admin: bool) -> StoreResult<bool>;
    /// Replaces a user's password hash and, in the same transaction, ends every session they
    /// have but `keep` (a changed password signs out every other browser) and, with
    /// `end_grants_at`, every grant and API key of theirs as disabling does (the families of
    /// their consents revoked at that time and recorded in the revocation feed, their active
    /// API keys disabled); `false` when there is no such user.
    async fn set_user_password(
        &self,
        id: &str,
        password_hash: &str,
        keep: Option<&[u8; 32]>,
        end_grants_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;
    /// Disables the user at `disabled_at` (`None`: enables them again); `false` when there is
    /// no such user. Disabling ends, in the same transaction, every session of theirs, every
    /// grant (the live token families of their consents, recorded in the revocation feed) and
    /// every active API key they created (disabled); enabling gives none of them back.
    async fn set_user_disabled(
        &self,
        id: &str,
        disabled_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;
    /// Whether the user is disabled (or gone), read after any disabling still in progress
    /// has committed (PostgreSQL: the row is read with a share lock): a grant started just
    /// before checks it after storing its family, so a disable racing it cannot miss it.
    async fn is_user_disabled_now(&self, id: &str) -> StoreResult<bool>;
    /// One page of users, ordered by email, and how many there are in all.
    async fn list_users(&self, limit: u32, offset: u32) -> StoreResult<(Vec<User>, u64)>;
    /// One page of organizations, ordered by name then id, and how many there are in all.
    async fn list_organizations(
        &self,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<Organization>, u64)>;
    /// Stores a new organization. `Conflict` when the id is taken.
    async fn insert_organization(&self, org: &Organization) -> StoreResult<()>;
    /// The organization with id `id`.
    async fn get_organization(&self, id: &str) -> StoreResult<Option<Organization>>;
    /// Adds the user to the organization or changes their role. Lowering the role disables,
    /// in the same transaction, every active API key the member created in the organization
    /// (a key carries at most its creator's rights); they create new ones under their new role.
    /// `Conflict` when it would demote the organization's last OWNER.
    async fn upsert_membership(&self, membership: &Membership) -> StoreResult<()>;
    /// Removes the member; in the same transaction, disables every active API key they
    /// created in the organization. `false` when they were not a member; `Conflict` when they
    /// are its last OWNER.
    async fn remove_membership(&self, organization_id: &str, user_id: &str) -> StoreResult<bool>;
    /// The user's organizations with their role, ordered by organization name.
    async fn organizations_of_user(&self, user_id: &str) -> StoreResult<Vec<(Organization, Role)>>;
    /// The user's role in the organization; `None` when not a member.
    async fn role_in(&self, organization_id: &str, user_id: &str) -> StoreResult<Option<Role>>;
    /// Members of an organization with their role, ordered by email.
    async fn members_of(&self, organization_id: &str) -> StoreResult<Vec<(User, Role)>>;
}

/// A signed-in browser session (cookie value stored as SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the session cookie (the value itself is never stored).
    pub hash: [u8; 32],
    /// The public id the sessions page and API name it by (`ses_…`; not derived from the
    /// cookie).
    pub id: String,
    /// The signed-in user.
    pub user_id: String,
    /// When the user signed in (OIDC `auth_time`).
    pub auth_time: DateTime<Utc>,
    /// How the person signed in (the `amr`/`acr` of its tokens).
    pub amr: castellan_core::authn::Amr,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
    /// The browser and system it signed in from, as read from its `User-Agent` ("Chrome 120
    /// on Linux"); empty when unknown.
    pub device: String,
    /// The address it signed in from; empty when unknown.
    pub address: String,
}

/// An authorization code (RFC 6749 §4.1.2), bound to everything the exchange checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// SHA-256 of the code (the value itself is never stored).
    pub hash: [u8; 32],
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request; the exchange must repeat it.
    pub redirect_uri: String,
    /// The PKCE `S256` challenge, when one was sent.
    pub code_challenge: Option<String>,
    /// The user who approved.
    pub user_id: String,
    /// The organization chosen at consent.
    pub organization_id: Option<String>,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// The OIDC `nonce` to put in the ID token.
    pub nonce: Option<String>,
    /// The resource indicators (RFC 8707) the tokens are for; `None`: the default audience.
    pub resources: Option<Audience>,
    /// When the user signed in.
    pub auth_time: DateTime<Utc>,
    /// How the person signed in (the `amr`/`acr` of its tokens).
    pub amr: castellan_core::authn::Amr,
    /// The browser session it was issued in (the `sid` of its ID tokens), if any.
    pub session_id: Option<String>,
    /// The consent (connected app) this code was issued under.
    pub consent_id: String,
    /// The token family its redemption starts: every access and refresh token issued from
    /// this code carries it (`gid` claim), so a replay or a revoked consent ends them all.
    pub family_id: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it can no longer be redeemed.
    pub expires_at: DateTime<Utc>,
    /// The DPoP key thumbprint the authorization request bound it to (`dpop_jkt`, RFC 9449
    /// §10): its redemption must prove that key.
    pub dpop_jkt: Option<String>,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// First redemption: the code is now marked used.
    Fresh(AuthorizationCode),
    /// Already redeemed before: the caller revokes what its first use issued (RFC 6749 §4.1.2).
    Replayed(AuthorizationCode),
    /// No such code.
    Unknown,
}

/// A consent: a user let a client act with `scope` in an organization (a "connected app").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The consent's id (the connected app's id on the account page).
    pub id: String,
    /// The user who consented.
    pub user_id: String,
    /// The client they let act for them.
    pub client_id: String,
    /// The organization the consent is for.
    pub organization_id: Option<String>,
    /// Space-separated scopes consented to (the union of every approval).
    pub scope: String,
    /// When the user first consented.
    pub created_at: DateTime<Utc>,
    /// When the consent last changed.
    pub updated_at: DateTime<Utc>,
}

/// One refresh token of a family (RFC 9700 §4.14.2: rotation with reuse detection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the refresh token (the value itself is never stored).
    pub hash: [u8; 32],
    /// The family (grant) it belongs to, the `gid` of its access tokens.
    pub family_id: String,
    /// The consent it was issued under.
    pub consent_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user it acts for.
    pub user_id: String,
    /// The organization the grant is bound to.
    pub organization_id: Option<String>,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// When the user signed in.
    pub auth_time: DateTime<Utc>,
    /// How the person signed in (the `amr`/`acr` of its tokens).
    pub amr: castellan_core::authn::Amr,
    /// The browser session it was issued in (the `sid` of its ID tokens), if any.
    pub session_id: Option<String>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// Inactivity expiry: restarts at every use.
    pub expires_at: DateTime<Utc>,
    /// The resources of the grant (RFC 8707), the `aud` of its access tokens unless a request
    /// narrows them; every refresh keeps them all. `None` for grants given none (and tokens
    /// stored before audiences were kept): the default audience.
    pub audience: Option<Audience>,
    /// The DPoP key thumbprint it is bound to (RFC 9449 §5: a public client's refresh token
    /// issued with a proof): every use must prove that key. Its successors keep it.
    pub dpop_jkt: Option<String>,
    /// The delegation it renews, when a token exchange issued it. Its successors keep it.
    pub delegation: Option<Delegation>,
}

/// What a refresh token issued by a token exchange (RFC 8693) renews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// Who acts for the person (`act`, §4.1) in the access tokens it renews.
    pub act: serde_json::Value,
    /// The client whose person's token was exchanged: the delegation rule that allowed the
    /// exchange is the one for this client.
    pub from_client: String,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// It was current: it is now rotated out and `new` is stored in its place.
    Rotated(RefreshToken),
    /// It had been rotated out already: the whole family is now revoked.
    Reused(RefreshToken),
    /// Its family was revoked, or it expired.
    Dead,
    /// No such token.
    Unknown,
}

/// Sign-in sessions, authorization codes, consents and refresh-token families.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new session.
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    /// The session with this hash if it has not ended at `now`.
    async fn get_session(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Session>>;
    /// Ends the session (sign-out).
    async fn delete_session(&self, hash: &[u8; 32]) -> StoreResult<()>;
    /// The user's sessions that have not ended at `now`, newest sign-in first.
    async fn list_sessions(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<Vec<Session>>;
    /// Ends the user's session with public id `id`; `false` when they have none by that id
    /// (another person's session is never touched).
    async fn end_user_session(&self, user_id: &str, id: &str) -> StoreResult<bool>;
    /// Records that `client_id` got a code in `session_id` of `user_id` (once per pair).
    async fn record_session_client(
        &self,
        session_id: &str,
        client_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Takes (answers and deletes) the clients that got codes in the sessions `session_ids`:
    /// `(session id, user id, client id)`.
    async fn take_session_clients(
        &self,
        session_ids: &[String],
    ) -> StoreResult<Vec<(String, String, String)>>;
    /// Takes (answers and deletes) what the clients of `user_id`'s sessions that no longer
    /// exist were (ended by a password change, a reset, disabling): `(session id, user id,
    /// client id)`.
    async fn take_ended_session_clients(
        &self,
        user_id: &str,
    ) -> StoreResult<Vec<(String, String, String)>>;
    /// Takes (answers and deletes) at most `limit` records of clients of sessions that no longer
    /// exist, whoever's (sessions ended where no one told their clients: an operator's command),
    /// as [`GrantStore::take_ended_session_clients`] does for one person.
    async fn take_any_ended_session_clients(
        &self,
        limit: i64,
    ) -> StoreResult<Vec<(String, String, String)>>;
    /// Ends every session of the user but `keep` (when given); answers how many ended.
    async fn end_user_sessions(&self, user_id: &str, keep: Option<&[u8; 32]>) -> StoreResult<u64>;

    /// Stores a new authorization code.
    async fn insert_code(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// Atomically marks the code used and, on first use, records its token family (family id
    /// and consent id) so the family can be revoked later; tells whether it was used before.
    /// Expiry is the caller's check.
    async fn redeem_code(&self, hash: &[u8; 32], now: DateTime<Utc>)
        -> StoreResult<CodeRedemption>;
    /// The code with this hash if it is stored and not yet redeemed, without spending it: a
    /// request that is malformed (a missing `code_verifier`) is refused before the code is used.
    /// Expiry is the caller's check.
    async fn find_code(&self, hash: &[u8; 32]) -> StoreResult<Option<AuthorizationCode>>;

    /// Records consent for (user, client, organization), widening the stored scope to the
    /// union; answers the consent (existing id kept).
    async fn record_consent(&self, consent: &Consent) -> StoreResult<Consent>;
    /// The consent of `user_id` for `client_id` in the organization, if any.
    async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
        organization_id: Option<&str>,
    ) -> StoreResult<Option<Consent>>;
    /// The consent with id `id`.
    async fn get_consent(&self, id: &str) -> StoreResult<Option<Consent>>;
    /// The user's consents (connected apps), newest first.
    async fn consents_of_user(&self, user_id: &str) -> StoreResult<Vec<Consent>>;
    /// Deletes a consent of `user_id` and revokes every refresh family issued under it.
    async fn revoke_consent(
        &self,
        user_id: &str,
        consent_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Whether the consent no longer exists (its tokens must introspect inactive).
    async fn is_consent_revoked(&self, consent_id: &str) -> StoreResult<bool>;

    /// Stores the first refresh token of a family.
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()>;
    /// Presents `hash` at `now`: rotates it to `new` when current and unexpired, revokes the
    /// family on reuse, all in one transaction.
    async fn use_refresh_token(
        &self,
        hash: &[u8; 32],
        new: &RefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshUse>;
    /// The refresh token with this hash, in whatever state.
    async fn find_refresh_token(&self, hash: &[u8; 32]) -> StoreResult<Option<RefreshToken>>;
    /// The refresh token with this hash if it is current at `now`: not rotated out, not
    /// expired, and its family neither revoked nor gone (introspection, RFC 7662 §2.1).
    async fn find_current_refresh_token(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<RefreshToken>>;
    /// The consent a family was issued under, while the family is live (not revoked, its
    /// consent not removed); `None` otherwise.
    async fn consent_of_live_family(&self, family_id: &str) -> StoreResult<Option<String>>;
    /// Starts the family `family_id` delegated from the live family `parent_id` (a token
    /// exchange's refresh tokens): under the parent's consent, and revoked whenever the parent
    /// is. `false` (nothing stored) when the parent is revoked or unknown.
    async fn insert_child_family(
        &self,
        family_id: &str,
        parent_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Records a token family started without a code (password grant).
    async fn insert_family(
        &self,
        family_id: &str,
        consent_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Revokes a whole family and the families delegated from it, however deep (revocation
    /// endpoint, code replay, reuse).
    async fn revoke_refresh_family(&self, family_id: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Revokes the families of `client_id` whose refresh tokens were issued in the session
    /// `session_id` (and the families delegated from them); answers how many.
    async fn revoke_families_of_session(
        &self,
        session_id: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Whether the family was revoked (directly or through its consent). An unknown family is
    /// revoked.
    async fn is_family_revoked(&self, family_id: &str) -> StoreResult<bool>;
    /// Revokes every family issued under a consent (code replay).
    async fn revoke_families_of_consent(
        &self,
        consent_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}
