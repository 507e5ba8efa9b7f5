//! `POST /oauth/par` (RFC 9126 §2): a client pushes an authorization request and gets a
//! `request_uri` for it. Client authentication is the token endpoint's, and so are the rate
//! limits: every attempt counts against the caller's address under `rate_limit.per_ip.token`,
//! then the authenticated client under its tier. Errors are JSON (RFC 9126 §2.3).

use crate::error::OAuthFailure;
use crate::oauth::http::client_endpoint::{client_endpoint, Authenticated};
use crate::oauth::http::params::OAuthRequest;
use crate::oauth::par::push;
use crate::platform::http::client_ip::ClientIp;
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
    client_endpoint(&state, ip.0, req, async |a: Authenticated| {
        answer(&state, a).await
    })
    .await
}

async fn answer(state: &AppState, a: Authenticated) -> Response {
    let Authenticated {
        auth,
        headers,
        params,
        now,
    } = a;
    let proved = match crate::oauth::http::dpop::presented(&headers) {
        Err(e) => return e.with_basic(auth.basic()).into_response(),
        Ok(None) => None,
        Ok(Some(proof)) => {
            let url = state.config.endpoint("/oauth/par");
            match crate::oauth::dpop::check(state, &proof, &url, now).await {
                Ok(jkt) => Some(jkt),
                Err(e) => return e.with_basic(auth.basic()).into_response(),
            }
        }
    };
    match push(state, &auth.client, &params, proved.as_deref()).await {
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
    }
}
