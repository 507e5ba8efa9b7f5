//! DPoP at the guard (RFC 9449 §7): a token bound to a key (`cnf.jkt`) passes only as
//! `Authorization: DPoP` with one fresh proof made with that key for the request's method and
//! URL and the token's `ath`. Each refusal replays the attack it stops: a stolen bound token
//! sent as Bearer, a proof for another method, URL, token or key, an old proof, a replayed
//! proof, no proof, two proofs, an unbound token sent as DPoP; and opaque tokens bound through
//! introspection's `cnf`.
//!
//! Tokens are signed here and served from a local JWKS, as in `jwt_props`; the guard runs the
//! catalog example on the system clock.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::bearer;
use castellan_core::Environment;
use castellan_crypto::dpop::{jwk_thumbprint, make_proof};
use castellan_crypto::{jws, Algorithm, SigningKey};
use castellan_guard::config::IntrospectionConfig;
use castellan_guard::example::{catalog_router, catalog_routes};
use castellan_guard::{ClientSecret, Guard, GuardConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) const ISSUER: &str = "http://as.test";

struct Setup {
    /// The catalog behind the guard.
    base: String,
    issuer_key: SigningKey,
    /// The client's DPoP key, and its thumbprint.
    client_key: SigningKey,
    jkt: String,
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) fn jti() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("proof-{}-{}", now(), N.fetch_add(1, Ordering::Relaxed))
}

/// A JWKS (and a fake introspection endpoint answering `introspection`) on a local port.
pub(crate) async fn issuer(issuer_key: &SigningKey, introspection: Value) -> String {
    let jwks = json!({"keys": [issuer_key.verifying_key().unwrap().jwk().clone()]});
    let app = axum::Router::new()
        .route(
            "/jwks.json",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        )
        .route(
            "/introspect",
            axum::routing::post(move || async move { axum::Json(introspection) }),
        );
    crate::support::serve(app).await
}

/// The catalog behind a guard trusting `issuer_url`; `edit` changes its configuration once
/// the catalog's own address is known.
pub(crate) async fn catalog(issuer_url: &str, edit: impl FnOnce(&mut GuardConfig, &str)) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut c = GuardConfig::new(ISSUER, Environment::Local);
    c.jwks_url = Some(format!("{issuer_url}/jwks.json"));
    c.routes = catalog_routes();
    c.introspection = Some(IntrospectionConfig {
        url: Some(format!("{issuer_url}/introspect")),
        client_id: "rs".into(),
        client_secret: ClientSecret::new("s"),
    });
    // The catalog is reached over plain HTTP on its Host.
    c.dpop.scheme = "http".into();
    edit(&mut c, &base);
    let router = catalog_router(Guard::new(c).unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

async fn setup(edit: impl FnOnce(&mut GuardConfig, &str)) -> Setup {
    let (issuer_key, _) = SigningKey::generate(Algorithm::Es256, "as-1".into()).unwrap();
    let (client_key, _) = SigningKey::generate(Algorithm::Es256, "ignored".into()).unwrap();
    let jkt = jwk_thumbprint(
        client_key
            .verifying_key()
            .unwrap()
            .jwk()
            .as_object()
            .unwrap(),
    )
    .unwrap();
    let issuer_url = issuer(&issuer_key, json!({"active": false})).await;
    let base = catalog(&issuer_url, edit).await;
    Setup {
        base,
        issuer_key,
        client_key,
        jkt,
    }
}

fn token(s: &Setup, jkt: Option<&str>) -> String {
    let mut claims = json!({
        "iss": ISSUER, "sub": "agent-1", "aud": ISSUER, "exp": now() + 600, "iat": now() - 5,
        "jti": jti(), "client_id": "agent-1", "scope": "products:read", "env": "local",
    });
    if let Some(jkt) = jkt {
        claims["cnf"] = json!({ "jkt": jkt });
    }
    jws::sign(&s.issuer_key, "at+jwt", &claims).unwrap()
}

fn proof(key: &SigningKey, htm: &str, htu: &str, iat: i64, token: &str) -> String {
    make_proof(key, htm, htu, iat, &jti(), Some(token), None).unwrap()
}

async fn get(base: &str, auth: &str, proofs: &[&str]) -> (StatusCode, String, Value) {
    let mut rb = reqwest::Client::new()
        .get(format!("{base}/products"))
        .header("authorization", auth);
    for p in proofs {
        rb = rb.header("dpop", *p);
    }
    let res = rb.send().await.unwrap();
    let status = res.status();
    let www = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, www, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_bound_token_passes_only_with_a_proof_of_its_key_for_this_request() {
    let s = setup(|_, _| {}).await;
    let t = token(&s, Some(&s.jkt));
    let url = format!("{}/products", s.base);
    let dpop = format!("DPoP {t}");

    let good = proof(&s.client_key, "GET", &url, now(), &t);
    let (status, _, b) = get(&s.base, &dpop, &[&good]).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["caller"], "agent-1");

    // The same proof again: replayed.
    let (status, www, b) = get(&s.base, &dpop, &[&good]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(b["error"], "invalid_dpop_proof");
    assert_eq!(b["reason"], "dpop_proof_replayed");
    assert!(www.starts_with("DPoP "), "{www}");
    assert!(www.contains("error=\"invalid_dpop_proof\""), "{www}");
    assert!(
        www.contains("algs=\"ES256 ES384 EdDSA RS256 PS256\""),
        "{www}"
    );

    // A stolen bound token sent as Bearer, with or without a proof.
    for proofs in [vec![], vec![proof(&s.client_key, "GET", &url, now(), &t)]] {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (status, www, b) = get(&s.base, &format!("Bearer {t}"), &proofs).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(b["error"], "invalid_token");
        assert_eq!(b["reason"], "dpop_bound_token");
        assert!(www.starts_with("DPoP "), "{www}");
        assert!(www.contains("error=\"invalid_token\""), "{www}");
        assert!(www.contains("algs="), "{www}");
    }

    let (other_key, _) = SigningKey::generate(Algorithm::Es256, "x".into()).unwrap();
    let other_token = token(&s, Some(&s.jkt));
    let two = proof(&s.client_key, "GET", &url, now(), &t);
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("no proof", vec![], "dpop_proof_missing"),
        (
            "two proofs",
            vec![two.clone(), proof(&s.client_key, "GET", &url, now(), &t)],
            "dpop_proof_repeated",
        ),
        (
            "another method",
            vec![proof(&s.client_key, "POST", &url, now(), &t)],
            "invalid_dpop_proof",
        ),
        (
            "another URL",
            vec![proof(
                &s.client_key,
                "GET",
                &format!("{}/catalog/search", s.base),
                now(),
                &t,
            )],
            "invalid_dpop_proof",
        ),
        (
            "another host",
            vec![proof(
                &s.client_key,
                "GET",
                "http://elsewhere.example/products",
                now(),
                &t,
            )],
            "invalid_dpop_proof",
        ),
        (
            "another token's ath",
            vec![proof(&s.client_key, "GET", &url, now(), &other_token)],
            "invalid_dpop_proof",
        ),
        (
            "an old proof",
            vec![proof(&s.client_key, "GET", &url, now() - 600, &t)],
            "invalid_dpop_proof",
        ),
        (
            "another key",
            vec![proof(&other_key, "GET", &url, now(), &t)],
            "dpop_key_mismatch",
        ),
        ("garbage", vec!["not.a.proof".into()], "invalid_dpop_proof"),
    ];
    for (case, proofs, reason) in cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (status, www, b) = get(&s.base, &dpop, &proofs).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(b["error"], "invalid_dpop_proof", "{case}");
        assert_eq!(b["reason"], reason, "{case}");
        assert!(www.starts_with("DPoP "), "{case}: {www}");
    }
    // None of those refusals used up the proof made first for them: it still works once.
    let (status, _, _) = get(&s.base, &dpop, &[&two]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_unbound_token_sent_as_dpop_is_refused_and_still_works_as_bearer() {
    let s = setup(|_, _| {}).await;
    let t = token(&s, None);
    let url = format!("{}/products", s.base);
    let p = proof(&s.client_key, "GET", &url, now(), &t);
    let (status, www, b) = get(&s.base, &format!("DPoP {t}"), &[&p]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(b["reason"], "not_dpop_bound");
    assert!(www.starts_with("DPoP "), "{www}");
    let res = bearer(reqwest::Client::new().get(&url), &t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A `cnf` naming no key this guard can check is not taken for a bearer token.
    let mut claims = json!({
        "iss": ISSUER, "sub": "a", "aud": ISSUER, "exp": now() + 600, "iat": now(),
        "jti": jti(), "client_id": "a", "scope": "products:read", "env": "local",
        "cnf": {"x5t#S256": "abc"},
    });
    let cert_bound = jws::sign(&s.issuer_key, "at+jwt", &claims).unwrap();
    let (status, _, b) = get(&s.base, &format!("Bearer {cert_bound}"), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(b["reason"], "malformed_token");
    claims["cnf"] = json!("not an object");
    let odd = jws::sign(&s.issuer_key, "at+jwt", &claims).unwrap();
    let (status, _, _) = get(&s.base, &format!("Bearer {odd}"), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_public_base_url_is_the_url_a_proof_must_name() {
    let s = setup(|c, _| {
        c.dpop.public_base_url = Some("https://api.example.com/catalog-api".into());
    })
    .await;
    let t = token(&s, Some(&s.jkt));
    let dpop = format!("DPoP {t}");
    // A proof for the address the guard is reached at directly is not for its public URL.
    let direct = proof(
        &s.client_key,
        "GET",
        &format!("{}/products", s.base),
        now(),
        &t,
    );
    let (status, _, b) = get(&s.base, &dpop, &[&direct]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(b["reason"], "invalid_dpop_proof");
    let public = proof(
        &s.client_key,
        "GET",
        "https://API.example.com:443/catalog-api/products?page=2",
        now(),
        &t,
    );
    let (status, _, b) = get(&s.base, &dpop, &[&public]).await;
    assert_eq!(status, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn an_opaque_token_bound_through_introspection_needs_its_proof() {
    let (issuer_key, _) = SigningKey::generate(Algorithm::Es256, "as-1".into()).unwrap();
    let (client_key, _) = SigningKey::generate(Algorithm::Es256, "c".into()).unwrap();
    let jkt = jwk_thumbprint(
        client_key
            .verifying_key()
            .unwrap()
            .jwk()
            .as_object()
            .unwrap(),
    )
    .unwrap();
    let answer = json!({
        "active": true, "client_id": "agent-1", "sub": "agent-1", "scope": "products:read",
        "iss": ISSUER, "aud": ISSUER, "env": "local", "exp": now() + 600,
        "token_type": "DPoP", "cnf": {"jkt": jkt},
    });
    let issuer_url = issuer(&issuer_key, answer).await;
    let base = catalog(&issuer_url, |_, _| {}).await;
    let t = format!("ot_local_{}", "A".repeat(43));
    let (status, _, b) = get(&base, &format!("Bearer {t}"), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(b["reason"], "dpop_bound_token");
    let p = proof(&client_key, "GET", &format!("{base}/products"), now(), &t);
    let (status, _, b) = get(&base, &format!("DPoP {t}"), &[&p]).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["credential"], "opaque_token");
}

/// Two guards (replicas of one API) on one Redis: a proof used at one is a replay at the
/// other. Needs `CASTELLAN_TEST_REDIS_URL` (unset: a notice, and the test passes).
#[tokio::test]
async fn with_rate_limits_in_redis_a_proof_used_at_one_replica_is_refused_at_another() {
    let Some(url) = crate::limits::redis_url() else {
        return;
    };
    let (issuer_key, _) = SigningKey::generate(Algorithm::Es256, "as-1".into()).unwrap();
    let (client_key, _) = SigningKey::generate(Algorithm::Es256, "c".into()).unwrap();
    let jkt = jwk_thumbprint(
        client_key
            .verifying_key()
            .unwrap()
            .jwk()
            .as_object()
            .unwrap(),
    )
    .unwrap();
    let issuer_url = issuer(&issuer_key, json!({"active": false})).await;
    let prefix = crate::limits::unique_prefix("dpop");
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(
            catalog(&issuer_url, |c, _| {
                c.dpop.public_base_url = Some("https://api.example.com".into());
                let mut t = castellan_limit::RateLimitConfig::default();
                crate::limits::on_redis(&mut t, &url, &prefix, castellan_limit::FailureMode::Open);
                c.rate_limit = Some(t);
            })
            .await,
        );
    }
    let s = Setup {
        base: String::new(),
        issuer_key,
        client_key,
        jkt,
    };
    let t = token(&s, Some(&s.jkt));
    let p = proof(
        &s.client_key,
        "GET",
        "https://api.example.com/products",
        now(),
        &t,
    );
    let dpop = format!("DPoP {t}");
    let (status, _, b) = get(&replicas[0], &dpop, &[&p]).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let (status, _, b) = get(&replicas[1], &dpop, &[&p]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(b["reason"], "dpop_proof_replayed");
}

/// A replay check Redis cannot answer refuses the proof (503), even when the rate limits
/// themselves fail open.
#[tokio::test]
async fn an_unreachable_redis_refuses_dpop_proofs_even_when_limits_fail_open() {
    let s = setup(|c, _| {
        let mut t = castellan_limit::RateLimitConfig::default();
        crate::limits::on_redis(
            &mut t,
            "redis://127.0.0.1:1",
            &crate::limits::unique_prefix("dpop-down"),
            castellan_limit::FailureMode::Open,
        );
        t.redis_timeout_ms = 200;
        c.rate_limit = Some(t);
    })
    .await;
    let t = token(&s, Some(&s.jkt));
    let p = proof(
        &s.client_key,
        "GET",
        &format!("{}/products", s.base),
        now(),
        &t,
    );
    let (status, _, b) = get(&s.base, &format!("DPoP {t}"), &[&p]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b["error"], "temporarily_unavailable");
    assert_eq!(b["reason"], "replay_check_unavailable");
    // A bearer token needs no replay check: it passes (the limits fail open).
    let plain = token(&s, None);
    let (status, _, _) = get(&s.base, &format!("Bearer {plain}"), &[]).await;
    assert_eq!(status, StatusCode::OK);
}

/// A DPoP-bound token issued by a real Castellan (the token endpoint with a proof, RFC 9449
/// §5), JWT or opaque, passes the guard in front of the catalog only as `DPoP` with a fresh
/// proof of its key: the guard reads `cnf.jkt` from the JWT, and from introspection for the
/// opaque token.
#[tokio::test]
async fn a_token_castellan_bound_to_a_key_passes_the_guard_only_with_its_proof() {
    let app = castellan_testkit::TestApp::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut c = crate::support::guard_config(&app);
    crate::support::with_introspection(&mut c, &app, None);
    c.dpop.public_base_url = Some("https://api.example.com".into());
    let router = catalog_router(Guard::new(c).unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (client_key, _) = SigningKey::generate(Algorithm::Es256, "client".into()).unwrap();
    let token_url = app.state.config.endpoint("/oauth/token");
    let htu = "https://api.example.com/products";
    for format in ["jwt", "opaque"] {
        let client = app
            .new_client(json!({"name": "agent", "scope": "products:read", "tokenFormat": format}))
            .await;
        let issued: Value = reqwest::Client::new()
            .post(app.url("/oauth/token"))
            .header(
                "DPoP",
                make_proof(&client_key, "POST", &token_url, now(), &jti(), None, None).unwrap(),
            )
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client.id.as_str()),
                ("client_secret", client.secret.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(issued["token_type"], "DPoP", "{issued}");
        let t = issued["access_token"].as_str().unwrap();

        let (status, _, body) = get(&base, &format!("Bearer {t}"), &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{format}: {body}");
        assert_eq!(body["reason"], "dpop_bound_token", "{format}: {body}");

        let good = proof(&client_key, "GET", htu, now(), t);
        let (status, _, body) = get(&base, &format!("DPoP {t}"), &[&good]).await;
        assert_eq!(status, StatusCode::OK, "{format}: {body}");
        let (status, _, body) = get(&base, &format!("DPoP {t}"), &[&good]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{format}: {body}");
        assert_eq!(body["reason"], "dpop_proof_replayed", "{format}: {body}");

        let (thief, _) = SigningKey::generate(Algorithm::Es256, "thief".into()).unwrap();
        let stolen = proof(&thief, "GET", htu, now(), t);
        let (status, _, body) = get(&base, &format!("DPoP {t}"), &[&stolen]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{format}: {body}");
        assert_eq!(body["reason"], "dpop_key_mismatch", "{format}: {body}");
    }
}
