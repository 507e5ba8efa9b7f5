//! The token endpoint's one pipeline (RFC 6749 §3.2), free of HTTP: a request read into typed
//! values ([`request`]) goes through
//!
//! 1. the per-IP count (`rate_limit.per_ip.token`): every attempt, malformed or not, first;
//! 2. client authentication ([`crate::oauth::client_auth::authenticate`]);
//! 3. the per-client count, under the client's tier;
//! 4. the client's right to the grant, then the grant: one function per grant
//!    ([`client_credentials`], [`authorization_code`], [`refresh`], [`password`],
//!    [`exchange`]), each from
//!    typed input to [`IssuedTokens`] or a typed error;
//!
//! and ends as a [`TokenOutcome`] carrying the rate-limit decision its answer shows.
//!
//! The steps that can answer without waiting do so inside themselves: the in-process limiter
//! counts without an await, a client the cache knows is found without one, and a
//! `client_credentials` JWT is signed without one; only storage, Redis and the password hash
//! wait. The grants that reach storage are boxed, so that this pipeline's future (moved whole
//! at each wrapper, and copied into the heap for every request) stays the size of the fast
//! path's.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod exchange;
pub mod grant_tokens;
pub mod json;
pub mod jwt_bearer;
pub mod password;
pub mod refresh;
pub mod request;

use crate::error::OAuthFailure;
use crate::oauth::client_auth::{authenticate, PresentedClient};
use crate::people::login_throttle::LoginDelayed;
use crate::platform::limits::{self, RateLimited};
use crate::platform::state::AppState;
use castellan_core::client::{Client, GrantType};
use castellan_core::OAuthError;
use castellan_limit::Decision;
use chrono::{DateTime, Utc};
use request::{GrantRequest, TokenRequest};
use std::net::IpAddr;

/// A token request as read: the client's credentials as presented and what it asks.
#[derive(Debug)]
pub struct Asked {
    /// The client's credentials as presented.
    pub client: PresentedClient,
    /// The grant asked for.
    pub grant: GrantRequest,
    /// The request's DPoP proof (RFC 9449), if it sent one.
    pub dpop: Option<Box<str>>,
}

/// The tokens a grant issued (RFC 6749 §5.1), as the answer states them. `Debug` hides the
/// tokens.
#[derive(serde::Serialize)]
pub struct IssuedTokens {
    /// The access token.
    pub access_token: String,
    /// `DPoP` for a DPoP-bound access token, else `Bearer`.
    pub token_type: &'static str,
    /// The access token's lifetime in seconds.
    pub expires_in: u32,
    /// The space-separated scopes granted.
    pub scope: String,
    /// When the tokens were issued (Unix seconds).
    pub created_at: i64,
    /// The refresh token, when the grant issues one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The ID token, when the grant is a person's with `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The organization the tokens are bound to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The person the tokens were issued for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// What was issued, for a token exchange (RFC 8693 §2.2.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |t: &Option<String>| t.as_ref().map(|_| "[redacted]");
        f.debug_struct("IssuedTokens")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("created_at", &self.created_at)
            .field("refresh_token", &hidden(&self.refresh_token))
            .field("id_token", &hidden(&self.id_token))
            .field("organization_id", &self.organization_id)
            .field("user_id", &self.user_id)
            .field("issued_token_type", &self.issued_token_type)
            .finish()
    }
}

/// Why a grant refused: an OAuth error, or (the password grant) a rate limit or a sign-in
/// delay.
#[derive(Debug)]
pub enum GrantError {
    /// An OAuth error answer.
    OAuth(OAuthFailure),
    /// Too many sign-in attempts from this IP (`rate_limit.per_ip.login`).
    Throttled(RateLimited),
    /// A sign-in delay runs for this account (the password was not checked).
    Delayed(LoginDelayed),
}

impl From<OAuthFailure> for GrantError {
    fn from(e: OAuthFailure) -> Self {
        GrantError::OAuth(e)
    }
}

impl From<OAuthError> for GrantError {
    fn from(e: OAuthError) -> Self {
        GrantError::OAuth(e.into())
    }
}

impl From<castellan_store::StoreError> for GrantError {
    fn from(e: castellan_store::StoreError) -> Self {
        GrantError::OAuth(e.into())
    }
}

impl From<RateLimited> for GrantError {
    fn from(e: RateLimited) -> Self {
        GrantError::Throttled(e)
    }
}

/// Why a token request was refused, other than by a rate limit.
#[derive(Debug)]
pub enum TokenError {
    /// An OAuth error (RFC 6749 §5.2).
    OAuth(OAuthFailure),
    /// A sign-in delay runs for the account (password grant; the password was not checked).
    Delayed(LoginDelayed),
}

/// How a token request ended, with the rate-limit decision its answer shows: the client's,
/// unless the per-IP one is more restrictive ([`limits::shown`]).
#[derive(Debug)]
pub enum TokenOutcome {
    /// Tokens were issued.
    Issued {
        /// The tokens.
        tokens: IssuedTokens,
        /// The rate-limit decision shown.
        limit: Decision,
    },
    /// The grant refused.
    Refused {
        /// Why.
        error: TokenError,
        /// The rate-limit decision shown.
        limit: Decision,
    },
    /// A rate limit refused; the answer shows the refusing decision.
    Limited(RateLimited),
}

impl TokenOutcome {
    /// The outcome as a metric's label: `issued`, the OAuth error code, `delayed` (a sign-in
    /// delay) or `rate_limited`.
    pub fn label(&self) -> &'static str {
        match self {
            TokenOutcome::Issued { .. } => "issued",
            TokenOutcome::Refused {
                error: TokenError::OAuth(f),
                ..
            } => f.error.code.as_str(),
            TokenOutcome::Refused {
                error: TokenError::Delayed(_),
                ..
            } => "delayed",
            TokenOutcome::Limited(_) => "rate_limited",
        }
    }
}

/// Answers a token request from `ip` (`asked`: the request as read, or why it could not be).
///
/// The request is borrowed: its values stay in the caller's frame, and this future (held by
/// every token request's) holds no second copy of them.
pub async fn token(
    state: &AppState,
    ip: IpAddr,
    asked: &Result<Asked, OAuthFailure>,
) -> TokenOutcome {
    let per_ip = match limits::check_ip(
        &state.rate_limiting,
        &state.rate_limiting.limits.per_ip.token,
        ip,
    )
    .await
    {
        Ok(d) => d.0,
        Err(refused) => return TokenOutcome::Limited(refused),
    };
    let refused = |error, limit| TokenOutcome::Refused {
        error: TokenError::OAuth(error),
        limit,
    };
    let Asked {
        client,
        grant,
        dpop,
    } = match asked {
        Ok(asked) => asked,
        Err(e) => return refused(e.clone(), per_ip),
    };
    let now = state.clock.now();
    let auth = match authenticate(state, client, now).await {
        Ok(auth) => auth,
        Err(e) => return refused(e, per_ip),
    };
    let client_limit = match limits::check_client(&state.rate_limiting, &auth.client).await {
        Ok(d) => d.map(|d| d.0),
        Err(refused) => return TokenOutcome::Limited(refused),
    };
    let limit = limits::shown(client_limit, per_ip);
    // Without a proof nothing waits; a proof's check waits (the replay store), behind a box,
    // so that this future stays the size of the fast path's.
    let jkt = match dpop {
        None => None,
        Some(proof) => {
            match Box::pin(crate::oauth::dpop::check_token_request(state, proof, now)).await {
                Ok(jkt) => Some(jkt),
                Err(e) => return refused(e.with_basic(auth.basic()), limit),
            }
        }
    };
    if let Err(e) = crate::oauth::dpop::required(&auth.client, jkt.as_deref()) {
        return refused(e.with_basic(auth.basic()), limit);
    }
    match issue(state, ip, &auth.client, grant, jkt.as_deref(), now).await {
        Ok(tokens) => TokenOutcome::Issued { tokens, limit },
        Err(GrantError::OAuth(e)) => refused(e.with_basic(auth.basic()), limit),
        Err(GrantError::Delayed(delayed)) => TokenOutcome::Refused {
            error: TokenError::Delayed(delayed),
            limit,
        },
        Err(GrantError::Throttled(refused)) => TokenOutcome::Limited(refused),
    }
}

/// The grant `asked` for `client`, once the client may use it, its access token bound to `jkt`.
async fn issue(
    state: &AppState,
    ip: IpAddr,
    client: &Client,
    asked: &GrantRequest,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, GrantError> {
    if !client.allows_grant(asked.grant) {
        return Err(not_allowed(asked.grant).into());
    }
    let request = asked.request.as_ref().map_err(Clone::clone)?;
    Ok(match request {
        TokenRequest::ClientCredentials(asked) => {
            client_credentials::client_credentials(state, client, asked, jkt, now).await?
        }
        TokenRequest::AuthorizationCode(asked) => {
            Box::pin(authorization_code::exchange_code(
                state, client, asked, jkt, now,
            ))
            .await?
        }
        TokenRequest::RefreshToken(asked) => {
            Box::pin(refresh::refresh_tokens(state, client, asked, jkt, now, ip)).await?
        }
        TokenRequest::Password(asked) => {
            Box::pin(password::password_grant(state, client, asked, ip, jkt, now)).await?
        }
        TokenRequest::TokenExchange(asked) => {
            Box::pin(exchange::exchange(state, client, asked, jkt, now)).await?
        }
        TokenRequest::JwtBearer(asked) => {
            Box::pin(jwt_bearer::jwt_bearer(state, client, asked, jkt, now)).await?
        }
        TokenRequest::DeviceCode(asked) => {
            Box::pin(device_code::device_code(state, client, asked, jkt, now)).await?
        }
    })
}

/// `unauthorized_client` for a client not given `grant`.
fn not_allowed(grant: GrantType) -> OAuthError {
    OAuthError::unauthorized_client(format!(
        "the client is not allowed the {} grant",
        grant.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_the_client_is_not_given_is_named_in_its_refusal() {
        for (grant, named) in [
            (GrantType::ClientCredentials, "client_credentials"),
            (GrantType::AuthorizationCode, "authorization_code"),
            (GrantType::RefreshToken, "refresh_token"),
            (GrantType::Password, "password"),
        ] {
            let e = not_allowed(grant);
            assert_eq!(e.code, castellan_core::OAuthErrorCode::UnauthorizedClient);
            assert_eq!(
                e.description(),
                format!("the client is not allowed the {named} grant")
            );
        }
    }
}
