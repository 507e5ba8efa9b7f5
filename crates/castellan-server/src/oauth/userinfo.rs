//! The UserInfo endpoint's answer (OpenID Connect Core 1.0 §5.3): for a user's access token
//! carrying `openid`, `sub` and the claims its scopes allow (§5.4: `email`/`email_verified`
//! with `email`, `name` with `profile`). Failures follow RFC 6750 §3.

use crate::oauth::id_token::profile_claims;
use crate::oauth::tokens::{check_access_token, Audience, Checked};
use crate::platform::state::AppState;
use castellan_core::ScopeSet;
use castellan_store::StoreError;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Why the UserInfo endpoint refused (RFC 6750 §3.1).
#[derive(Debug)]
pub enum UserinfoError {
    /// No bearer token was sent.
    NoToken,
    /// The token is not active, or is not a user's.
    InvalidToken(&'static str),
    /// The token lacks `openid`.
    InsufficientScope,
    /// The token is DPoP-bound and was not used with a valid proof, or is not bound and was
    /// presented as `DPoP` (RFC 9449 §7).
    Dpop(castellan_guard::Failure),
    /// Storage failed.
    Store(StoreError),
}

impl From<StoreError> for UserinfoError {
    fn from(e: StoreError) -> Self {
        UserinfoError::Store(e)
    }
}

/// The access token `token`, checked at `now` for Castellan's own APIs. How it was presented
/// (DPoP, RFC 9449 §7) is the HTTP handler's to check next.
pub async fn check_token(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Checked, UserinfoError> {
    match check_access_token(state, token, now, Audience::Castellan).await? {
        Ok(c) => Ok(c),
        Err(reason) => Err(UserinfoError::InvalidToken(reason.describe())),
    }
}

/// The claims of the person behind the `checked` token.
pub async fn get_userinfo(state: &AppState, checked: &Checked) -> Result<Value, UserinfoError> {
    // Only a user's grant carries a family; a client's own token has no user behind it.
    if checked.family().is_none() {
        return Err(UserinfoError::InvalidToken(
            "the token was not issued to a user",
        ));
    }
    let scope = ScopeSet::parse(checked.scope()).unwrap_or_default();
    if !scope.contains_str("openid") {
        return Err(UserinfoError::InsufficientScope);
    }
    let Some(user) = state
        .store
        .get_user(checked.subject())
        .await?
        .filter(|u| u.disabled_at.is_none())
    else {
        return Err(UserinfoError::InvalidToken(
            "the user no longer exists or is disabled",
        ));
    };
    let profile = profile_claims(&user, &scope);
    let mut body = json!({ "sub": user.id });
    if let Some(obj) = body.as_object_mut() {
        if let Some(email) = profile.email {
            obj.insert("email".into(), email.into());
        }
        if let Some(v) = profile.email_verified {
            obj.insert("email_verified".into(), v.into());
        }
        if let Some(name) = profile.name {
            obj.insert("name".into(), name.into());
        }
    }
    Ok(body)
}
