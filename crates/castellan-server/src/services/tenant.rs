//! Tenant tokens (SPEC 7.4, seed 002): `POST /auth` trades `client_id`, `client_secret`,
//! `brand` and `venue_id` for a one-hour JWT access token (`typ` `at+jwt`, RFC 9068) that also
//! carries `brand` and `venue` claims. Calls then send it as `x-token` with `x-brand` and
//! `x-venue` (and optionally `x-stage`), which must match.

use crate::extract::client_auth::{PresentedClient, PresentedMethod};
use crate::services::authenticate::authenticate_client;
use crate::services::tokens::{new_jti, Checked};
use crate::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::token::AccessClaims;
use castellan_core::Secret;
use castellan_crypto::jws;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Longest brand or venue accepted.
pub const MAX_TENANT_LEN: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0} must be 1 to 200 printable characters")]
    Invalid(&'static str),
    /// Seed 002: invalid credentials answer 400.
    #[error("invalid credentials: verify client_id, client_secret, brand and venue_id")]
    BadCredentials,
    #[error("no signing key for the configured algorithm")]
    NoKey,
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

pub struct TenantToken {
    pub token: Secret,
    pub expires_in: u32,
}

fn check_value(v: Option<&str>, name: &'static str) -> Result<String, TenantError> {
    let v = v
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(TenantError::Missing(name))?;
    if v.len() > MAX_TENANT_LEN || !v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(TenantError::Invalid(name));
    }
    Ok(v.to_owned())
}

/// Authenticates the client and mints its tenant token.
pub async fn issue_tenant_token(
    state: &AppState,
    client_id: Option<&str>,
    client_secret: Option<&str>,
    brand: Option<&str>,
    venue: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TenantToken, TenantError> {
    let client_id = check_value(client_id, "client_id")?;
    let secret = client_secret
        .filter(|s| !s.is_empty())
        .ok_or(TenantError::Missing("client_secret"))?;
    let brand = check_value(brand, "brand")?;
    let venue = check_value(venue, "venue_id")?;
    let presented = PresentedClient {
        client_id,
        secret: Some(Secret::new(secret)),
        method: PresentedMethod::Body,
    };
    let client = authenticate_client(state, &presented, now)
        .await
        .map_err(|_| TenantError::BadCredentials)?;
    let lifetime = state.config.gateway.tenant_token_seconds;
    let scope: Vec<String> = client
        .scope
        .iter()
        .filter_map(|p| p.as_scope())
        .map(|s| s.as_str().to_owned())
        .collect();
    let base = AccessClaims {
        iss: state.config.issuer.clone(),
        sub: client.id.clone(),
        aud: state.config.default_audience().to_owned(),
        exp: (now + Duration::seconds(i64::from(lifetime))).timestamp(),
        iat: now.timestamp(),
        jti: new_jti(),
        client_id: client.id.clone(),
        scope: scope.join(" "),
        env: state.config.environment.as_str().to_owned(),
        org: None,
        gid: None,
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
