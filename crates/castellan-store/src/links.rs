//! Links sent by email: an invitation to an organization, a link that verifies a person's
//! email address, a link that sets a new password. Each is stored only as the SHA-256 of its
//! secret, expires, and is used once; using one and what it does happen in one transaction.

use crate::StoreResult;
use async_trait::async_trait;
use castellan_core::user::{Role, User};
use chrono::{DateTime, Utc};

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Joins an organization with a role.
    Invite,
    /// Marks a person's email address verified.
    VerifyEmail,
    /// Sets a person's password.
    ResetPassword,
}

impl LinkPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Invite => "invite",
            LinkPurpose::VerifyEmail => "verify_email",
            LinkPurpose::ResetPassword => "reset_password",
        }
    }

    /// The purpose named `s`.
    pub fn parse(s: &str) -> Option<LinkPurpose> {
        Some(match s {
            "invite" => LinkPurpose::Invite,
            "verify_email" => LinkPurpose::VerifyEmail,
            "reset_password" => LinkPurpose::ResetPassword,
            _ => return None,
        })
    }
}

/// A link as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailLink {
    /// SHA-256 of the link's secret (the secret itself is never stored).
    pub hash: [u8; 32],
    /// Its public id (an invitation is listed and withdrawn by it).
    pub id: String,
    /// What it does.
    pub purpose: LinkPurpose,
    /// The address it was sent to (normalised).
    pub email: String,
    /// The person it is for (verification, password reset); `None` for an invitation.
    pub user_id: Option<String>,
    /// The organization an invitation joins.
    pub organization_id: Option<String>,
    /// The role an invitation gives.
    pub role: Option<Role>,
    /// Who made it (a person's id, or `system`).
    pub created_by: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The person who joined.
    pub user_id: String,
    /// The organization.
    pub organization_id: String,
    /// Their role there now.
    pub role: Role,
}

/// Email links.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Stores a link (not yet delivered). `Conflict` when its hash or id is taken.
    async fn insert_link(&self, link: &EmailLink) -> StoreResult<()>;
    /// Records that the link went out by mail: only a delivered link proves its address.
    async fn mark_link_delivered(&self, hash: &[u8; 32]) -> StoreResult<()>;
    /// Deletes a link (one whose mail could not be sent).
    async fn delete_link(&self, hash: &[u8; 32]) -> StoreResult<()>;
    /// How many links for `purpose` to `email` were made at or after `since`, used or not.
    async fn links_since(
        &self,
        purpose: LinkPurpose,
        email: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// The link with this hash for `purpose`, when it is unused and unexpired at `now` (and,
    /// for an invitation, while the OWNER who made it is one, and not disabled).
    async fn find_link(
        &self,
        hash: &[u8; 32],
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmailLink>>;
    /// The organization's invitations that are unused and unexpired at `now` and whose OWNER
    /// is still one, and not disabled, newest first.
    async fn pending_invitations(
        &self,
        organization_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<EmailLink>>;
    /// Withdraws an unused invitation of the organization; `false` when there is none by
    /// that id.
    async fn withdraw_invitation(&self, organization_id: &str, id: &str) -> StoreResult<bool>;
    /// Accepts an invitation, in one transaction: the link is used up (it must be unused and
    /// unexpired at `now`, and the OWNER who made it must still be an OWNER there, and not
    /// disabled), `new_user`
    /// is stored when given (a person who set a password on the invitation), and the person
    /// `user_id` — whose email must be the invitation's — becomes a member with the
    /// invitation's role (a member already keeps the higher of the two); their address is
    /// verified only when the invitation was delivered by mail; the other pending invitations
    /// of that address to the organization are withdrawn. `None` when the link does not work
    /// (used, expired, unknown, for another address, or its OWNER is one no more); `Conflict`
    /// when `new_user`'s email is taken.
    async fn accept_invitation(
        &self,
        hash: &[u8; 32],
        user_id: &str,
        new_user: Option<&User>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Joined>>;
    /// Uses a verification link up and marks its person's email verified at `now`, in one
    /// transaction, when their email is still the link's; answers the person's id.
    async fn verify_email(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<String>>;
    /// Uses a password-reset link up and, in the same transaction, sets its person's password
    /// hash (their email must still be the link's), ends every session, grant and API key of
    /// theirs (as a changed password on the account page does by default: the families of
    /// their consents revoked at `now` into the revocation feed, their active keys disabled),
    /// spends their other reset links and verifies their email (the link reached it); answers
    /// the person's id.
    async fn reset_password(
        &self,
        hash: &[u8; 32],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<String>>;
    /// Deletes links expired at `now` and made more than an hour before it (the pauses
    /// between links count those of the last hour); answers how many.
    async fn purge_links(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}
