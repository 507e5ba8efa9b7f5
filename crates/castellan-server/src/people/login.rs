//! Signing in with email and password (OWASP authentication cheat sheet): Argon2id
//! verification, a dummy verification for unknown emails so timing does not tell whether an
//! account exists, one generic failure for both, and growing delays per account and per
//! account and address (`login_throttle`), or per device for a browser that signed in to the
//! account before (`known_device`).

use crate::audit::{self, Caller, Kind};
use crate::people::known_device;
use crate::people::login_throttle::LoginDelayed;
use crate::people::passwords::{dummy_hash, verify_password};
use crate::platform::state::AppState;
use castellan_core::user::{normalize_email, User};
use castellan_core::Secret;
use castellan_store::StoreError;
use std::net::IpAddr;
use tokio::sync::OnceCell;

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong email or password; never says which.
    #[error("Invalid email or password")]
    Invalid,
    /// The right password of an account an operator disabled (said only to whoever knows the
    /// password, so it reveals nothing to a guesser).
    #[error("This account is disabled; ask an administrator")]
    Disabled,
    /// A delay runs for this account (see `login_throttle`); the password was not checked.
    #[error("Too many sign-in attempts; wait and try again")]
    Throttled(LoginDelayed),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The hash verified against when the email is unknown (computed once per process).
async fn dummy() -> &'static str {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    DUMMY.get_or_init(dummy_hash).await
}

/// The account an attempt is counted under: the normalised email, or what was typed when it
/// is not one, marked as such (so malformed input is delayed too, apart from real accounts and
/// from every other name the sign-in delays count under, such as a person's second factor's).
pub fn throttle_account(typed: &str) -> String {
    normalize_email(typed).unwrap_or_else(|| format!("not-an-email:{typed}"))
}

/// Checks an email and password, for the login page and the password grant alike; answers
/// the user. The attempt is counted (and may be refused) before the password is checked: per
/// device when `device_cookie` is one this server issued for the account (the login page),
/// else per account and per account and address `ip`.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: Secret,
    ip: &str,
    device_cookie: Option<&str>,
) -> Result<User, LoginError> {
    let normalized = normalize_email(email);
    let account = throttle_account(email);
    let now = state.clock.now();
    let user = match &normalized {
        Some(e) => state.store.find_user_by_email(e).await?,
        None => None,
    };
    // Only a cookie issued for this account under its current password is recognised.
    let device = match (&user, device_cookie) {
        (Some(u), Some(c)) => known_device::recognise(state, c, &account, &u.password_hash, now),
        _ => None,
    };
    let limiting = &state.rate_limiting;
    let counted = match &device {
        Some(id) => {
            limiting
                .login
                .attempt_known(&limiting.limiter, &account, id)
                .await
        }
        None => {
            limiting
                .login
                .attempt(&limiting.limiter, &account, ip)
                .await
        }
    };
    counted.map_err(LoginError::Throttled)?;
    let phc = match &user {
        Some(u) => u.password_hash.clone(),
        None => dummy().await.to_owned(),
    };
    let ok = verify_password(password, phc).await;
    match user {
        Some(u) if ok => {
            match &device {
                Some(id) => {
                    limiting
                        .login
                        .succeeded_known(&limiting.limiter, &account, id)
                        .await;
                }
                None => {
                    limiting
                        .login
                        .succeeded(&limiting.limiter, &account, ip)
                        .await;
                }
            }
            if u.disabled_at.is_some() {
                tracing::info!(event = "login_disabled", user_id = %u.id, "a disabled person signed in");
                return Err(LoginError::Disabled);
            }
            Ok(u)
        }
        _ => {
            tracing::info!(event = "login_failed", "a sign-in failed");
            Err(LoginError::Invalid)
        }
    }
}

/// Records a sign-in attempt in the audit log, `how` naming where it came from ("sign-in
/// page", "password grant"): a success (the person's), or a refusal (wrong password, unknown
/// account, disabled account) by the system, on the account's person when the email names
/// one. What was typed is never recorded; a throttled attempt (the password was not checked)
/// or a storage failure is not an event.
pub async fn audit_sign_in(
    state: &AppState,
    typed_email: &str,
    result: &Result<User, LoginError>,
    ip: IpAddr,
    how: &str,
) {
    let event = match result {
        Ok(user) => Caller::person(&user.id, Some(ip))
            .did(Kind::SignInSucceeded)
            .target(&user.id)
            .detail(how),
        Err(e @ (LoginError::Invalid | LoginError::Disabled)) => {
            let known = match normalize_email(typed_email) {
                Some(email) => state.store.find_user_by_email(&email).await.ok().flatten(),
                None => None,
            };
            let why = match (e, &known) {
                (LoginError::Disabled, _) => "account disabled",
                (_, Some(_)) => "wrong password",
                (_, None) => "unknown account",
            };
            // Whoever typed it is not known to be the account's person: the actor is the
            // system, the account (when the email names one) the target.
            let event = match &known {
                Some(user) => Caller::system(Some(ip))
                    .did(Kind::SignInFailed)
                    .target(&user.id),
                None => Caller::system(Some(ip)).did(Kind::SignInFailed),
            };
            event.detail(format!("{how}: {why}"))
        }
        Err(LoginError::Throttled(_) | LoginError::Store(_)) => return,
    };
    audit::record(state, event).await;
}
