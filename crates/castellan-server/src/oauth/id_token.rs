//! ID tokens (OpenID Connect Core 1.0 §2, §3.1.3.6): signed `RS256` by default
//! (`token.id_token_algorithm`), `typ: JWT`, carrying `iss`, `sub` (the user id), `aud` (the
//! client id), `exp`, `iat`, `auth_time`, `acr` and `amr` (how the person signed in, see
//! `castellan_core::authn`), `nonce` (from the authorization request, never on
//! refresh), `at_hash`, `gid` (the grant, as in the access token) and, per granted scope, `email`/`email_verified` and `name` (§5.4).

use crate::oauth::tokens::IssueError;
use crate::platform::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::authn::Amr;
use castellan_core::user::User;
use castellan_core::ScopeSet;
use castellan_crypto::{hash_secret, jws, Algorithm};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The algorithm ID tokens are signed with (`token.id_token_algorithm`; RS256 when unset or
/// unknown, as OIDC requires every provider to support it).
pub fn id_token_algorithm(state: &AppState) -> Algorithm {
    Algorithm::from_name(&state.config.token.id_token_algorithm).unwrap_or(Algorithm::Rs256)
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the SHA-256 of the access token's ASCII,
/// base64url without padding.
pub fn at_hash(access_token: &str) -> String {
    let digest = hash_secret(access_token).0;
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The claims of an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdClaims {
    /// The issuer.
    pub iss: String,
    /// The person's id.
    pub sub: String,
    /// The client's id.
    pub aud: String,
    /// When it expires (Unix seconds).
    pub exp: i64,
    /// When it was issued (Unix seconds).
    pub iat: i64,
    /// When the person signed in (Unix seconds).
    pub auth_time: i64,
    /// The authentication context class the sign-in reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The authentication methods of the sign-in (RFC 8176).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The browser session the person signed in with (Back-Channel Logout 1.0 §2.1): the
    /// `sid` of the logout token sent when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The `nonce` of the authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The hash of the access token issued beside it.
    pub at_hash: String,
    /// The grant (token family) it was issued in, as in the access token: an exchange of the
    /// ID token is refused once that grant is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// The person's email address, with the `email` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email address was verified, with the `email` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The person's name, with the `profile` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What an ID token is about.
pub struct IdTokenInput<'a> {
    /// The client it is for.
    pub client_id: &'a str,
    /// The person it is about.
    pub user: &'a User,
    /// The scopes granted, which choose the profile claims.
    pub scope: &'a ScopeSet,
    /// The `nonce` of the authorization request.
    pub nonce: Option<&'a str>,
    /// When the person signed in.
    pub auth_time: DateTime<Utc>,
    /// How the person signed in.
    pub amr: Amr,
    /// The browser session, if any.
    pub sid: Option<&'a str>,
    /// The access token issued beside it (for `at_hash`).
    pub access_token: &'a str,
    /// Seconds until it expires (the access token's lifetime).
    pub lifetime: u32,
    /// The grant (token family) it is issued in.
    pub family_id: &'a str,
}

/// The profile claims a user's grant shows (ID token and userinfo, OIDC Core §5.4).
pub struct ProfileClaims {
    /// The email address, with the `email` scope.
    pub email: Option<String>,
    /// Whether it was verified, with the `email` scope.
    pub email_verified: Option<bool>,
    /// The name, with the `profile` scope.
    pub name: Option<String>,
}

/// `email`/`email_verified` with the `email` scope, `name` with `profile`. An address is
/// verified once the person opened a verification, invitation or password-reset link sent to
/// it.
pub fn profile_claims(user: &User, scope: &ScopeSet) -> ProfileClaims {
    let email = scope.contains_str("email");
    ProfileClaims {
        email: email.then(|| user.email.clone()),
        email_verified: email.then_some(user.email_verified_at.is_some()),
        name: scope.contains_str("profile").then(|| user.name.clone()),
    }
}

/// Signs the ID token of `input`, issued at `now`.
pub fn sign_id_token(
    state: &AppState,
    input: &IdTokenInput<'_>,
    now: DateTime<Utc>,
) -> Result<String, IssueError> {
    let profile = profile_claims(input.user, input.scope);
    let claims = IdClaims {
        iss: state.config.issuer.clone(),
        sub: input.user.id.clone(),
        aud: input.client_id.to_owned(),
        exp: (now + Duration::seconds(i64::from(input.lifetime))).timestamp(),
        iat: now.timestamp(),
        auth_time: input.auth_time.timestamp(),
        acr: input.amr.acr().map(str::to_owned),
        amr: input.amr.claim(),
        sid: input.sid.map(str::to_owned),
        nonce: input.nonce.map(str::to_owned),
        at_hash: at_hash(input.access_token),
        gid: Some(input.family_id.to_owned()),
        email: profile.email,
        email_verified: profile.email_verified,
        name: profile.name,
    };
    let keys = state.keys.keys();
    let key = keys
        .signer(id_token_algorithm(state))
        .ok_or(IssueError::NoKey)?;
    Ok(jws::sign(key, "JWT", &claims)?)
}

#[cfg(test)]
mod tests {
    use super::{at_hash, profile_claims};
    use castellan_core::user::User;
    use castellan_core::ScopeSet;

    #[test]
    fn email_verified_says_whether_the_address_was_proved() {
        let mut user = User {
            id: "u".into(),
            email: "ann@example.com".into(),
            name: "Ann".into(),
            password_hash: String::new(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            is_admin: false,
            disabled_at: None,
            email_verified_at: None,
        };
        let email = ScopeSet::parse("openid email").unwrap_or_default();
        assert_eq!(profile_claims(&user, &email).email_verified, Some(false));
        user.email_verified_at = Some(chrono::DateTime::UNIX_EPOCH);
        assert_eq!(profile_claims(&user, &email).email_verified, Some(true));
        let none = ScopeSet::parse("openid").unwrap_or_default();
        assert_eq!(profile_claims(&user, &none).email_verified, None);
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223 b00361a396177a9cb410ff61f20015ad
        assert_eq!(at_hash("abc"), "ungWv48Bz-pBQUDeXa4iIw");
    }
}
