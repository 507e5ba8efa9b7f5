//! Tenant tokens: `POST /auth` trades `client_id`, `client_secret`,
//! `brand` and `venue_id` for a one-hour JWT access token (`typ` `at+jwt`, RFC 9068) that also
//! carries `brand` and `venue` claims. Calls then send it as `x-token` with `x-brand` and
//! `x-venue` (and optionally `x-stage`), which must match.
//!
//! Only a client allowed `client_credentials` (the token is the client's own, with no person
//! behind it) and given that brand and venue (`tenants`, set through the management API or the
//! CLI) gets one, with its default scopes. Anything else is a 400 "invalid
//! credentials", with nothing minted. The route counts every attempt per IP first, as the
//! token endpoint does; this service counts the client's request under its tier.

use crate::oauth::client_auth::{authenticate, PresentedClient, PresentedMethod};
use crate::oauth::tokens::{new_jti, Checked};
use crate::platform::limits::{self, LimitDecision, RateLimited};
use crate::platform::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::client::GrantType;
use castellan_core::grant::default_scopes;
use castellan_core::tenant::tenant_value;
use castellan_core::token::AccessClaims;
use castellan_core::Secret;
use castellan_crypto::jws;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Why `POST /auth` gave no tenant token.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The named field is missing.
    #[error("{0} is required")]
    Missing(&'static str),
    /// The named field is empty, too long or not printable.
    #[error("{0} must be 1 to 200 printable characters")]
    Invalid(&'static str),
    /// Wrong client credentials (answered 400), or a brand or venue the client was not
    /// given, answered the same so that the answer does not tell which tenants exist.
    #[error("invalid credentials: verify client_id, client_secret, brand and venue_id")]
    BadCredentials,
    /// The client authenticated but is not allowed `client_credentials`: a tenant token is
    /// the client's own, with no person behind it.
    #[error("the client is not allowed the client_credentials grant")]
    UnauthorizedClient,
    /// The client must use DPoP-bound tokens (`dpop_bound_access_tokens`, RFC 9449 §5.2):
    /// tenant tokens are bearer tokens, so it gets none.
    #[error("the client's tokens must be DPoP-bound: tenant tokens are bearer tokens; use the token endpoint with a DPoP proof")]
    DpopRequired,
    /// The client's tier refused the request.
    #[error("rate limited")]
    Limited(RateLimited),
    /// No signing key exists for the configured algorithm.
    #[error("no signing key for the configured algorithm")]
    NoKey,
    /// Signing the token failed.
    #[error("signing failed")]
    Sign,
}

#[derive(Serialize)]
struct TenantClaims<'a> {
    #[serde(flatten)]
    base: &'a AccessClaims,
    brand: &'a str,
    venue: &'a str,
}

/// A signed tenant token.
pub struct TenantToken {
    /// The token.
    pub token: Secret,
    /// Its lifetime in seconds.
    pub expires_in: u32,
}

/// What `POST /auth` answers: the token or why there is none, and the client's rate-limit
/// decision when the client got as far as being counted.
pub struct TenantOutcome {
    /// The token, or why there is none.
    pub result: Result<TenantToken, TenantError>,
    /// The client's rate-limit decision, when it was counted.
    pub client_limit: Option<LimitDecision>,
}

fn check_value(v: Option<&str>, name: &'static str) -> Result<String, TenantError> {
    let v = v
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(TenantError::Missing(name))?;
    tenant_value(v)
        .map(str::to_owned)
        .ok_or(TenantError::Invalid(name))
}

/// The fields of a `POST /auth` request, as sent.
#[derive(Clone, Copy)]
pub struct TenantRequest<'a> {
    /// The client's id.
    pub client_id: Option<&'a str>,
    /// The client's secret.
    pub client_secret: Option<&'a str>,
    /// The brand asked for.
    pub brand: Option<&'a str>,
    /// The venue asked for (`venue_id`).
    pub venue: Option<&'a str>,
}

impl std::fmt::Debug for TenantRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantRequest")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.map(|_| "[redacted]"))
            .field("brand", &self.brand)
            .field("venue", &self.venue)
            .finish()
    }
}

/// Authenticates the client, counts it under its tier and mints its tenant token.
pub async fn issue_tenant_token(
    state: &AppState,
    req: TenantRequest<'_>,
    now: DateTime<Utc>,
) -> TenantOutcome {
    let mut client_limit = None;
    let result = tenant_token(state, req, &mut client_limit, now).await;
    TenantOutcome {
        result,
        client_limit,
    }
}

async fn tenant_token(
    state: &AppState,
    req: TenantRequest<'_>,
    client_limit: &mut Option<LimitDecision>,
    now: DateTime<Utc>,
) -> Result<TenantToken, TenantError> {
    let TenantRequest {
        client_id,
        client_secret,
        brand,
        venue,
    } = req;
    let client_id = check_value(client_id, "client_id")?;
    let secret = client_secret
        .filter(|s| !s.is_empty())
        .ok_or(TenantError::Missing("client_secret"))?;
    let brand = check_value(brand, "brand")?;
    let venue = check_value(venue, "venue_id")?;
    let presented = PresentedClient {
        client_id,
        secret: Some(Secret::new(secret)),
        method: PresentedMethod::TenantRequest,
    };
    let client = authenticate(state, &presented, now)
        .await
        .map_err(|_| TenantError::BadCredentials)?
        .client;
    *client_limit = limits::check_client(&state.rate_limiting, &client)
        .await
        .map_err(TenantError::Limited)?;
    if !client.allows_grant(GrantType::ClientCredentials) {
        return Err(TenantError::UnauthorizedClient);
    }
    if client.requires_dpop() {
        return Err(TenantError::DpopRequired);
    }
    if !client.allows_tenant(&brand, &venue) {
        tracing::info!(client_id = %client.id, "tenant token refused: brand or venue not given to the client");
        return Err(TenantError::BadCredentials);
    }
    let lifetime = state.config.gateway.tenant_token_seconds;
    let scope = default_scopes(&client).to_string();
    let base = AccessClaims {
        iss: state.config.issuer.clone(),
        sub: client.id.clone(),
        aud: state.config.gateway_resource().into(),
        exp: (now + Duration::seconds(i64::from(lifetime))).timestamp(),
        iat: now.timestamp(),
        jti: new_jti(),
        client_id: client.id.clone(),
        scope,
        env: state.config.environment.as_str().to_owned(),
        org: None,
        gid: None,
        cnf: None,
        tier: client.tier.clone(),
        act: None,
        may_act: None,
        auth_time: None,
        acr: None,
        amr: None,
    };
    let keys = state.keys.keys();
    let key = keys.signer(state.access_alg).ok_or(TenantError::NoKey)?;
    let token = jws::sign(
        key,
        "at+jwt",
        &TenantClaims {
            base: &base,
            brand: &brand,
            venue: &venue,
        },
    )
    .map_err(|_| TenantError::Sign)?;
    tracing::info!(client_id = %client.id, "tenant token issued");
    Ok(TenantToken {
        token: Secret::new(token),
        expires_in: lifetime,
    })
}

/// The `brand` and `venue` claims of a token already checked by `check_access_token` (its
/// signature verified, so reading its payload again is safe).
pub fn tenant_claims(token: &str, checked: &Checked) -> (Option<String>, Option<String>) {
    if !matches!(checked, Checked::Jwt(_)) {
        return (None, None);
    }
    let payload = token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let get = |name: &str| {
        payload.as_ref().and_then(|v| match v.get(name) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    (get("brand"), get("venue"))
}
