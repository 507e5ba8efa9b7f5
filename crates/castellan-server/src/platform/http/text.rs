//! Ids and filters from the path and query of management requests, refused with 400 when
//! they hold a control character (NUL, escape sequences …) before anything reaches storage
//! (`castellan_core::text`; PostgreSQL refuses NUL in text, which answered 503).

use crate::error::ApiError;
use crate::platform::state::AppState;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use castellan_core::text::check;
use serde::de::DeserializeOwned;

fn refused(what: &str) -> ApiError {
    ApiError::invalid_input(format!("The {what} must not contain control characters."))
}

fn bad_path() -> ApiError {
    ApiError::invalid_input("The path is not valid.")
}

/// One id from the path (`/api-keys/{id}`), without control characters.
pub struct IdPath(pub String);

impl FromRequestParts<AppState> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| bad_path())?;
        check(&id).map_err(|_| refused("id"))?;
        Ok(IdPath(id))
    }
}

/// Two ids from the path (`/organizations/{org}/members/{user}`), without control characters.
pub struct IdPairPath(pub String, pub String);

impl FromRequestParts<AppState> for IdPairPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| bad_path())?;
        check(&a).map_err(|_| refused("id"))?;
        check(&b).map_err(|_| refused("id"))?;
        Ok(IdPairPath(a, b))
    }
}

/// The query string parsed into `T`, every name and value (decoded) without control characters.
pub struct CleanQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for CleanQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            check(&name).map_err(|_| refused("query parameter"))?;
            check(&value).map_err(|_| refused(&format!("query parameter `{name}`")))?;
        }
        let Query(t) = Query::<T>::try_from_uri(&parts.uri).map_err(|e| {
            ApiError::invalid_input(format!(
                "The query string is not valid: {}",
                castellan_core::query::truncate_for_message(&e.body_text())
            ))
        })?;
        Ok(CleanQuery(t))
    }
}
