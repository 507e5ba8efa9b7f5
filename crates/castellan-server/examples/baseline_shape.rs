//! The gateway benchmark's second reference (bench/gateway.sh): the bare axum `GET` of
//! `baseline_get.rs`, answering with the headers a forward-auth 200 for an API key on a
//! two-window tier carries (Cache-Control, identity, rate limits), as fixed
//! values. It checks nothing. Sent the same request headers as forward-auth, it shows what the
//! answer's shape alone costs on this stack: the most forward-auth could reach with no work of
//! its own.
//!
//! Usage: `baseline_shape [address]` (default `127.0.0.1:8403`); answers any path.
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a load run stops on a broken set-up and prints its report"
)]

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// A forward-auth 200's headers besides `content-length` and `date`, as Castellan sends them.
const HEADERS: [(&str, &str); 12] = [
    ("cache-control", "no-store"),
    ("x-castellan-subject", "key_1RmvdC2896VT6lqGiZs8"),
    ("x-castellan-client-id", "key_1RmvdC2896VT6lqGiZs8"),
    ("x-castellan-scopes", "catalog:read"),
    ("x-castellan-credential", "api_key"),
    ("ratelimit-policy", "1000000000;w=60, 1000000000;w=86400"),
    ("ratelimit-limit", "1000000000"),
    ("ratelimit-remaining", "999999999"),
    ("ratelimit-reset", "68410"),
    ("x-ratelimit-limit", "1000000000"),
    ("x-ratelimit-remaining", "999999999"),
    ("x-ratelimit-reset", "1796083200"),
];

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8403".into());
    let app = Router::new().route("/", get(ok)).route("/{*rest}", get(ok));
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!("answer-shape baseline listening on {addr}");
    axum::serve(listener, app).await.unwrap();
}

async fn ok() -> Response {
    let mut res = StatusCode::OK.into_response();
    let h = res.headers_mut();
    for (name, value) in HEADERS {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    res
}
