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
use axum::http::{header, HeaderValue};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

/// `res` with `Cache-Control: no-store`: an answer that shows a secret once.
pub fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Tells the edge which route template answers the request
/// ([`crate::platform::metrics::RouteSlot`]): the edge counts the answer once it is written,
/// a handler's panic or the deadline included.
pub async fn name_route(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if let (Some(slot), Some(matched)) = (
        req.extensions()
            .get::<crate::platform::metrics::RouteSlot>(),
        req.extensions().get::<axum::extract::MatchedPath>(),
    ) {
        slot.set(matched.as_str());
    }
    next.run(req).await
}

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
