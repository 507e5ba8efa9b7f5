//! The gateway benchmark's baseline (bench/gateway.sh): a bare axum `GET` that answers 200
//! with a small body — no credential, no route table, no storage, cache, limiter or
//! middleware. It runs on the same tokio runtime as `castellan serve` (`#[tokio::main]`,
//! multi-thread, one worker per CPU it may run on: one under `taskset -c 0`), so the
//! forward-auth check is compared against the least an HTTP answer costs on this stack.
//!
//! Usage: `baseline_get [address]` (default `127.0.0.1:8402`); answers any path.
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a load run stops on a broken set-up and prints its report"
)]

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8402".into());
    let app = Router::new().route("/", get(ok)).route("/{*rest}", get(ok));
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!("baseline listening on {addr}");
    axum::serve(listener, app).await.unwrap();
}

async fn ok() -> Response {
    let mut res = "ok\n".into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
