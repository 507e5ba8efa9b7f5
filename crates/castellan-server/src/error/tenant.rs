//! The tenant-token request's refusals (`POST /auth`) as answers, in that endpoint's own JSON
//! shape `{success: false, error, message}` with `Cache-Control: no-store`; a rate-limit
//! refusal answers as every other one does.

use crate::gateway::tenant::TenantError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

impl IntoResponse for TenantError {
    fn into_response(self) -> Response {
        let code = match self {
            TenantError::Limited(refused) => return refused.into_response(),
            TenantError::Missing(_) | TenantError::Invalid(_) => "invalid_request",
            TenantError::BadCredentials => "invalid_client",
            TenantError::UnauthorizedClient | TenantError::DpopRequired => "unauthorized_client",
            TenantError::NoKey | TenantError::Sign => {
                tracing::error!(error = %self, "tenant token not issued");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "server_error"})),
                )
                    .into_response();
            }
        };
        malformed(code, &self.to_string())
    }
}

/// A 400 in the tenant endpoint's shape: also the answer to a body that is not JSON.
pub fn malformed(code: &str, message: &str) -> Response {
    let mut res = (
        StatusCode::BAD_REQUEST,
        Json(json!({"success": false, "error": code, "message": message})),
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
