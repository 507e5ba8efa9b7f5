//! The gateway check over HTTP: `/forward-auth` as proxies call it, and `POST /auth`.

pub mod forward_auth;
pub mod forwarded;

use crate::platform::state::AppState;
use axum::Router;

/// The gateway's routes.
pub fn router() -> Router<AppState> {
    forward_auth::router()
}
