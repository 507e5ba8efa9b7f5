//! `POST /oauth/token` (RFC 6749 §3.2), rate-limited per client IP by a route layer and per
//! authenticated client here (SPEC §8.1; see `services::limits`). Grants: `client_credentials`
//! (RFC 6749 §4.4), `authorization_code` (§4.1.3 with RFC 7636), `refresh_token` (§6) and
//! `password` (§4.3, only for clients allowed it).

use crate::error::OAuthFailure;
use crate::extract::client_auth::{presented_client, PresentedMethod};
use crate::extract::client_ip::ClientIp;
use crate::extract::params::OAuthRequest;
use crate::services::authenticate::authenticate_client;
use crate::services::authorization_code::exchange_code;
use crate::services::client_credentials::client_credentials;
use crate::services::limits::{self, RateLimited};
use crate::services::password_grant::{password_grant, PasswordGrantError};
use crate::services::refresh::refresh_tokens;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_core::client::GrantType;
use castellan_core::OAuthError;

/// Grants this server answers at the token endpoint.
pub const SUPPORTED_GRANTS: [GrantType; 4] = [
    GrantType::ClientCredentials,
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::Password,
];

/// Why the token endpoint refused: an OAuth error, or the client's rate limit.
#[derive(Debug)]
pub enum TokenRejection {
    OAuth(OAuthFailure),
    RateLimited(RateLimited),
}

impl From<OAuthFailure> for TokenRejection {
    fn from(e: OAuthFailure) -> Self {
        TokenRejection::OAuth(e)
    }
}

impl From<RateLimited> for TokenRejection {
    fn from(e: RateLimited) -> Self {
        TokenRejection::RateLimited(e)
    }
}

impl IntoResponse for TokenRejection {
    fn into_response(self) -> Response {
        match self {
            TokenRejection::OAuth(e) => e.into_response(),
            TokenRejection::RateLimited(e) => e.into_response(),
        }
    }
}

pub async fn create_token(
    State(state): State<AppState>,
    ip: ClientIp,
    req: OAuthRequest,
) -> Result<Response, TokenRejection> {
    let now = state.clock.now();
    let OAuthRequest {
        headers,
        mut params,
    } = req;
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
    let client = authenticate_client(&state, &presented, now).await?;
    let limit = limits::check_client(&state, &client).await?;
    let answer = match grant {
        GrantType::ClientCredentials => client_credentials(&state, &client, &params, now).await,
        GrantType::AuthorizationCode => exchange_code(&state, &client, &params, now).await,
        GrantType::RefreshToken => refresh_tokens(&state, &client, &params, now).await,
        GrantType::Password => match password_grant(&state, &client, &params, &ip, now).await {
            Ok(answer) => Ok(answer),
            Err(PasswordGrantError::OAuth(e)) => Err(e),
            Err(PasswordGrantError::Throttled(limited)) => return Err(limited.into()),
        },
        GrantType::JwtBearer | GrantType::DeviceCode | GrantType::TokenExchange => {
            Err(OAuthError::unsupported_grant_type("not supported").into())
        }
    }
    .map_err(|e| e.with_basic(basic));
    let res = match answer {
        Ok(answer) => {
            let mut res = Json(answer).into_response();
            let h = res.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            res
        }
        Err(e) => e.into_response(),
    };
    Ok(limit.attach(res))
}
