//! Tenant headers and role/organization policies end to end, with tokens
//! from an issuer the test controls (Castellan's `/auth` tenant flow is not built yet).
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::serve;
use axum::routing::get;
use axum::{Json, Router};
use castellan_core::Environment;
use castellan_crypto::{jws, Algorithm, SigningKey};
use castellan_guard::config::RouteRules;
use castellan_guard::{Guard, GuardConfig, Identity, OrgSource, Role, RouteConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};

const ISSUER: &str = "http://issuer.test";

/// A JWKS server for a key the test holds; answers the key and the JWKS URL.
async fn issuer() -> (SigningKey, String) {
    let (key, _) = SigningKey::generate(Algorithm::Es256, "t1".into()).unwrap();
    let jwk = key.verifying_key().unwrap().jwk().clone();
    let doc = json!({"keys": [jwk]});
    let base = serve(Router::new().route("/jwks", get(move || async move { Json(doc) }))).await;
    (key, format!("{base}/jwks"))
}

fn token(key: &SigningKey, extra: Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": ISSUER, "sub": "user-1", "aud": ISSUER, "exp": now + 3600, "iat": now,
        "jti": format!("j{}", rand_suffix()), "client_id": "pos-1", "scope": "orders:read", "env": "local"
    });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    jws::sign(key, "at+jwt", &claims).unwrap()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

async fn whoami(id: Identity) -> Json<Value> {
    Json(json!({"subject": id.subject, "role": id.role, "org": id.organization}))
}

async fn app(jwks: String, tenant: bool) -> String {
    let mut c = GuardConfig::new(ISSUER, Environment::Local);
    c.jwks_url = Some(jwks);
    c.tenant = tenant;
    c.routes = vec![RouteConfig::new(
        "*",
        "/orgs/{org}/members",
        RouteRules {
            min_role: Some(Role::Manager),
            organization: Some(OrgSource::Param("org".into())),
            ..RouteRules::default()
        },
    )];
    let guard = Guard::new(c).unwrap();
    serve(
        Router::new()
            .route("/orders", get(whoami))
            .route("/orgs/{org}/members", get(whoami))
            .layer(guard.layer()),
    )
    .await
}

#[tokio::test]
async fn tenant_headers_must_match_the_token() {
    let (key, jwks) = issuer().await;
    let base = app(jwks, true).await;
    let t = token(&key, json!({"brand": "openapitest", "venue": 1}));
    let http = reqwest::Client::new();
    let call = |brand: &str, venue: &str, stage: Option<&str>, tok: Option<&str>| {
        let mut rb = http
            .get(format!("{base}/orders"))
            .header("x-brand", brand)
            .header("x-venue", venue);
        if let Some(s) = stage {
            rb = rb.header("x-stage", s);
        }
        if let Some(t) = tok {
            rb = rb.header("x-token", t);
        }
        rb.send()
    };
    assert_eq!(
        call("openapitest", "1", None, Some(&t))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        call("openapitest", "1", Some("local"), Some(&t))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    for (brand, venue, stage, header) in [
        ("other", "1", None, "x-brand"),
        ("openapitest", "2", None, "x-venue"),
        ("openapitest", "1", Some("production"), "x-stage"),
    ] {
        let res = call(brand, venue, stage, Some(&t)).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{header}");
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["error"], "tenant_mismatch");
        assert!(b["message"].as_str().unwrap().contains(header));
    }
    let res = call("openapitest", "1", None, None).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A token without a tenant binding cannot be used with tenant headers.
    let plain = token(&key, json!({}));
    let res = call("openapitest", "1", None, Some(&plain)).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn role_and_organization_are_enforced() {
    let (key, jwks) = issuer().await;
    let base = app(jwks, false).await;
    let http = reqwest::Client::new();
    let get = |path: &str, t: String| {
        http.get(format!("{base}{path}"))
            .header("authorization", format!("Bearer {t}"))
            .send()
    };
    let manager = token(&key, json!({"org": "org-1", "role": "MANAGER"}));
    let viewer = token(&key, json!({"org": "org-1", "role": "VIEWER"}));
    assert_eq!(
        get("/orgs/org-1/members", manager.clone())
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let res = get("/orgs/org-1/members", viewer).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["reason"], "role_too_low");
    assert!(b["message"].as_str().unwrap().contains("VIEWER"));
    let res = get("/orgs/org-2/members", manager).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"], "wrong_organization");
}
