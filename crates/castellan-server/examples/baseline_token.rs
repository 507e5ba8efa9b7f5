//! The load-benchmark baseline (bench/token.sh): a bare axum endpoint doing the least any
//! token endpoint must do — read a Basic header, compare a SHA-256 hash in constant time and
//! sign an ES256 JWT with the same crypto backend — with no parsing rules, storage, cache or
//! metrics. Castellan's `/oauth/token` is measured against it in the same run (over HTTP by
//! `bench/token.sh`, in process by `benches/token_path.rs`, which includes this file).
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a load run stops on a broken set-up and prints its report"
)]

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_crypto::keys::{Algorithm, SigningKey};
use castellan_crypto::{hash_secret, jws, verify_secret};
use serde_json::json;
use std::sync::Arc;

pub struct Baseline {
    pub key: SigningKey,
    pub hash: castellan_core::client::SecretHash,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8100".into());
    let (key, _) = SigningKey::generate(Algorithm::Es256, "baseline".into()).unwrap();
    let state = Arc::new(Baseline {
        key,
        hash: hash_secret("baseline-secret"),
    });
    let app = Router::new().route("/token", post(token)).with_state(state);
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!("baseline listening on {addr}");
    axum::serve(listener, app).await.unwrap();
}

pub async fn token(
    axum::extract::State(s): axum::extract::State<Arc<Baseline>>,
    headers: HeaderMap,
    _body: axum::body::Bytes,
) -> Response {
    if !basic_ok(&headers, &s.hash) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let now = 1_700_000_000i64;
    let claims = json!({"iss": "http://localhost:8000", "sub": "baseline", "aud": "http://localhost:8000",
        "exp": now + 3600, "iat": now, "jti": "abcdefghijklmnopqrstuv", "client_id": "baseline",
        "scope": "products:read", "env": "local"});
    let token = jws::sign(&s.key, "at+jwt", &claims).unwrap();
    axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
        .into_response()
}

/// Whether the `Authorization: Basic` secret matches `hash` (compared in constant time).
pub fn basic_ok(headers: &HeaderMap, hash: &castellan_core::client::SecretHash) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|t| t.split_once(':').map(|(_, sec)| verify_secret(sec, hash)))
        .unwrap_or(false)
}
