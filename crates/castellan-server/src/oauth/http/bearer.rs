//! The `Authorization: Bearer` header (RFC 6750 §2.1): read into a token and checked
//! ([`check_bearer`]) for the management and people's APIs, or handed as presented to dynamic
//! client registration.

use crate::error::ApiError;
use crate::oauth::bearer::{check_bearer, Bearer};
use crate::oauth::http::dpop::{authorization, Presentation};
use crate::oauth::registration::party::PresentedBearer;
use crate::platform::http::client_ip;
use crate::platform::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use castellan_core::OAuthError;

/// Longest bearer token read.
pub const MAX_TOKEN_LEN: usize = 8192;

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1); `None` without the header.
pub fn bearer_token(headers: &HeaderMap) -> PresentedBearer<'_> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(v), None) => v,
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_token(
                "more than one Authorization header",
            ))
        }
    };
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
        })
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)
        .map(Some)
        .ok_or_else(|| {
            OAuthError::invalid_token("the Authorization header must be `Bearer <token>`")
        })
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let value =
            match (values.next(), values.next()) {
                (Some(v), None) => v,
                (None, _) => return Err(ApiError::Unauthorized(
                    "Missing Authorization header: send `Authorization: Bearer <access token>`."
                        .into(),
                )),
                (Some(_), Some(_)) => {
                    return Err(ApiError::Unauthorized(
                        "More than one Authorization header.".into(),
                    ))
                }
            };
        let (scheme, token) = value
            .to_str()
            .ok()
            .and_then(|v| authorization(v, MAX_TOKEN_LEN))
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "The Authorization header must be `Bearer <access token>` (or `DPoP <access \
                     token>` with a DPoP proof)."
                        .into(),
                )
            })?;
        let mut bearer = check_bearer(state, token).await?;
        bearer.address = Some(client_ip::of_parts(state, parts).0);
        // A DPoP-bound token only with a proof of its key for this request (RFC 9449 §7).
        let url = state.config.endpoint(parts.uri.path());
        let presentation = Presentation {
            token,
            scheme,
            jkt: bearer.token.jkt(),
            method: &parts.method,
            url: Some(&url),
        };
        crate::oauth::http::dpop::check(state, &presentation, &parts.headers)
            .await
            .map_err(ApiError::Dpop)?;
        Ok(bearer)
    }
}
