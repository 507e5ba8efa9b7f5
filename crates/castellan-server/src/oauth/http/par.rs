//! `POST /oauth/par` (RFC 9126 §2): a client pushes an authorization request and gets a
//! `request_uri` for it. Client authentication is the token endpoint's, and so are the rate
//! limits: every attempt counts against the caller's address under `rate_limit.per_ip.token`,
//! then the authenticated client under its tier. Errors are JSON (RFC 9126 §2.3).

use crate::error::OAuthFailure;
use crate::oauth::client_auth::authenticate;
use crate::oauth::http::client_auth::presented_client;
use crate::oauth::http::params::OAuthRequest;
use crate::oauth::par::push;
use crate::platform::http::client_ip::ClientIp;
use crate::platform::limits;
use crate::platform::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// `POST /oauth/par`: the pushed authorization request endpoint (RFC 9126).
pub async fn push_authorization_request(
    State(state): State<AppState>,
    ip: ClientIp,
    req: Result<OAuthRequest, OAuthFailure>,
) -> Response {
    let limiting = &state.rate_limiting;
    let per_ip = match limits::check_ip(limiting, &limiting.limits.per_ip.token, ip.0).await {
        Ok(d) => d.0,
        Err(refused) => return refused.into_response(),
    };
    let (mut res, client_limit) = match req {
        Ok(req) => answer(&state, req).await,
        Err(e) => (e.into_response(), None),
    };
    let shown = limits::shown(client_limit, per_ip);
    crate::error::rate_limit::render(&mut res, &shown, limiting.limits.header_style);
    res
}

async fn answer(
    state: &AppState,
    req: OAuthRequest,
) -> (Response, Option<castellan_limit::Decision>) {
    let OAuthRequest {
        headers,
        mut params,
    } = req;
    let presented = match presented_client(&headers, &mut params) {
        Ok(p) => p,
        Err(e) => return (e.into_response(), None),
    };
    let proof = match crate::oauth::http::dpop::presented(&headers) {
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
    let proved = match proof {
        None => None,
        Some(proof) => {
            let url = state.config.endpoint("/oauth/par");
            match crate::oauth::dpop::check(state, &proof, &url, now).await {
                Ok(jkt) => Some(jkt),
                Err(e) => return (e.with_basic(auth.basic()).into_response(), client_limit),
            }
        }
    };
    let res = match push(state, &auth.client, &params, proved.as_deref()).await {
        Ok(pushed) => {
            let mut res = (
                StatusCode::CREATED,
                Json(json!({
                    "request_uri": pushed.request_uri,
                    "expires_in": pushed.expires_in,
                })),
            )
                .into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => e.with_basic(auth.basic()).into_response(),
    };
    (res, client_limit)
}
