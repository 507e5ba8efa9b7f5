//! Signing in with email and password (SPEC 5.2; OWASP authentication cheat sheet): Argon2id
//! verification, a dummy verification for unknown emails so timing does not tell whether an
//! account exists, one generic failure for both, and throttling per account and per IP.

use crate::services::login_throttle::LoginThrottle;
use crate::services::passwords::{dummy_hash, verify_password};
use crate::state::AppState;
use castellan_core::user::{normalize_email, User};
use castellan_core::Secret;
use castellan_store::StoreError;
use tokio::sync::OnceCell;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong email or password; never says which.
    #[error("Invalid email or password")]
    Invalid,
    #[error("Too many failed sign-ins; wait a few minutes and try again")]
    Throttled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The hash verified against when the email is unknown (computed once per process).
async fn dummy() -> &'static str {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    DUMMY.get_or_init(dummy_hash).await
}

/// Checks an email and password; answers the user.
pub async fn sign_in(
    state: &AppState,
    throttle: &LoginThrottle,
    email: &str,
    password: Secret,
    ip: &str,
) -> Result<User, LoginError> {
    let normalized = normalize_email(email);
    let account = normalized.as_deref().unwrap_or("");
    if throttle.is_throttled(account, ip) {
        return Err(LoginError::Throttled);
    }
    let user = match &normalized {
        Some(e) => state.store.find_user_by_email(e).await?,
        None => None,
    };
    let phc = match &user {
        Some(u) => u.password_hash.clone(),
        None => dummy().await.to_owned(),
    };
    let ok = verify_password(password, phc).await;
    match user {
        Some(u) if ok => {
            throttle.record_success(account);
            Ok(u)
        }
        _ => {
            throttle.record_failure(account, ip);
            tracing::info!(event = "login_failed", "a sign-in failed");
            Err(LoginError::Invalid)
        }
    }
}
