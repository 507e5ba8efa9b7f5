//! The user-grant baseline (bench/people.sh): a bare axum `POST /oauth/token` doing exactly the
//! storage and signing work of Castellan's refresh grant and code exchange, and nothing else.
//! It reads the Basic header and compares the client's SHA-256 secret hash in constant time,
//! then, by `grant_type`:
//! - `refresh_token`: hashes the presented token and makes the grant's store calls (the same
//!   SQL: `find_refresh_token`, `get_user`, `role_in` when the grant names an organization, and
//!   `use_refresh_token`, the one write transaction);
//! - `authorization_code`: hashes the code and makes the exchange's store calls
//!   (`redeem_code`, `get_user`, `role_in`, `insert_refresh_token`) and checks the PKCE
//!   verifier (one SHA-256);
//!
//! and signs an ES256 access token and an RS256 ID token, as Castellan's defaults do (no ID
//! token on a refresh with `--no-id-token`, as `token.id_token_on_refresh = false`). No
//! parameter rules, limiter, caches, metrics, audit or pipeline: Castellan's grants are
//! measured against it in the same run, on the same database (it rotates the refresh tokens
//! and redeems the codes Castellan issued).
//!
//! Usage: `baseline_grants <host:port> <database-url> <client-id> <client-secret>
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
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_crypto::keys::{Algorithm, SigningKey};
use castellan_crypto::{generate_refresh_token, hash_secret, jws, refresh_token_key};
use castellan_store::people::{CodeRedemption, RefreshToken, RefreshUse};
use castellan_store::Store;
use chrono::{Duration, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[path = "baseline_token.rs"]
#[expect(dead_code, reason = "only its Basic check is used here")]
mod token_baseline;

struct Baseline {
    store: Arc<dyn Store>,
    client_id: String,
    secret_hash: castellan_core::client::SecretHash,
    access_key: SigningKey,
    id_key: SigningKey,
    id_token_on_refresh: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, database, client_id, client_secret] = [0, 1, 2, 3].map(|i| {
        args.get(i)
            .cloned()
            .expect("usage: baseline_grants <host:port> <database-url> <client-id> <secret>")
    });
    let store: Arc<dyn Store> = castellan_store::connect(&database).await.unwrap();
    let state = Arc::new(Baseline {
        store,
        client_id,
        secret_hash: hash_secret(&client_secret),
        access_key: SigningKey::generate(Algorithm::Es256, "baseline-at".into())
            .unwrap()
            .0,
        id_key: SigningKey::generate(Algorithm::Rs256, "baseline-id".into())
            .unwrap()
            .0,
        id_token_on_refresh: !args.iter().any(|a| a == "--no-id-token"),
    });
    let app = Router::new()
        .route("/oauth/token", post(token))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!("grant baseline listening on {addr}");
    axum::serve(listener, app).await.unwrap();
}

/// The value of `name` in a form body (no other rule applied).
fn field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn token(
    axum::extract::State(s): axum::extract::State<Arc<Baseline>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !token_baseline::basic_ok(&headers, &s.secret_hash) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match field(&body, "grant_type").as_deref() {
        Some("refresh_token") => refresh(&s, &body).await,
        Some("authorization_code") => exchange(&s, &body).await,
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn refresh(s: &Baseline, body: &[u8]) -> Response {
    let Some(token) = field(body, "refresh_token") else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let now = Utc::now();
    let hash = refresh_token_key(&token);
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
    let (secret, key) = generate_refresh_token(now.timestamp_millis());
    let next = RefreshToken {
        hash: key,
        created_at: now,
        expires_at: now + Duration::days(200),
        ..current.clone()
    };
    match s.store.use_refresh_token(&hash, &next, now).await.unwrap() {
        RefreshUse::Rotated(_) => {}
        _ => return StatusCode::BAD_REQUEST.into_response(),
    }
    answer(s, &user, &current, secret.expose(), s.id_token_on_refresh)
}

async fn exchange(s: &Baseline, body: &[u8]) -> Response {
    let (Some(code), Some(verifier)) = (field(body, "code"), field(body, "code_verifier")) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let now = Utc::now();
    let hash = hash_secret(&code).0;
    let CodeRedemption::Fresh(code) = s.store.redeem_code(&hash, now).await.unwrap() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if code.code_challenge.as_deref() != Some(challenge.as_str()) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let Some(user) = s.store.get_user(&code.user_id).await.unwrap() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if let Some(org) = code.organization_id.as_deref() {
        if s.store.role_in(org, &user.id).await.unwrap().is_none() {
            return StatusCode::BAD_REQUEST.into_response();
        }
    }
    let (secret, key) = generate_refresh_token(now.timestamp_millis());
    let stored = RefreshToken {
        hash: key,
        family_id: code.family_id.clone(),
        consent_id: code.consent_id.clone(),
        client_id: code.client_id.clone(),
        user_id: code.user_id.clone(),
        organization_id: code.organization_id.clone(),
        scope: code.scope.clone(),
        auth_time: code.auth_time,
        amr: code.amr,
        session_id: code.session_id.clone(),
        created_at: now,
        expires_at: now + Duration::days(200),
        audience: code.resources.clone(),
        dpop_jkt: None,
        delegation: None,
    };
    s.store.insert_refresh_token(&stored).await.unwrap();
    answer(s, &user, &stored, secret.expose(), true)
}

/// The answer of the grant `of`: its ES256 access token, `refresh_token` and (when `id_token`)
/// an RS256 ID token.
fn answer(
    s: &Baseline,
    user: &castellan_core::user::User,
    of: &RefreshToken,
    refresh_token: &str,
    id_token: bool,
) -> Response {
    let iat = Utc::now().timestamp();
    let access = jws::sign(
        &s.access_key,
        "at+jwt",
        &json!({"iss": "http://127.0.0.1:8301", "sub": user.id, "aud": "http://127.0.0.1:8301",
            "exp": iat + 3600, "iat": iat, "jti": "abcdefghijklmnopqrstuv",
            "client_id": s.client_id, "scope": of.scope, "gid": of.family_id,
            "org": of.organization_id, "env": "local"}),
    )
    .unwrap();
    let id_token = id_token.then(|| {
        jws::sign(
            &s.id_key,
            "JWT",
            &json!({"iss": "http://127.0.0.1:8301", "sub": user.id, "aud": s.client_id,
                "exp": iat + 3600, "iat": iat, "auth_time": of.auth_time.timestamp(),
                "at_hash": "abcdefghijklmnopqrstuv", "gid": of.family_id,
                "email": user.email, "email_verified": false, "name": user.name}),
        )
        .unwrap()
    });
    axum::Json(
        json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": refresh_token, "id_token": id_token, "scope": of.scope}),
    )
    .into_response()
}
