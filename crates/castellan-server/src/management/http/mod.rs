//! The management API over HTTP (`/api-clients`, `/api-keys`, `/openapi.json`).

pub mod api_keys;
pub mod client_secret;
pub mod clients;
pub mod openapi;

use crate::platform::state::AppState;
use axum::routing::get;
use axum::Router;

/// The management API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(clients::router())
        .merge(client_secret::router())
        .merge(api_keys::router())
        .route("/openapi.json", get(openapi::get_openapi))
}
