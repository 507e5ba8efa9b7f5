//! `GET`/`POST /oauth/userinfo` (OpenID Connect Core 1.0 §5.3) with a bearer access token in
//! the `Authorization` header (RFC 6750 §2.1). Refusals are 401/403 with `WWW-Authenticate`
//! (RFC 6750 §3).

use crate::oauth::http::dpop::{authorization, check, Presentation};
use crate::oauth::userinfo::{check_token, get_userinfo, UserinfoError};
use crate::platform::state::AppState;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::Method;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_guard::dpop::Scheme;
use serde_json::json;

/// Longest bearer token read.
const MAX_TOKEN_LEN: usize = 8192;

/// `GET` or `POST /oauth/userinfo`: the signed-in person's claims (OIDC Core §5.3).
pub async fn read_userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, UserinfoError> {
    let (scheme, token) = bearer_token(&headers).ok_or(UserinfoError::NoToken)?;
    let checked = check_token(&state, token, state.clock.now()).await?;
    // A DPoP-bound token only with a proof of its key for this request (RFC 9449 §7).
    let url = state.config.endpoint("/oauth/userinfo");
    let presentation = Presentation {
        token,
        scheme,
        jkt: checked.jkt(),
        method: &method,
        url: Some(&url),
    };
    check(&state, &presentation, &headers)
        .await
        .map_err(UserinfoError::Dpop)?;
    let body = get_userinfo(&state, &checked).await?;
    let mut res = Json(body).into_response();
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// The scheme and token of a single `Authorization: Bearer …` or `DPoP …` header.
fn bearer_token(headers: &HeaderMap) -> Option<(Scheme, &str)> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(v), None) = (values.next(), values.next()) else {
        return None;
    };
    authorization(v.to_str().ok()?, MAX_TOKEN_LEN)
}

impl IntoResponse for UserinfoError {
    fn into_response(self) -> Response {
        let (status, challenge, body) = match self {
            UserinfoError::NoToken => (
                StatusCode::UNAUTHORIZED,
                "Bearer realm=\"castellan\"".to_owned(),
                json!({"error": "invalid_token", "error_description": "send Authorization: Bearer <access token>"}),
            ),
            UserinfoError::InvalidToken(why) => (
                StatusCode::UNAUTHORIZED,
                format!("Bearer realm=\"castellan\", error=\"invalid_token\", error_description=\"{why}\""),
                json!({"error": "invalid_token", "error_description": why}),
            ),
            UserinfoError::InsufficientScope => (
                StatusCode::FORBIDDEN,
                "Bearer realm=\"castellan\", error=\"insufficient_scope\", scope=\"openid\"".to_owned(),
                json!({"error": "insufficient_scope", "error_description": "the token must carry the openid scope"}),
            ),
            UserinfoError::Dpop(f) => return f.to_response(None),
            UserinfoError::Store(e) => {
                return crate::error::OAuthFailure::from(e).into_response();
            }
        };
        let mut res = (status, Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            res.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}
