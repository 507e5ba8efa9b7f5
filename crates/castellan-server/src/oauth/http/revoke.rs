//! `POST /oauth/revoke` (RFC 7009): a client revokes a token issued to it. Unknown, expired or
//! malformed tokens answer 200 (RFC 7009 §2.2); a token of another client is refused.
//! Revoking a refresh token ends its whole family: the newest refresh token and
//! every access token issued under the same grant stop being active ("revoke application
//! access", with `client_id`, `client_secret` and `token` in a form body).

use crate::error::OAuthFailure;
use crate::oauth::client_auth::authenticate;
use crate::oauth::http::client_auth::presented_client;
use crate::oauth::http::params::OAuthRequest;
use crate::oauth::tokens::looks_like_jwt;
use crate::platform::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use castellan_core::token::AccessClaims;
use castellan_core::OAuthError;
use castellan_crypto::jws;
use castellan_crypto::{hash_secret, refresh_token_key};
use chrono::DateTime;

/// `POST /oauth/revoke`: token revocation (RFC 7009).
pub async fn revoke_token(
    State(state): State<AppState>,
    req: OAuthRequest,
) -> Result<Response, OAuthFailure> {
    let now = state.clock.now();
    let OAuthRequest {
        headers,
        mut params,
    } = req;
    let presented = presented_client(&headers, &mut params)?;
    let basic = presented.basic();
    let client = authenticate(&state, &presented, now).await?.client;
    let token = params.get("token").ok_or_else(|| {
        OAuthFailure::from(OAuthError::invalid_request("token is required")).with_basic(basic)
    })?;
    let not_yours = || {
        OAuthFailure::from(OAuthError::unauthorized_client(
            "the token was not issued to this client",
        ))
        .with_basic(basic)
    };
    if looks_like_jwt(token) {
        let keys = state.keys.keys();
        if let Ok(v) = jws::verify(token, Some("at+jwt"), |kid| keys.verifier(kid)) {
            if let Ok(claims) =
                serde_json::from_value::<AccessClaims>(serde_json::Value::Object(v.claims))
            {
                if claims.client_id != client.id {
                    return Err(not_yours());
                }
                if claims.exp > now.timestamp() {
                    let exp = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
                    state.store.revoke_jwt(&claims.jti, &client.id, exp).await?;
                    state.token_checks.revoked_here();
                }
            }
        }
    } else if token.len() <= 512 {
        let hash = hash_secret(token).0;
        let key = refresh_token_key(token);
        if let Some(stored) = state.store.get_opaque_token(&hash).await? {
            if stored.client_id != client.id {
                return Err(not_yours());
            }
            state.store.revoke_opaque_token(&hash, &client.id).await?;
        } else if let Some(refresh) = state.store.find_refresh_token(&key).await? {
            if refresh.client_id != client.id {
                return Err(not_yours());
            }
            state
                .store
                .revoke_refresh_family(&refresh.family_id, now)
                .await?;
            state.token_checks.revoked_here();
        }
    }
    let mut res = StatusCode::OK.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
