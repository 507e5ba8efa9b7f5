//! Links that go by email (`[mail]`): an OWNER's invitation to their organization (the link
//! shown to the OWNER to pass on when no mail server is configured), a link that verifies a
//! person's email address (then `email_verified: true` in ID tokens and userinfo), and a link
//! that sets a new password. Each is random (256 bits), stored only as its SHA-256, expires,
//! and works once; a request for a password-reset link answers the same whether or not an
//! account has the address, and its mail is sent in the background so the answer's timing
//! does not tell either.

use crate::audit::{self, Caller, Kind};
use crate::platform::mail::{deliverable, MailError};
use crate::platform::state::AppState;
use castellan_core::user::{normalize_email, Organization, Role, User};
use castellan_core::Secret;
use castellan_store::links::{EmailLink, LinkPurpose};
use castellan_store::StoreError;
use chrono::{DateTime, Duration, Utc};
use std::net::IpAddr;

/// The page an invitation opens.
pub const INVITATION_PATH: &str = "/invitation";
/// The page a verification link opens.
pub const VERIFY_PATH: &str = "/verify-email";
/// The page a password-reset link opens.
pub const RESET_PATH: &str = "/password-reset/new";

/// Most pending invitations an organization may have.
pub const MAX_PENDING_INVITATIONS: usize = 100;
/// A verification link is not sent again to the same address within this many minutes.
const VERIFY_PAUSE_MINUTES: i64 = 5;
/// A reset link is not sent again to the same address within this many minutes, nor more than
/// [`RESETS_PER_HOUR`] in an hour.
const RESET_PAUSE_MINUTES: i64 = 10;
/// Most reset links sent to one address in an hour.
const RESETS_PER_HOUR: u64 = 3;

/// Why a link was not made or sent.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// What was typed is not an email address.
    #[error("that is not an email address")]
    NotAnEmail,
    /// Only an organization's OWNER invites.
    #[error("only an OWNER of the organization invites people")]
    NotAllowed,
    /// No mail server is configured for links that only mail can carry.
    #[error("mail is not set up on this server; ask an administrator")]
    NoMail,
    /// The mail server did not take the message.
    #[error("the mail could not be sent; try again later")]
    NotSent,
    /// A link went to this address a moment ago.
    #[error("a link was sent to this address a moment ago; check your mail")]
    TooSoon,
    /// The organization has too many pending invitations.
    #[error(
        "the organization has {MAX_PENDING_INVITATIONS} pending invitations: withdraw some first"
    )]
    TooManyPending,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether a token presented in a link could be one this server made (43 base64url
/// characters); anything else is refused before a storage lookup.
pub fn well_formed(token: &str) -> bool {
    castellan_crypto::is_generated_secret(token)
}

/// The link stored under `token` for `purpose`, if it still works at `now`.
pub async fn find(
    state: &AppState,
    token: &str,
    purpose: LinkPurpose,
) -> Result<Option<EmailLink>, StoreError> {
    if !well_formed(token) {
        return Ok(None);
    }
    let hash = castellan_crypto::hash_secret(token).0;
    state
        .store
        .find_link(&hash, purpose, state.clock.now())
        .await
}

/// The SHA-256 of a presented token, when it is well formed.
pub fn hash_of(token: &str) -> Option<[u8; 32]> {
    well_formed(token).then(|| castellan_crypto::hash_secret(token).0)
}

/// A new link's secret and its stored form.
fn new_link(
    purpose: LinkPurpose,
    email: &str,
    created_by: &str,
    now: DateTime<Utc>,
    lifetime: Duration,
) -> (Secret, EmailLink) {
    let secret = castellan_crypto::generate_secret();
    let id = castellan_crypto::random_id(22);
    let link = EmailLink {
        hash: castellan_crypto::hash_secret(secret.expose()).0,
        id: format!("lnk_{id}"),
        purpose,
        email: email.to_owned(),
        user_id: None,
        organization_id: None,
        role: None,
        created_by: created_by.to_owned(),
        created_at: now,
        expires_at: now + lifetime,
    };
    (secret, link)
}

/// The absolute URL of `path` carrying `secret`.
fn url_of(state: &AppState, path: &str, secret: &Secret) -> String {
    format!("{}?token={}", state.config.endpoint(path), secret.expose())
}

fn until(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An invitation made.
#[derive(Debug)]
pub struct Invitation {
    /// The stored invitation.
    pub link: EmailLink,
    /// The link, for the OWNER to pass on when no mail server is configured; `None` once
    /// mailed.
    pub url: Option<String>,
}

/// Invites `typed_email` to `org` with `role`, for `inviter` (an OWNER there). With a mail
/// server, it is mailed (and refused when the server does not take it: the link is then
/// withdrawn, never shown); without one, the link is answered for the OWNER to pass on, and
/// accepting it then verifies no address. An address invited again keeps only its newest
/// invitation.
pub async fn invite(
    state: &AppState,
    org: &Organization,
    inviter: &User,
    typed_email: &str,
    role: Role,
    by: &Caller,
) -> Result<Invitation, LinkError> {
    if state.store.role_in(&org.id, &inviter.id).await? != Some(Role::Owner) {
        return Err(LinkError::NotAllowed);
    }
    let email = normalize_email(typed_email)
        .filter(|e| deliverable(e).is_some())
        .ok_or(LinkError::NotAnEmail)?;
    let now = state.clock.now();
    let pending = state.store.pending_invitations(&org.id, now).await?;
    if pending.iter().filter(|l| l.email != email).count() >= MAX_PENDING_INVITATIONS {
        return Err(LinkError::TooManyPending);
    }
    let earlier: Vec<String> = pending
        .iter()
        .filter(|l| l.email == email)
        .map(|l| l.id.clone())
        .collect();
    let hours = i64::from(state.config.mail.invitation_hours);
    let (secret, mut link) = new_link(
        LinkPurpose::Invite,
        &email,
        &inviter.id,
        now,
        Duration::hours(hours),
    );
    link.organization_id = Some(org.id.clone());
    link.role = Some(role);
    state.store.insert_link(&link).await?;
    let url = url_of(state, INVITATION_PATH, &secret);
    let body = format!(
        "{} ({}) invites you to join {} as {role} on {}.\n\nOpen this link to accept (it works once, until {}):\n{url}\n\nIf you did not expect this, ignore this message.\n",
        inviter.name,
        inviter.email,
        org.name,
        state.config.issuer,
        until(link.expires_at),
    );
    let subject = format!("Join {} on Castellan", org.name);
    let url = match state.mailer.send(&email, &subject, body).await {
        Ok(()) => {
            state.store.mark_link_delivered(&link.hash).await?;
            None
        }
        Err(MailError::NotConfigured) => Some(url),
        Err(e) => {
            tracing::warn!(error = %e, "an invitation could not be mailed");
            state.store.delete_link(&link.hash).await?;
            return Err(LinkError::NotSent);
        }
    };
    // The address's earlier invitations give way to this one, once it is out.
    for id in &earlier {
        if state.store.withdraw_invitation(&org.id, id).await? {
            audit::record(
                state,
                by.did(Kind::InvitationWithdrawn)
                    .organization(Some(&org.id))
                    .target(id)
                    .detail(format!("replaced by {}", link.id)),
            )
            .await;
        }
    }
    audit::record(
        state,
        by.did(Kind::MemberInvited)
            .organization(Some(&org.id))
            .target(&link.id)
            .detail(format!(
                "role {role}, {}",
                if url.is_none() {
                    "mailed"
                } else {
                    "link shown to the OWNER"
                }
            )),
    )
    .await;
    Ok(Invitation { link, url })
}

/// Mails `user` a link that verifies their address.
pub async fn send_verification(state: &AppState, user: &User) -> Result<(), LinkError> {
    if !state.mailer.is_configured() {
        return Err(LinkError::NoMail);
    }
    let now = state.clock.now();
    let pause = now - Duration::minutes(VERIFY_PAUSE_MINUTES);
    if state
        .store
        .links_since(LinkPurpose::VerifyEmail, &user.email, pause)
        .await?
        > 0
    {
        return Err(LinkError::TooSoon);
    }
    let hours = i64::from(state.config.mail.verification_hours);
    let (secret, mut link) = new_link(
        LinkPurpose::VerifyEmail,
        &user.email,
        &user.id,
        now,
        Duration::hours(hours),
    );
    link.user_id = Some(user.id.clone());
    state.store.insert_link(&link).await?;
    let body = format!(
        "Open this link to confirm that {} is your address on {} (it works once, until {}):\n{}\n\nIf you did not ask for this, ignore this message.\n",
        user.email,
        state.config.issuer,
        until(link.expires_at),
        url_of(state, VERIFY_PATH, &secret),
    );
    deliver(
        state,
        &link,
        &user.email,
        "Confirm your email address",
        body,
    )
    .await
}

/// Mails `link`'s message: marked delivered once the mail server took it, withdrawn when it
/// did not.
async fn deliver(
    state: &AppState,
    link: &EmailLink,
    to: &str,
    subject: &str,
    body: String,
) -> Result<(), LinkError> {
    match state.mailer.send(to, subject, body).await {
        Ok(()) => Ok(state.store.mark_link_delivered(&link.hash).await?),
        Err(e) => {
            tracing::warn!(error = %e, purpose = link.purpose.as_str(), "a link could not be mailed");
            state.store.delete_link(&link.hash).await?;
            Err(LinkError::NotSent)
        }
    }
}

/// Verifies the address a verification `token` was sent to; answers the person's id.
pub async fn verify(
    state: &AppState,
    token: &str,
    address: IpAddr,
) -> Result<Option<String>, StoreError> {
    let Some(hash) = hash_of(token) else {
        return Ok(None);
    };
    let verified = state.store.verify_email(&hash, state.clock.now()).await?;
    if let Some(user_id) = &verified {
        audit::record(
            state,
            Caller::person(user_id, Some(address))
                .did(Kind::EmailVerified)
                .target(user_id),
        )
        .await;
    }
    Ok(verified)
}

/// Asks for a password-reset link for `typed_email` from `address`. Answers `Ok` whether or
/// not an account has the address (nothing tells them apart: the mail goes out in the
/// background); `NoMail` when no mail server is configured. Requests count against the per-IP
/// `login` policy and, per address, against the same policy again.
pub async fn request_reset(
    state: &AppState,
    typed_email: &str,
    address: IpAddr,
) -> Result<(), ResetRefused> {
    if !state.mailer.is_configured() {
        return Err(ResetRefused::NoMail);
    }
    let limiting = &state.rate_limiting;
    let policy = &limiting.limits.per_ip.login;
    limiting
        .check(policy, &crate::platform::limits::ip_key(address))
        .await
        .map_err(ResetRefused::Limited)?;
    let Some(email) = normalize_email(typed_email) else {
        return Ok(());
    };
    let account = format!(
        "reset:{}",
        hex(&castellan_crypto::hash_secret(&email).0[..16])
    );
    limiting
        .check(policy, &account)
        .await
        .map_err(ResetRefused::Limited)?;
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = mail_reset(&state, &email, address).await {
            tracing::warn!(error = %e, "a password-reset link could not be sent");
        }
    });
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Why a reset request was refused.
#[derive(Debug)]
pub enum ResetRefused {
    /// No mail server is configured.
    NoMail,
    /// Too many requests (from the address, or for the account).
    Limited(crate::platform::limits::RateLimited),
}

/// Makes and mails a reset link when an active account has `email`.
async fn mail_reset(state: &AppState, email: &str, address: IpAddr) -> Result<(), LinkError> {
    let Some(user) = state
        .store
        .find_user_by_email(email)
        .await?
        .filter(|u| u.disabled_at.is_none())
    else {
        return Ok(());
    };
    let now = state.clock.now();
    let store = &state.store;
    let recent = store
        .links_since(
            LinkPurpose::ResetPassword,
            email,
            now - Duration::minutes(RESET_PAUSE_MINUTES),
        )
        .await?;
    let hourly = store
        .links_since(LinkPurpose::ResetPassword, email, now - Duration::hours(1))
        .await?;
    if recent > 0 || hourly >= RESETS_PER_HOUR {
        tracing::info!(
            event = "reset_link_held_back",
            "a password-reset link was not sent again so soon"
        );
        return Ok(());
    }
    let minutes = i64::from(state.config.mail.reset_minutes);
    let (secret, mut link) = new_link(
        LinkPurpose::ResetPassword,
        &user.email,
        "system",
        now,
        Duration::minutes(minutes),
    );
    link.user_id = Some(user.id.clone());
    state.store.insert_link(&link).await?;
    let body = format!(
        "Someone (from {address}) asked to set a new password for {} on {}. Open this link to choose one (it works once, until {}):\n{}\n\nIf it was not you, ignore this message: your password stays as it is.\n",
        user.email,
        state.config.issuer,
        until(link.expires_at),
        url_of(state, RESET_PATH, &secret),
    );
    deliver(state, &link, &user.email, "Set a new password", body).await
}

/// Sets the password of the person a reset `token` was sent to (every session, grant and API
/// key of theirs ends); answers their id, or `None` when the link does not work.
pub async fn reset(
    state: &AppState,
    token: &str,
    password_hash: &str,
    address: IpAddr,
) -> Result<Option<String>, StoreError> {
    let Some(hash) = hash_of(token) else {
        return Ok(None);
    };
    let done = state
        .store
        .reset_password(&hash, password_hash, state.clock.now())
        .await?;
    if let Some(user_id) = &done {
        state.token_checks.revoked_here();
        state.api_keys.forget_all();
        // Every session ended with the reset: their clients are told (back-channel logout).
        crate::oauth::backchannel_logout::person_sessions_ended(state, user_id);
        audit::record(
            state,
            Caller::person(user_id, Some(address))
                .did(Kind::PasswordChanged)
                .target(user_id)
                .detail("through a reset link; every session, grant and API key ended"),
        )
        .await;
    }
    Ok(done)
}
