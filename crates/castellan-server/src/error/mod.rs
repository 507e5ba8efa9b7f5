//! How errors become HTTP answers: every refusal of a service is a typed error, and each family
//! has one `IntoResponse`, here and nowhere else:
//! - [`OAuthFailure`]: the OAuth endpoints (token, revocation, introspection, registration)
//!   answer RFC 6749 §5.2 JSON `{error, error_description}` with `Cache-Control: no-store`;
//! - [`ApiError`]: the management API answers commercetools-shaped errors
//!   `{statusCode, message, errors: [{code, message}]}`;
//! - [`gateway`]: the gateway check's refusals; [`tenant`]: the tenant-token request's;
//! - `sign_in`: a running sign-in delay at the token endpoint.
//! - [`rate_limit`]: rate-limit refusals (429, or 503 when the limiter cannot be asked) and
//!   the rate-limit headers every answer of a limited endpoint carries.
//!
//! Storage failures become 503 (`temporarily_unavailable`) and are logged once here, with no
//! secret in the message. No arm is a catch-all: a new error kind must choose its status.

pub mod gateway;
pub mod rate_limit;
mod sign_in;
pub mod tenant;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_core::{OAuthError, OAuthErrorCode};
use castellan_store::StoreError;
use serde_json::json;

/// The header a DPoP server nonce is given in (RFC 9449 §8).
pub const DPOP_NONCE: header::HeaderName = header::HeaderName::from_static("dpop-nonce");

/// An OAuth error answer, with how it was caused.
#[derive(Debug, Clone)]
pub struct OAuthFailure {
    /// The OAuth error code and description answered.
    pub error: OAuthError,
    /// Set when the client authenticated with HTTP Basic (RFC 6749 §5.2: answer 401 with a
    /// `WWW-Authenticate` naming the scheme the client used).
    pub basic_auth: bool,
    /// A DPoP nonce the client must use next, answered in `DPoP-Nonce` (RFC 9449 §8); boxed,
    /// as this error is carried by every token request's future.
    pub dpop_nonce: Option<Box<DpopNonce>>,
}

impl OAuthFailure {
    /// Records whether the client authenticated with HTTP Basic (see `basic_auth`).
    pub fn with_basic(mut self, basic: bool) -> Self {
        self.basic_auth = basic;
        self
    }

    /// Answers `nonce` in `DPoP-Nonce` for the client's next proof.
    pub fn with_dpop_nonce(mut self, nonce: String) -> Self {
        self.dpop_nonce = Some(Box::new(DpopNonce(nonce)));
        self
    }
}

/// A DPoP server nonce (RFC 9449 §8), to answer in `DPoP-Nonce`.
#[derive(Debug, Clone)]
pub struct DpopNonce(pub String);

impl From<OAuthError> for OAuthFailure {
    fn from(error: OAuthError) -> Self {
        OAuthFailure {
            error,
            basic_auth: false,
            dpop_nonce: None,
        }
    }
}

impl From<StoreError> for OAuthFailure {
    fn from(e: StoreError) -> Self {
        log_store_error(&e);
        OAuthError::temporarily_unavailable("storage is unavailable; retry shortly").into()
    }
}

/// The HTTP status of an OAuth error code.
pub fn oauth_status(code: OAuthErrorCode) -> StatusCode {
    match code {
        OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        OAuthErrorCode::InsufficientScope | OAuthErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        OAuthErrorCode::InvalidRequest
        | OAuthErrorCode::InvalidGrant
        | OAuthErrorCode::UnauthorizedClient
        | OAuthErrorCode::UnsupportedGrantType
        | OAuthErrorCode::InvalidScope
        | OAuthErrorCode::UnsupportedResponseType
        | OAuthErrorCode::InvalidRedirectUri
        | OAuthErrorCode::InvalidClientMetadata
        | OAuthErrorCode::UnsupportedTokenType
        | OAuthErrorCode::InvalidDpopProof
        | OAuthErrorCode::UseDpopNonce
        | OAuthErrorCode::InvalidTarget
        | OAuthErrorCode::RequestNotSupported
        | OAuthErrorCode::SlowDown
        | OAuthErrorCode::AuthorizationPending
        | OAuthErrorCode::ExpiredToken
        | OAuthErrorCode::DeviceAccessDenied => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for OAuthFailure {
    fn into_response(self) -> Response {
        let status = oauth_status(self.error.code);
        let body = json!({
            "error": self.error.code.as_str(),
            "error_description": self.error.description(),
        });
        let mut res = (status, Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(nonce) = self.dpop_nonce.as_deref() {
            if let Ok(v) = HeaderValue::from_str(&nonce.0) {
                h.insert(DPOP_NONCE, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if self.error.code == OAuthErrorCode::InvalidClient {
                if self.basic_auth {
                    "Basic realm=\"castellan\", error=\"invalid_client\"".to_owned()
                } else {
                    "Basic realm=\"castellan\"".to_owned()
                }
            } else {
                format!("Bearer error=\"{}\"", self.error.code.as_str())
            };
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        res
    }
}

/// A management-API error (commercetools error shape).
#[derive(Debug)]
pub enum ApiError {
    /// 400 with a machine code (`InvalidInput`, `InvalidField`, `InvalidOperation` …).
    BadRequest {
        /// The machine code of the error.
        code: &'static str,
        /// What was wrong, for a person to read.
        message: String,
    },
    /// 401: no usable bearer token.
    Unauthorized(String),
    /// 403: the token lacks the scope named.
    Forbidden {
        /// The scope the token would need.
        needed: String,
    },
    /// 403 `access_denied`: the token has the scope, but its person may not act on this
    /// organization or key.
    NotAllowed(String),
    /// 404: no such resource (the message names it).
    NotFound(String),
    /// 409 `ConcurrentModification`: another change won a race; read again and retry.
    Conflict(String),
    /// 413: body larger than the configured limit.
    TooLarge(usize),
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 503: storage could not answer.
    Unavailable,
    /// A token refused for how it was presented (DPoP, RFC 9449 §7): 401 with a `DPoP`
    /// challenge, or 503 when the replay check cannot answer, as a protected resource answers.
    Dpop(castellan_guard::Failure),
}

impl ApiError {
    /// A 400 `InvalidInput` with this message.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: "InvalidInput",
            message: message.into(),
        }
    }
    /// A 400 `InvalidField` with this message.
    pub fn invalid_field(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: "InvalidField",
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        log_store_error(&e);
        ApiError::Unavailable
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::Dpop(f) => return f.to_response(None),
            ApiError::BadRequest { code, message } => (StatusCode::BAD_REQUEST, code, message),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "invalid_token", m),
            ApiError::Forbidden { needed } => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("Insufficient scope. One of the following scopes is missing: {needed}"),
            ),
            ApiError::NotAllowed(m) => (StatusCode::FORBIDDEN, "access_denied", m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "ResourceNotFound", m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "ConcurrentModification", m),
            ApiError::TooLarge(max) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "InvalidInput",
                format!("The request body is larger than {max} bytes."),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "InvalidInput",
                "The request body must be JSON (Content-Type: application/json).".to_owned(),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "Storage is unavailable; retry shortly.".to_owned(),
            ),
        };
        let body = json!({
            "statusCode": status.as_u16(),
            "message": message,
            "errors": [{"code": code, "message": message}],
        });
        let mut res = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        } else if code == "insufficient_scope" {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
            );
        }
        res
    }
}

fn log_store_error(e: &StoreError) {
    tracing::error!(error = %e, "storage error");
    metrics::counter!("castellan_storage_errors_total").increment(1);
}
