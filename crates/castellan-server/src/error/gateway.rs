//! The gateway check's refusals ([`Denied`]) as answers. The guard's own failures carry their
//! RFC 6750 challenge, pointing at the protected-resource metadata (RFC 9728 §5.1); the others
//! are JSON `{error, reason, message}`, or 429/503 for rate limits. Every refusal carries
//! `Cache-Control: no-store`.

use crate::gateway::forward_auth::Denied;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A refused gateway check, with the address of the protected-resource metadata its
/// `WWW-Authenticate` challenge names.
#[derive(Debug)]
pub struct GatewayRefusal {
    /// Why the check was refused.
    pub denied: Denied,
    /// The address of the protected-resource metadata (RFC 9728) the challenge names.
    pub resource_metadata: String,
}

impl IntoResponse for GatewayRefusal {
    fn into_response(self) -> Response {
        // A refusal is about one request: no cache in front of the API keeps it.
        crate::platform::http::no_store(self.answer())
    }
}

impl GatewayRefusal {
    fn answer(self) -> Response {
        match self.denied {
            Denied::Failure(f) => f.to_response(Some(&self.resource_metadata)),
            Denied::NoRoute => (
                StatusCode::FORBIDDEN,
                Json(json!({
                    "error": "access_denied",
                    "reason": "no_route",
                    "message": "No gateway route policy matches this method and path; requests \
                                are denied by default. Add a [[gateway.routes]] entry.",
                })),
            )
                .into_response(),
            Denied::NoOriginalRequest => (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "error": "invalid_request",
                    "reason": "no_original_request",
                    "message": "Send the original request as X-Forwarded-Method + X-Forwarded-Uri \
                                (Traefik) or X-Original-Method + X-Original-URI (nginx), not both \
                                with different values, or call under the configured Envoy path \
                                prefix.",
                })),
            )
                .into_response(),
            Denied::Limited(l) => l.into_response(),
            Denied::Store(e) => {
                tracing::error!(error = %e, "forward-auth storage failure");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": "temporarily_unavailable",
                        "message": "The credential cannot be checked right now; retry shortly."})),
                )
                    .into_response()
            }
        }
    }
}
