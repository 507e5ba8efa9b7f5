//! `POST /oauth/token` (RFC 6749 §3.2), rate-limited per client IP (every attempt) and per
//! authenticated client (SPEC §8.1; see `services::limits`). Grants: `client_credentials`
//! (RFC 6749 §4.4), `authorization_code` (§4.1.3 with RFC 7636), `refresh_token` (§6) and
//! `password` (§4.3, only for clients allowed it).

use crate::edge::add_security_headers;
use crate::error::OAuthFailure;
use crate::extract::client_auth::{presented_client, PresentedClient, PresentedMethod};
use crate::extract::client_ip::ClientIp;
use crate::extract::params::{read_body, OAuthParams, OAuthRequest};
use crate::services::authenticate::{authenticate_client, cached_client, check_presented};
use crate::services::authorization_code::exchange_code;
use crate::services::client_credentials::TokenResponse;
use crate::services::client_credentials::{client_credentials, client_credentials_signed};
use crate::services::limits::{self, LimitDecision, RateLimited};
use crate::services::password_grant::{password_grant, PasswordGrantError};
use crate::services::refresh::refresh_tokens;
use crate::services::token_json::token_json;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use castellan_core::client::{Client, GrantType, TokenFormat};
use castellan_core::OAuthError;
use castellan_limit::{Decision, HeaderStyle, MemoryLimiter};
use std::future::Future;
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
///
/// One `async` block over the request's parts, not nested `async fn`s: an `async fn` keeps
/// its arguments twice (as given and as moved into its body), and this future is copied into
/// the heap for every token request.
pub fn answer(
    state: AppState,
    peer: Option<IpAddr>,
    req: Request,
) -> impl Future<Output = Response> + Send {
    let ip = ClientIp::of(&state, peer, req.headers());
    let split = OAuthRequest::split(req);
    async move {
        let req = match split {
            Ok((kind, headers, body)) => {
                let body = read_body(body, state.config.http.max_body_bytes).await;
                OAuthRequest::parse(kind, headers, body)
            }
            Err((e, body)) => {
                crate::extract::body::drain(body).await;
                Err(e)
            }
        };
        respond(&state, &ip, req).await
    }
}

pub async fn create_token(
    State(state): State<AppState>,
    ip: ClientIp,
    req: Result<OAuthRequest, OAuthFailure>,
) -> Response {
    respond(&state, &ip, req).await
}

/// The answer to a token request once read: at once when nothing needs waiting for.
async fn respond(
    state: &AppState,
    ip: &ClientIp,
    req: Result<OAuthRequest, OAuthFailure>,
) -> Response {
    match at_once(state, ip, understood(req)) {
        Ok(res) => res,
        // Boxed: inline, the waiting steps' future would make every request's as large.
        Err(asked) => Box::pin(waiting(state, ip, asked)).await,
    }
}

/// What a token request asks, read without waiting: the client's credentials as presented,
/// whether by Basic, the grant and the remaining parameters.
struct Asked {
    presented: PresentedClient,
    basic: bool,
    grant: GrantType,
    params: OAuthParams,
}

/// The request's client credentials, grant and parameters, or the error to answer (after the
/// per-IP count, which every attempt passes first).
fn understood(req: Result<OAuthRequest, OAuthFailure>) -> Result<Asked, OAuthFailure> {
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
    Ok(Asked {
        presented,
        basic,
        grant,
        params,
    })
}

/// The token request answered without waiting, when nothing it needs is elsewhere: the rate
/// limits count in this process, the cache knows the client (or that there is none) and the
/// request is `client_credentials` for a client given JWTs, or is answered with an error
/// before any of that matters. The same steps in the same order as [`waiting`], which answers
/// the rest; `Err` hands the request back with nothing counted or checked yet.
fn at_once(
    state: &AppState,
    ip: &ClientIp,
    asked: Result<Asked, OAuthFailure>,
) -> Result<Response, Result<Asked, OAuthFailure>> {
    let limiting = &state.rate_limiting;
    let Some(counter) = limiting.counting_here() else {
        return Err(asked);
    };
    // The client as the cache knows it, for a request that gets as far as needing one.
    let found = match &asked {
        Ok(a) => {
            if a.grant != GrantType::ClientCredentials {
                return Err(asked);
            }
            match cached_client(state, &a.presented) {
                None => return Err(asked),
                Some(Some(client)) if client.token_format != TokenFormat::Jwt => return Err(asked),
                Some(found) => found,
            }
        }
        Err(_) => None,
    };
    // From here on nothing waits.
    let per_ip = match limits::check_ip_here(state, counter, &limiting.limits.per_ip.token, ip) {
        Ok(d) => d.0,
        Err(refused) => return Ok(refused.into_response()),
    };
    let outcome = match asked {
        Ok(asked) => signed(state, counter, asked, found),
        Err(e) => Ok((Err(e.into_response()), None)),
    };
    Ok(match outcome {
        Ok((answer, client_limit)) => answered(state, answer, client_limit, per_ip),
        Err(refused) => refused.into_response(),
    })
}

/// [`grant`]'s steps for `client_credentials` and a client the cache found (`None`: no such
/// client), without waiting.
fn signed(
    state: &AppState,
    counter: &MemoryLimiter,
    asked: Asked,
    found: Option<Arc<Client>>,
) -> Result<(Result<TokenResponse, Response>, Option<LimitDecision>), RateLimited> {
    let now = state.clock.now();
    let client = match check_presented(found, &asked.presented, now) {
        Ok(client) => client,
        Err(e) => return Ok((Err(e.into_response()), None)),
    };
    let limit = limits::check_client_here(state, counter, &client)?;
    let answer = client_credentials_signed(state, &client, &asked.params, now)
        .map_err(|e| e.with_basic(asked.basic).into_response());
    Ok((answer, limit))
}

/// The token request answered step by step, waiting where it must (Redis, storage).
async fn waiting(state: &AppState, ip: &ClientIp, asked: Result<Asked, OAuthFailure>) -> Response {
    // Every attempt counts against the client IP, malformed or not, before anything else.
    let limiting = &state.rate_limiting;
    let per_ip = match limits::check_ip(state, &limiting.limits.per_ip.token, ip).await {
        Ok(d) => d.0,
        Err(refused) => return refused.into_response(),
    };
    match grant(state, ip, asked).await {
        Ok((answer, client_limit)) => answered(state, answer, client_limit, per_ip),
        // A refusal shows the decision that refused.
        Err(refused) => refused.into_response(),
    }
}

/// The token or error answer with the rate-limit headers of the decision shown: the client's
/// unless the per-IP one is more restrictive.
fn answered(
    state: &AppState,
    answer: Result<TokenResponse, Response>,
    client_limit: Option<LimitDecision>,
    per_ip: Decision,
) -> Response {
    let shown = limits::shown(client_limit.map(|d| d.0), per_ip);
    let style = state.rate_limiting.limits.header_style;
    match answer {
        Ok(token) => token_answer(state, &token, &shown, style),
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
    asked: Result<Asked, OAuthFailure>,
) -> Result<(Result<TokenResponse, Response>, Option<LimitDecision>), RateLimited> {
    let now = state.clock.now();
    let Asked {
        presented,
        basic,
        grant,
        params,
    } = match asked {
        Ok(asked) => asked,
        Err(e) => return Ok((Err(e.into_response()), None)),
    };
    let client = match authenticate_client(state, &presented, now).await {
        Ok(client) => client,
        Err(e) => return Ok((Err(e.into_response()), None)),
    };
    let limit = limits::check_client(state, &client).await?;
    // The grants that reach storage are boxed: inline, their futures would make every token
    // request's future (moved whole at each wrapper) as large as theirs.
    let answer = match grant {
        GrantType::ClientCredentials => {
            Box::pin(client_credentials(state, &client, &params, now)).await
        }
        GrantType::AuthorizationCode => Box::pin(exchange_code(state, &client, &params, now)).await,
        GrantType::RefreshToken => Box::pin(refresh_tokens(state, &client, &params, now)).await,
        GrantType::Password => {
            match Box::pin(password_grant(state, &client, &params, ip, now)).await {
                Ok(answer) => Ok(answer),
                Err(PasswordGrantError::OAuth(e)) => Err(e),
                Err(PasswordGrantError::Throttled(limited)) => return Err(limited),
                Err(PasswordGrantError::Delayed(delayed)) => {
                    return Ok((Err(delayed.into_response()), limit))
                }
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
