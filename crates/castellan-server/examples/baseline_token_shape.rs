//! The token benchmark's second reference (bench/token.sh): the baseline of
//! `baseline_token.rs` (Basic header, constant-time SHA-256 comparison, one ES256 signature),
//! giving the answer Castellan's `/oauth/token` gives: a token whose claims have Castellan's
//! sizes (24-character client and subject ids, a 22-character `jti`), `scope` and
//! `created_at` in the body, and the headers (Cache-Control and Pragma of RFC 6749 §5.1, the
//! seven rate-limit headers, the three security headers) as fixed values. It
//! checks nothing else: the gap between it and the baseline is what the answer's shape costs,
//! and Castellan cannot be faster than it.
//!
//! Usage: `baseline_token_shape [address]` (default `127.0.0.1:8203`); `POST /token` with
//! `Authorization: Basic` for `baseline:baseline-secret`.
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a load run stops on a broken set-up and prints its report"
)]

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use castellan_crypto::keys::{Algorithm, SigningKey};
use castellan_crypto::{hash_secret, jws};
use serde_json::json;
use std::sync::Arc;

/// The baseline's state and Basic check, shared with `examples/baseline_token.rs`.
#[path = "baseline_token.rs"]
#[expect(
    dead_code,
    reason = "this example uses the state and the check, not the whole example"
)]
mod baseline_token;
use baseline_token::{basic_ok, Baseline};

/// Castellan's token answer headers besides `content-type`, `content-length` and `date`.
const HEADERS: [(&str, &str); 12] = [
    ("cache-control", "no-store"),
    ("pragma", "no-cache"),
    ("ratelimit-policy", "1000000000;w=60"),
    ("ratelimit-limit", "1000000000"),
    ("ratelimit-remaining", "999999996"),
    ("ratelimit-reset", "23"),
    ("x-ratelimit-limit", "1000000000"),
    ("x-ratelimit-remaining", "999999996"),
    ("x-ratelimit-reset", "1796015940"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8203".into());
    let (key, _) = SigningKey::generate(Algorithm::Es256, "eSG8ZtWjOyuJQZF4".into()).unwrap();
    let state = Arc::new(Baseline {
        key,
        hash: hash_secret("baseline-secret"),
    });
    let app = Router::new().route("/token", post(token)).with_state(state);
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!("token answer-shape reference listening on {addr}");
    axum::serve(listener, app).await.unwrap();
}

async fn token(
    axum::extract::State(s): axum::extract::State<Arc<Baseline>>,
    headers: HeaderMap,
    _body: axum::body::Bytes,
) -> Response {
    if !basic_ok(&headers, &s.hash) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let now = 1_796_015_917i64;
    let claims = json!({"iss": "http://localhost:8000", "sub": "HAyNyyhXoxPgehef0wz8lliZ",
        "aud": "http://localhost:8000", "exp": now + 3600, "iat": now,
        "jti": "v4j8nq9yDDGbtdpmvxwGo8", "client_id": "HAyNyyhXoxPgehef0wz8lliZ",
        "scope": "products:read", "env": "local"});
    let token = jws::sign(&s.key, "at+jwt", &claims).unwrap();
    let mut res = axum::Json(json!({"access_token": token, "token_type": "Bearer",
        "expires_in": 3600, "scope": "products:read", "created_at": now}))
    .into_response();
    let h = res.headers_mut();
    for (name, value) in HEADERS {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    res
}
