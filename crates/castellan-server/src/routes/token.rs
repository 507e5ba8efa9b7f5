//! `POST /oauth/token` (RFC 6749 §3.2), rate-limited per client IP (every attempt) and per
//! authenticated client (SPEC §8.1; see `services::limits`). Grants: `client_credentials`
//! (RFC 6749 §4.4), `authorization_code` (§4.1.3 with RFC 7636), `refresh_token` (§6) and
//! `password` (§4.3, only for clients allowed it).

use crate::edge::add_security_headers;
use crate::error::OAuthFailure;
use crate::extract::client_auth::{presented_client, PresentedMethod};
use crate::extract::client_ip::ClientIp;
use crate::extract::params::{OAuthParams, OAuthRequest};
use crate::services::authenticate::authenticate_client;
use crate::services::authorization_code::exchange_code;
use crate::services::client_credentials::client_credentials;
use crate::services::client_credentials::TokenResponse;
use crate::services::limits::{self, LimitDecision, RateLimited};
use crate::services::password_grant::{password_grant, PasswordGrantError};
use crate::services::refresh::refresh_tokens;
use crate::services::token_json::token_json;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use castellan_core::client::{Client, GrantType};
use castellan_core::OAuthError;
use castellan_limit::{Decision, HeaderStyle};
use std::net::IpAddr;
use std::sync::Arc;

/// Grants this server answers at the token endpoint.
pub const SUPPORTED_GRANTS: [GrantType; 4] = [
    GrantType::ClientCredentials,
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::Password,
];

/// `POST /oauth/token` as the edge answers it, before routing: the caller's address from the
/// connection's peer (`None` in process) and the request.
pub async fn answer(state: AppState, peer: Option<IpAddr>, req: Request) -> Response {
    let ip = ClientIp::of(&state, peer, req.headers());
    let params = OAuthRequest::from_request(req, &state).await;
    create_token(State(state), ip, params).await
}

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
    let (answer, client_limit) = match grant(&state, &ip, req).await {
        Ok(answered) => answered,
        // A refusal shows the decision that refused.
        Err(refused) => return refused.into_response(),
    };
    let shown = limits::shown(client_limit.map(|d| d.0), per_ip);
    let style = limiting.limits.header_style;
    match answer {
        Ok(token) => token_answer(&state, &token, &shown, style),
        Err(mut res) => {
            limits::render(&mut res, &shown, style);
            res
        }
    }
}

/// A token answer (RFC 6749 §5.1): the JSON body, `Cache-Control: no-store`, `Pragma:
/// no-cache`, the rate-limit and the security headers. Every token answer has these headers,
/// so the first one's map is kept and later answers copy it (shared values, no rebuilt names),
/// re-rendering only the rate-limit counts; built anew when the decision needs other headers.
/// A header whose value differs between answers other than those counts (a `DPoP-Nonce`,
/// say) must be set after the copy, never kept in the map.
fn token_answer(
    state: &AppState,
    token: &TokenResponse,
    shown: &Decision,
    style: HeaderStyle,
) -> Response {
    let mut res = Response::new(Body::from(token_json(token)));
    *res.headers_mut() = state.token_answer_headers.headers(Some(shown), style, || {
        // Room for every header, so the map grows once (and copies of it never).
        let mut h = HeaderMap::with_capacity(16);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        castellan_limit::write_headers(shown, style, &mut h);
        add_security_headers(&mut h);
        h
    });
    res
}

/// The issued tokens, or the answer to a token request that passed the per-IP limit, and the
/// client's limit decision when the client got that far; `Err` when a limit refused it.
async fn grant(
    state: &AppState,
    ip: &ClientIp,
    req: Result<OAuthRequest, OAuthFailure>,
) -> Result<(Result<TokenResponse, Response>, Option<LimitDecision>), RateLimited> {
    let now = state.clock.now();
    let (client, basic, grant, params) = match authenticated(state, req, now).await {
        Ok(found) => found,
        Err(e) => return Ok((Err(e.into_response()), None)),
    };
    let limit = limits::check_client(state, &client).await?;
    // The grants that reach storage are boxed: inline, their futures would make every token
    // request's future (moved whole at each wrapper) as large as theirs.
    let answer = match grant {
        GrantType::ClientCredentials => client_credentials(state, &client, &params, now).await,
        GrantType::AuthorizationCode => Box::pin(exchange_code(state, &client, &params, now)).await,
        GrantType::RefreshToken => Box::pin(refresh_tokens(state, &client, &params, now)).await,
        GrantType::Password => {
            match Box::pin(password_grant(state, &client, &params, ip, now)).await {
                Ok(answer) => Ok(answer),
                Err(PasswordGrantError::OAuth(e)) => Err(e),
                Err(PasswordGrantError::Throttled(limited)) => return Err(limited),
            }
        }
        GrantType::JwtBearer | GrantType::DeviceCode | GrantType::TokenExchange => {
            Err(OAuthError::unsupported_grant_type("not supported").into())
        }
    };
    Ok((
        answer.map_err(|e| e.with_basic(basic).into_response()),
        limit,
    ))
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
