//! A running sign-in delay ([`LoginDelayed`]) as the token endpoint answers it. The login page
//! shows the same delay as a page of its own.

use crate::people::login_throttle::LoginDelayed;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The token endpoint's answer (password grant): 429 with `Retry-After` and the rate-limit
/// body shape, or 503 `temporarily_unavailable` when the shared limiter cannot be asked.
impl IntoResponse for LoginDelayed {
    fn into_response(self) -> Response {
        let mut res = if self.unavailable {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "error": "temporarily_unavailable",
                    "error_description": "Sign-in attempts cannot be counted right now; retry later.",
                })),
            )
                .into_response()
        } else {
            (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({
                    "error": "rate_limited",
                    "message": "Too many sign-in attempts for this account; wait before the next one",
                    "policy": "login",
                    "retry_after": self.retry_after_seconds,
                })),
            )
                .into_response()
        };
        let h = res.headers_mut();
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after_seconds),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        res
    }
}
