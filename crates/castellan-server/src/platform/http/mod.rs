//! HTTP plumbing shared by every capability's handlers: bounded bodies, JSON and text
//! extractors, and the health, readiness and metrics endpoints.

pub mod body;
pub mod client_ip;
pub mod health;
pub mod json;
pub mod proxies;
pub mod text;
pub mod well_known;

use crate::platform::state::AppState;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::Router;

/// The health probes and the Prometheus scrape.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::get_health))
        .route("/readyz", get(health::get_readiness))
        .route(
            "/metrics",
            get(health::get_metrics).layer(from_fn_with_state(state, health::record_limit_metrics)),
        )
}
