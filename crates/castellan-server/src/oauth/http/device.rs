//! `POST /oauth/device_authorization` (RFC 8628 §3.1–§3.2): a device asks for a device code
//! and a user code. Client authentication is the token endpoint's (a public client names its
//! `client_id`), and so are the rate limits: every attempt counts against the caller's
//! address under `rate_limit.per_ip.token`, then the client under its tier.

use crate::error::OAuthFailure;
use crate::oauth::device::start;
use crate::oauth::http::client_endpoint::{client_endpoint, Authenticated};
use crate::oauth::http::params::OAuthRequest;
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_core::{OAuthError, ScopeSet};
use serde_json::json;

/// The page a person opens to type the user code.
pub const VERIFICATION_PATH: &str = "/device";

/// `POST /oauth/device_authorization`.
pub async fn create_device_authorization(
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
        mut params,
        now,
        ..
    } = a;
    let scope = match params.get("scope").map(ScopeSet::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            let e = OAuthFailure::from(OAuthError::invalid_scope(format!(
                "the scope parameter is malformed: {e}"
            )));
            return e.with_basic(auth.basic()).into_response();
        }
    };
    let resources = params.take_all("resource");
    match start(state, &auth.client, scope.as_ref(), &resources, now).await {
        Ok(started) => {
            let uri = state.config.endpoint(VERIFICATION_PATH);
            let complete = format!(
                "{uri}?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("user_code", &started.user_code)
                    .finish()
            );
            crate::platform::http::no_store(
                Json(json!({
                    "device_code": started.device_code.expose(),
                    "user_code": started.user_code,
                    "verification_uri": uri,
                    "verification_uri_complete": complete,
                    "expires_in": started.expires_in,
                    "interval": started.interval,
                }))
                .into_response(),
            )
        }
        Err(e) => e.with_basic(auth.basic()).into_response(),
    }
}
