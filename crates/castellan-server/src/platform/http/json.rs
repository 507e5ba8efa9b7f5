//! A JSON request body for the management API: `Content-Type: application/json` (415
//! otherwise), bounded by `http.max_body_bytes` (413), parsed into `T` with unknown fields
//! refused (400 naming the field). A refused body is drained first (`extract::body`).

use crate::error::ApiError;
use crate::platform::state::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

/// A management-API JSON body parsed into `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            });
        if !is_json {
            // Drained so that the refusal reaches the client (crate::platform::http::body).
            crate::platform::http::body::drain(req.into_body()).await;
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = state.config.http.max_body_bytes;
        let body = crate::platform::http::body::read_limited(req.into_body(), limit)
            .await
            .map_err(|_| ApiError::TooLarge(limit))?;
        serde_json::from_slice(&body).map(JsonBody).map_err(|e| {
            ApiError::invalid_input(format!(
                "Request body does not contain valid JSON: {}",
                castellan_core::query::truncate_for_message(&e.to_string())
            ))
        })
    }
}
