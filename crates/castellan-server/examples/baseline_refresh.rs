//! The refresh-grant baseline (bench/people.sh): a bare axum endpoint doing exactly the storage
//! and signing work of Castellan's refresh grant, and nothing else. It reads the Basic header
//! and compares the client's SHA-256 secret hash in constant time, hashes the presented refresh
//! token, makes the same store calls as the grant (the same SQL: `find_refresh_token`,
//! `get_user`, `role_in` when the grant names an organization, and `use_refresh_token`, the one
//! write transaction), and signs an ES256 access token and, unless `--no-id-token`, an RS256 ID
//! token, as Castellan's defaults do. No parameter rules, limiter, caches, metrics, audit or
//! pipeline: Castellan's refresh grant is measured against it in the same run, on the same
//! database (it rotates the refresh tokens Castellan issued).
//!
//! Usage: `baseline_refresh <host:port> <database-url> <client-id> <client-secret>
//! [--no-id-token]`.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a load run stops on a broken set-up and prints its report"
)]

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use castellan_crypto::keys::{Algorithm, SigningKey};
use castellan_crypto::{generate_secret, hash_secret, jws};
use castellan_store::people::{RefreshToken, RefreshUse};
use castellan_store::Store;
use chrono::{Duration, Utc};
use serde_json::json;
use std::sync::Arc;

#[path = "baseline_token.rs"]
#[expect(dead_code, reason = "only its Basic check is used here")]
mod token_baseline;

struct Baseline {
    store: Arc<dyn Store>,
    client_id: String,
    secret_hash: castellan_core::client::SecretHash,
    access_key: SigningKey,
    id_key: Option<SigningKey>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, database, client_id, client_secret] = [0, 1, 2, 3].map(|i| {
        args.get(i)
            .cloned()
            .expect("usage: baseline_refresh <host:port> <database-url> <client-id> <secret>")
    });
    let with_id_token = !args.iter().any(|a| a == "--no-id-token");
    let store: Arc<dyn Store> = castellan_store::connect(&database).await.unwrap();
    let state = Arc::new(Baseline {
        store,
        client_id,
        secret_hash: hash_secret(&client_secret),
        access_key: SigningKey::generate(Algorithm::Es256, "baseline-at".into())
            .unwrap()
            .0,
        id_key: with_id_token.then(|| {
            SigningKey::generate(Algorithm::Rs256, "baseline-id".into())
                .unwrap()
                .0
        }),
    });
    let app = Router::new()
        .route("/oauth/token", post(refresh))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!("refresh baseline listening on {addr}");
    axum::serve(listener, app).await.unwrap();
}

/// The `refresh_token` value of a form body (no other rule applied).
fn presented(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "refresh_token")
        .map(|(_, v)| v.into_owned())
}

async fn refresh(
    axum::extract::State(s): axum::extract::State<Arc<Baseline>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !token_baseline::basic_ok(&headers, &s.secret_hash) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(token) = presented(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let now = Utc::now();
    let hash = hash_secret(&token).0;
    let Some(current) = s.store.find_refresh_token(&hash).await.unwrap() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Some(user) = s.store.get_user(&current.user_id).await.unwrap() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if let Some(org) = current.organization_id.as_deref() {
        if s.store.role_in(org, &user.id).await.unwrap().is_none() {
            return StatusCode::BAD_REQUEST.into_response();
        }
    }
    let secret = generate_secret();
    let next = RefreshToken {
        hash: hash_secret(secret.expose()).0,
        created_at: now,
        expires_at: now + Duration::days(200),
        ..current.clone()
    };
    match s.store.use_refresh_token(&hash, &next, now).await.unwrap() {
        RefreshUse::Rotated(_) => {}
        _ => return StatusCode::BAD_REQUEST.into_response(),
    }
    let iat = now.timestamp();
    let access = jws::sign(
        &s.access_key,
        "at+jwt",
        &json!({"iss": "http://127.0.0.1:8301", "sub": user.id, "aud": "http://127.0.0.1:8301",
            "exp": iat + 3600, "iat": iat, "jti": "abcdefghijklmnopqrstuv",
            "client_id": s.client_id, "scope": current.scope, "gid": current.family_id,
            "org": current.organization_id, "env": "local"}),
    )
    .unwrap();
    let id_token = s.id_key.as_ref().map(|key| {
        jws::sign(
            key,
            "JWT",
            &json!({"iss": "http://127.0.0.1:8301", "sub": user.id, "aud": s.client_id,
                "exp": iat + 3600, "iat": iat, "auth_time": current.auth_time.timestamp(),
                "at_hash": "abcdefghijklmnopqrstuv", "gid": current.family_id,
                "email": user.email, "email_verified": false, "name": user.name}),
        )
        .unwrap()
    });
    axum::Json(
        json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": secret.expose(), "id_token": id_token, "scope": current.scope}),
    )
    .into_response()
}
