//! `POST /oauth/token` (RFC 6749 §3.2), rate-limited per client IP (every attempt) and per
//! authenticated client (SPEC §8.1; see `services::limits`). Grants: `client_credentials`
//! (RFC 6749 §4.4), `authorization_code` (§4.1.3 with RFC 7636), `refresh_token` (§6) and
//! `password` (§4.3, only for clients allowed it).

use crate::error::OAuthFailure;
use crate::extract::client_auth::{presented_client, PresentedMethod};
use crate::extract::client_ip::ClientIp;
use crate::extract::params::{OAuthParams, OAuthRequest};
use crate::services::authenticate::authenticate_client;
use crate::services::authorization_code::exchange_code;
use crate::services::client_credentials::client_credentials;
use crate::services::limits::{self, LimitDecision, RateLimited};
use crate::services::password_grant::{password_grant, PasswordGrantError};
use crate::services::refresh::refresh_tokens;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_core::client::{Client, GrantType};
use castellan_core::OAuthError;
use std::sync::Arc;

/// Grants this server answers at the token endpoint.
pub const SUPPORTED_GRANTS: [GrantType; 4] = [
    GrantType::ClientCredentials,
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::Password,
];

pub async fn create_token(
    State(state): State<AppState>,
    ip: ClientIp,
    req: Result<OAuthRequest, OAuthFailure>,
) -> Response {
    // Every attempt counts against the client IP, malformed or not, before anything else.
    let limiting = &state.rate_limiting;
    let per_ip = match limits::check_ip(&state, &limiting.limits.per_ip.token, &ip).await {
        Ok(d) => d.0,
        Err(refused) => return refused.into_response(),
    };
    let (mut res, client_limit) = match grant(&state, &ip, req).await {
        Ok(answered) => answered,
        // A refusal shows the decision that refused.
        Err(refused) => return refused.into_response(),
    };
    let shown = limits::shown(client_limit.map(|d| d.0), per_ip);
    limits::render(&mut res, &shown, limiting.limits.header_style);
    res
}

/// The answer to a token request that passed the per-IP limit, and the client's limit
/// decision when the client got that far; `Err` when a limit refused it.
async fn grant(
    state: &AppState,
    ip: &ClientIp,
    req: Result<OAuthRequest, OAuthFailure>,
) -> Result<(Response, Option<LimitDecision>), RateLimited> {
    let now = state.clock.now();
    let (client, basic, grant, params) = match authenticated(state, req, now).await {
        Ok(found) => found,
        Err(e) => return Ok((e.into_response(), None)),
    };
    let limit = limits::check_client(state, &client).await?;
    let answer = match grant {
        GrantType::ClientCredentials => client_credentials(state, &client, &params, now).await,
        GrantType::AuthorizationCode => exchange_code(state, &client, &params, now).await,
        GrantType::RefreshToken => refresh_tokens(state, &client, &params, now).await,
        GrantType::Password => match password_grant(state, &client, &params, ip, now).await {
            Ok(answer) => Ok(answer),
            Err(PasswordGrantError::OAuth(e)) => Err(e),
            Err(PasswordGrantError::Throttled(limited)) => return Err(limited),
        },
        GrantType::JwtBearer | GrantType::DeviceCode | GrantType::TokenExchange => {
            Err(OAuthError::unsupported_grant_type("not supported").into())
        }
    };
    let res = match answer {
        Ok(answer) => {
            let mut res = Json(answer).into_response();
            let h = res.headers_mut();
            // Room for what every answer gets (the limits', the edge's), so the map grows once.
            h.reserve(16);
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            res
        }
        Err(e) => e.with_basic(basic).into_response(),
    };
    Ok((res, limit))
}

/// The request's grant and parameters and the client that authenticated, or the error to
/// answer.
async fn authenticated(
    state: &AppState,
    req: Result<OAuthRequest, OAuthFailure>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Arc<Client>, bool, GrantType, OAuthParams), OAuthFailure> {
    let OAuthRequest {
        headers,
        mut params,
    } = req?;
    let presented = presented_client(&headers, &mut params)
        .map_err(|(e, basic)| OAuthFailure::from(e).with_basic(basic))?;
    let basic = presented.method == PresentedMethod::Basic;
    let grant = params
        .get("grant_type")
        .ok_or_else(|| OAuthFailure::from(OAuthError::invalid_request("grant_type is required")))?;
    let grant = GrantType::parse(grant)
        .filter(|g| SUPPORTED_GRANTS.contains(g))
        .ok_or_else(|| {
            OAuthFailure::from(OAuthError::unsupported_grant_type(format!(
                "supported grant types: {}",
                SUPPORTED_GRANTS.map(GrantType::as_str).join(", ")
            )))
        })?;
    let client = authenticate_client(state, &presented, now).await?;
    Ok((client, basic, grant, params))
}
