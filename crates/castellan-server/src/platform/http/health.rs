//! `/healthz` (the process answers), `/readyz` (storage answers) and `/metrics` (Prometheus).

use crate::platform::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// `GET /healthz`: the process is up.
pub async fn get_health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: 200 when storage answers, 503 otherwise.
pub async fn get_readiness(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ready", "storage": state.store.backend().as_str()}))
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "storage": state.store.backend().as_str()})),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: the Prometheus metrics, empty when metrics are off.
pub async fn get_metrics(State(state): State<AppState>) -> Response {
    let body = state
        .metrics
        .as_ref()
        .map(metrics_exporter_prometheus::PrometheusHandle::render)
        .unwrap_or_default();
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}

/// Unknown paths: a JSON 404 (counted by the edge under the route `unmatched`).
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"statusCode": 404, "message": "No such endpoint.", "errors": [{"code": "ResourceNotFound", "message": "No such endpoint."}]})),
    )
        .into_response()
}

/// A handler panicked: answer 500 with nothing internal (the panic is logged by the layer's
/// caller through tracing).
pub fn panic_answer(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"error": "server_error", "error_description": "internal error"})),
    )
        .into_response()
}

/// Layer of `/metrics`: publishes the limiter's backend-failure count before the scrape.
pub async fn record_limit_metrics(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    metrics::counter!(crate::platform::limits::BACKEND_FAILURES_METRIC)
        .absolute(state.rate_limiting.limiter.backend_failures());
    next.run(req).await
}
