//! The frame of the endpoints a client calls with its credentials besides the token endpoint
//! (`POST /oauth/par`, `POST /oauth/device_authorization`): counted as the token endpoint is
//! (every attempt against the caller's address under `rate_limit.per_ip.token`, first; then
//! the authenticated client under its tier), the client authenticated as there, and every
//! answer carrying the rate-limit decision it shows. The endpoint's own work is a function of
//! the authenticated request.

use crate::error::OAuthFailure;
use crate::oauth::client_auth::{authenticate, ClientAuth};
use crate::oauth::http::client_auth::presented_client;
use crate::oauth::http::params::OAuthRequest;
use crate::oauth::params::OAuthParams;
use crate::platform::limits;
use crate::platform::state::AppState;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::net::IpAddr;

/// A request whose client authenticated: the client, the request's headers and its
/// parameters (the credentials taken out), and the time.
pub struct Authenticated {
    /// The client and how it authenticated.
    pub auth: ClientAuth,
    /// The request's headers.
    pub headers: HeaderMap,
    /// The parameters, without the client's credentials.
    pub params: OAuthParams,
    /// Now.
    pub now: DateTime<Utc>,
}

/// Answers `req` from `ip` with `work` once the client authenticated, inside the frame.
pub async fn client_endpoint(
    state: &AppState,
    ip: IpAddr,
    req: Result<OAuthRequest, OAuthFailure>,
    work: impl AsyncFnOnce(Authenticated) -> Response,
) -> Response {
    let limiting = &state.rate_limiting;
    let per_ip = match limits::check_ip(limiting, &limiting.limits.per_ip.token, ip).await {
        Ok(d) => d.0,
        Err(refused) => return refused.into_response(),
    };
    let (mut res, client_limit) = match req {
        Ok(req) => authenticated(state, req, work).await,
        Err(e) => (e.into_response(), None),
    };
    let shown = limits::shown(client_limit, per_ip);
    crate::error::rate_limit::render(&mut res, &shown, limiting.limits.header_style);
    res
}

async fn authenticated(
    state: &AppState,
    req: OAuthRequest,
    work: impl AsyncFnOnce(Authenticated) -> Response,
) -> (Response, Option<castellan_limit::Decision>) {
    let OAuthRequest {
        headers,
        mut params,
    } = req;
    let presented = match presented_client(&headers, &mut params) {
        Ok(p) => p,
        Err(e) => return (e.into_response(), None),
    };
    let now = state.clock.now();
    let auth = match authenticate(state, &presented, now).await {
        Ok(auth) => auth,
        Err(e) => return (e.into_response(), None),
    };
    let client_limit = match limits::check_client(&state.rate_limiting, &auth.client).await {
        Ok(d) => d.map(|d| d.0),
        Err(refused) => return (refused.into_response(), None),
    };
    let res = work(Authenticated {
        auth,
        headers,
        params,
        now,
    })
    .await;
    (res, client_limit)
}
