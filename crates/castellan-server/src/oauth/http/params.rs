//! An OAuth request as the endpoints read it: its declared body kind checked before any byte
//! of the body is read, the body read within `http.max_body_bytes`, then parsed into
//! [`OAuthParams`] with the headers kept for client authentication.

use crate::error::OAuthFailure;
use crate::oauth::params::OAuthParams;
use crate::platform::state::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use castellan_core::OAuthError;

/// The kind of body a request declared.
fn body_kind(req: &Request) -> Option<BodyKind> {
    let ct = req.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Some(BodyKind::Form),
        "application/json" => Some(BodyKind::Json),
        _ => None,
    }
}

/// The body kinds an OAuth endpoint takes.
pub enum BodyKind {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json`.
    Json,
}

/// Reads a request body up to `limit` bytes; a longer one is drained (within bounds) before
/// the refusal, so that the answer reaches the client ([`crate::platform::http::body`]).
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, OAuthError> {
    crate::platform::http::body::read_limited(body, limit)
        .await
        .map_err(|_| {
            OAuthError::invalid_request(format!(
                "the request body is larger than {limit} bytes or was cut short"
            ))
        })
}

/// A request's OAuth parameters together with its headers (for client authentication).
pub struct OAuthRequest {
    /// The request's headers.
    pub headers: http::HeaderMap,
    /// Its OAuth parameters.
    pub params: OAuthParams,
}

impl FromRequest<AppState> for OAuthRequest {
    type Rejection = OAuthFailure;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (kind, headers, body) = match OAuthRequest::split(req) {
            Ok(parts) => parts,
            Err((e, body)) => {
                crate::platform::http::body::drain(body).await;
                return Err(e);
            }
        };
        let body = read_body(body, state.config.http.max_body_bytes).await;
        OAuthRequest::parse(kind, headers, body)
    }
}

impl OAuthRequest {
    /// The declared body kind, the headers and the body, taken apart before the body is read:
    /// only these are held while it arrives (the rest of the request, held across the wait,
    /// would make the reading future larger). An undeclared or unknown kind is refused before
    /// any of the body is read; the body comes back with the refusal, to be drained
    /// ([`crate::platform::http::body::drain`]) before answering.
    pub fn split(
        req: Request,
    ) -> Result<(BodyKind, http::HeaderMap, axum::body::Body), (OAuthFailure, axum::body::Body)>
    {
        let kind = body_kind(&req);
        let (parts, body) = req.into_parts();
        match kind {
            Some(kind) => Ok((kind, parts.headers, body)),
            None => Err((
                OAuthError::invalid_request(
                    "Content-Type must be application/x-www-form-urlencoded or application/json",
                )
                .into(),
                body,
            )),
        }
    }

    /// The request from its parts once the body is read ([`read_body`]).
    pub fn parse(
        kind: BodyKind,
        headers: http::HeaderMap,
        body: Result<bytes::Bytes, OAuthError>,
    ) -> Result<Self, OAuthFailure> {
        let body = body?;
        let params = match kind {
            BodyKind::Form => OAuthParams::parse_form(&body)?,
            BodyKind::Json => OAuthParams::parse_json(&body)?,
        };
        Ok(OAuthRequest { headers, params })
    }
}
