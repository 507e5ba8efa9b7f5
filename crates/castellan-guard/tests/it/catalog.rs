//! The catalog example behind the guard, against a real Castellan (castellan-testkit): every
//! failure answer a resource server meets, JWKS refetch on rotation, opaque
//! tokens through introspection, malformed keys refused before any network call.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support;

use crate::support::{bearer, closed_port_url, guard_config, serve, with_introspection};
use castellan_core::Environment;
use castellan_crypto::jws;
use castellan_crypto::{Algorithm, SigningKey};
use castellan_guard::example::catalog_router;
use castellan_guard::{Guard, GuardConfig};
use castellan_testkit::{ManualClock, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

async fn catalog(guard: Guard) -> String {
    serve(catalog_router(guard)).await
}

async fn client(app: &TestApp, draft: Value) -> (String, String) {
    let c = app.create_client(draft).await;
    (
        c["id"].as_str().unwrap().to_owned(),
        c["secret"].as_str().unwrap().to_owned(),
    )
}

async fn reader_token(app: &TestApp) -> String {
    let (id, secret) = client(app, json!({"name": "reader", "scope": "products:read"})).await;
    app.token_for(&id, &secret, None).await
}

async fn body(res: reqwest::Response) -> (StatusCode, String, Value) {
    let status = res.status();
    let www = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, www, res.json().await.unwrap())
}

#[tokio::test]
async fn no_credentials_is_401_pointing_at_resource_metadata() {
    let app = TestApp::spawn().await;
    let base = catalog(Guard::new(guard_config(&app)).unwrap()).await;
    let http = reqwest::Client::new();
    let (s, www, b) = body(http.get(format!("{base}/products")).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        www,
        format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            app.state.config.issuer
        )
    );
    assert_eq!(b["error"], "invalid_token");
    assert_eq!(b["reason"], "missing_credentials");
    // The public route lets anonymous callers through.
    let res = http
        .get(format!("{base}/catalog/search"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["total"], 1);
    assert_eq!(b["caller"], Value::Null);
}

#[tokio::test]
async fn a_jwt_opens_what_its_scopes_allow() {
    let app = TestApp::spawn().await;
    let guard = Guard::new(guard_config(&app)).unwrap();
    let base = catalog(guard.clone()).await;
    let token = reader_token(&app).await;
    let http = reqwest::Client::new();
    let res = bearer(http.get(format!("{base}/products")), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["credential"], "jwt");
    let (s, www, b) = body(
        bearer(http.post(format!("{base}/products")), &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(www.contains("error=\"insufficient_scope\""), "{www}");
    assert!(www.contains("scope=\"products:write\""), "{www}");
    assert_eq!(b["error"], "insufficient_scope");
    assert_eq!(b["needed_scope"], "products:write");
    assert!(b["message"].as_str().unwrap().contains("products:write"));
    // Authenticated callers of the public route are named.
    let res = bearer(http.get(format!("{base}/catalog/search")), &token)
        .send()
        .await
        .unwrap();
    let b: Value = res.json().await.unwrap();
    assert!(b["caller"].is_string());
    // One JWKS fetch served all of it.
    assert_eq!(guard.jwks_fetches(), 1);
}

#[tokio::test]
async fn tampered_and_unsigned_jwts_are_401() {
    let app = TestApp::spawn().await;
    let base = catalog(Guard::new(guard_config(&app)).unwrap()).await;
    let token = reader_token(&app).await;
    let (h, p, s) = {
        let mut it = token.split('.');
        (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
    };
    let (_, mut claims) = jws::decode_unverified(&token).unwrap();
    claims.insert("scope".into(), "products:read products:write".into());
    use base64::Engine;
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let forged_payload = b64(&serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{h}.{forged_payload}.{s}");
    let kid = jws::parse(&token).unwrap().header.kid.unwrap();
    let none_header = b64(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#).as_bytes());
    let alg_none = format!("{none_header}.{p}.");
    let alg_none_sig = format!("{none_header}.{p}.{s}");
    let http = reqwest::Client::new();
    for (t, reason) in [
        (&tampered, "bad_signature"),
        (&alg_none, "malformed_token"),
        (&alg_none_sig, "algorithm_not_accepted"),
    ] {
        let (s, www, b) = body(
            bearer(http.post(format!("{base}/products")), t)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{reason}");
        assert!(www.starts_with("Bearer error=\"invalid_token\""), "{www}");
        assert!(www.contains("resource_metadata="), "{www}");
        assert_eq!(b["reason"], reason);
    }
}

#[tokio::test]
async fn an_expired_jwt_is_401_even_when_cached() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(|_| {}, Arc::<ManualClock>::clone(&clock)).await;
    let guard = Guard::with_clock(guard_config(&app), Arc::<ManualClock>::clone(&clock)).unwrap();
    let base = catalog(guard).await;
    let token = reader_token(&app).await;
    let http = reqwest::Client::new();
    let res = bearer(http.get(format!("{base}/products")), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    clock.advance(chrono::Duration::hours(2));
    let (s, www, b) = body(
        bearer(http.get(format!("{base}/products")), &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        www.contains("error_description=\"the token has expired\""),
        "{www}"
    );
    assert_eq!(b["reason"], "expired");
    // A guard that never saw the token says the same.
    let fresh =
        catalog(Guard::with_clock(guard_config(&app), Arc::<ManualClock>::clone(&clock)).unwrap())
            .await;
    let (s, _, b) = body(
        bearer(http.get(format!("{fresh}/products")), &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["reason"], "expired");
}

#[tokio::test]
async fn a_token_of_another_environment_is_401_wrong_environment() {
    let local = TestApp::spawn().await;
    let testing = TestApp::spawn_with(|c| c.environment = Environment::Testing).await;
    // A local guard that (mis)trusts the testing server's keys: only `env` tells them apart.
    let mut config = guard_config(&local);
    config.jwks_url = Some(testing.url("/.well-known/jwks.json"));
    let base = catalog(Guard::new(config).unwrap()).await;
    let token = reader_token(&testing).await;
    let http = reqwest::Client::new();
    let (s, www, b) = body(
        bearer(http.get(format!("{base}/products")), &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(www.contains("another environment"), "{www}");
    assert_eq!(b["reason"], "wrong_environment");
    // An opaque token names its environment in its shape: refused without a network call.
    let opaque = format!("ot_test_{}", "A".repeat(43));
    let (s, _, b) = body(
        bearer(http.get(format!("{base}/products")), &opaque)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["reason"], "wrong_environment");
}

#[tokio::test]
async fn malformed_api_keys_are_401_without_any_network_call() {
    let app = TestApp::spawn().await;
    let mut config = guard_config(&app);
    with_introspection(&mut config, &app, Some(closed_port_url().await));
    let guard = Guard::new(config).unwrap();
    let base = catalog(guard.clone()).await;
    let http = reqwest::Client::new();
    for key in [
        "csb_body_00000000",
        "csb_body",
        "xyz_body_1234abcd",
        "csb_b_d_e",
        "csb_body_ZZZZZZZZ",
    ] {
        let (s, www, b) = body(
            http.get(format!("{base}/catalog/search"))
                .header("X-API-Key", key)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{key}");
        assert!(www.contains("error=\"invalid_token\""), "{www}");
        assert_eq!(b["reason"], "malformed_api_key", "{key}");
    }
    assert_eq!(guard.introspection_calls(), 0);
    // A Castellan key of another environment names its environment: refused locally too.
    let testing_key =
        castellan_core::api_key::generate("csb", Environment::Testing, &[7u8; 32]).unwrap();
    let (s, _, b) = body(
        http.get(format!("{base}/products"))
            .header("X-API-Key", &testing_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["reason"], "wrong_environment");
    assert_eq!(guard.introspection_calls(), 0);
    // A well-formed key does go to Castellan: here unreachable, so 503 — never 500, never 200.
    let key = support::api_key("csb", "WellFormedButUnknown");
    let res = http
        .get(format!("{base}/catalog/search"))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(guard.introspection_calls(), 1);
}

#[tokio::test]
async fn an_unknown_api_key_is_401_through_introspection() {
    let app = TestApp::spawn().await;
    let mut config = guard_config(&app);
    with_introspection(&mut config, &app, None);
    let guard = Guard::new(config).unwrap();
    let base = catalog(guard.clone()).await;
    let key = support::api_key("csb", "NoSuchKeyExists");
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let (s, _, b) = body(
            http.get(format!("{base}/products"))
                .header("X-API-Key", &key)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(b["reason"], "unknown_api_key");
    }
    // The negative answer is cached.
    assert_eq!(guard.introspection_calls(), 1);
}

#[tokio::test]
async fn an_unknown_kid_triggers_exactly_one_jwks_refetch() {
    let app = TestApp::spawn().await;
    let guard = Guard::new(guard_config(&app)).unwrap();
    let base = catalog(guard.clone()).await;
    let (id, secret) = client(&app, json!({"name": "reader", "scope": "products:read"})).await;
    let http = reqwest::Client::new();
    let before = app.token_for(&id, &secret, None).await;
    let res = bearer(http.get(format!("{base}/products")), &before)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(guard.jwks_fetches(), 1);

    let now = chrono::Utc::now();
    castellan_server::platform::keys::rotate(
        app.store.as_ref(),
        Algorithm::Es256,
        now,
        chrono::Duration::hours(2),
    )
    .await
    .unwrap();
    app.state.keys.reload(now).await.unwrap();
    let after = app.token_for(&id, &secret, None).await;
    assert_ne!(
        jws::parse(&after).unwrap().header.kid,
        jws::parse(&before).unwrap().header.kid
    );
    // Eight concurrent requests with the new kid share one fetch.
    let calls = (0..8).map(|_| bearer(http.get(format!("{base}/products")), &after).send());
    for res in futures::future::join_all(calls).await {
        assert_eq!(res.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(guard.jwks_fetches(), 2);
    // The old key is still published: tokens it signed still pass, with no fetch.
    let res = bearer(http.get(format!("{base}/products")), &before)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A forged kid right after cannot cause another fetch.
    let (forger, _) = SigningKey::generate(Algorithm::Es256, "forged".into()).unwrap();
    let (_, claims) = jws::decode_unverified(&after).unwrap();
    let forged = jws::sign(&forger, "at+jwt", &claims).unwrap();
    let (s, _, b) = body(
        bearer(http.get(format!("{base}/products")), &forged)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["reason"], "unknown_key");
    assert_eq!(guard.jwks_fetches(), 2);
}

#[tokio::test]
async fn an_opaque_token_is_accepted_through_introspection() {
    let app = TestApp::spawn().await;
    let mut config = guard_config(&app);
    with_introspection(&mut config, &app, None);
    let guard = Guard::new(config).unwrap();
    let base = catalog(guard.clone()).await;
    let (id, secret) = client(
        &app,
        json!({"name": "opaque", "scope": "products:read", "tokenFormat": "opaque"}),
    )
    .await;
    let token = app.token_for(&id, &secret, None).await;
    assert!(token.starts_with("ot_local_"), "{token}");
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let res = bearer(http.get(format!("{base}/products")), &token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["credential"], "opaque_token");
        assert_eq!(b["caller"], id.as_str());
    }
    assert_eq!(guard.introspection_calls(), 1, "active answers are cached");
    let (s, _, b) = body(
        bearer(http.post(format!("{base}/products")), &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(b["needed_scope"], "products:write");
    // An unknown token of the right shape is 401, not active.
    let unknown = format!("ot_local_{}", "B".repeat(43));
    let (s, _, b) = body(
        bearer(http.get(format!("{base}/products")), &unknown)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["reason"], "token_not_active");
}

#[tokio::test]
async fn an_unreachable_castellan_answers_503_for_opaque_tokens() {
    let app = TestApp::spawn().await;
    let mut config = guard_config(&app);
    with_introspection(&mut config, &app, Some(closed_port_url().await));
    let base = catalog(Guard::new(config).unwrap()).await;
    let token = format!("ot_local_{}", "C".repeat(43));
    let (s, _, b) = body(
        bearer(
            reqwest::Client::new().get(format!("{base}/products")),
            &token,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn unreachable_jwks_is_503() {
    let app = TestApp::spawn().await;
    let token = reader_token(&app).await;
    let mut config: GuardConfig = guard_config(&app);
    config.jwks_url = Some(format!("{}/jwks.json", closed_port_url().await));
    let base = catalog(Guard::new(config).unwrap()).await;
    let res = bearer(
        reqwest::Client::new().get(format!("{base}/products")),
        &token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// A disabled key is 403 `api_key_disabled` and an expired key 401 `expired` through the
/// guard, as through forward-auth: the guard reads introspection's `status` of an inactive key.
#[tokio::test]
async fn disabled_and_expired_api_keys_answer_as_forward_auth_does() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(|_| {}, Arc::<ManualClock>::clone(&clock)).await;
    let mut config = guard_config(&app);
    with_introspection(&mut config, &app, None);
    let guard = Guard::new(config).unwrap();
    let base = catalog(guard.clone()).await;
    let (id, secret) = client(
        &app,
        json!({"name": "keys", "scope": "manage_api_keys view_api_keys products:read"}),
    )
    .await;
    let token = app.token_for(&id, &secret, None).await;
    let http = reqwest::Client::new();
    let mut keys = Vec::new();
    for days in [30, 1] {
        let res = bearer(http.post(app.url("/api-keys")), &token)
            .json(&json!({"name": "k", "scope": "products:read", "expiresInDays": days}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let b: Value = res.json().await.unwrap();
        keys.push((
            b["key"].as_str().unwrap().to_owned(),
            b["id"].as_str().unwrap().to_owned(),
        ));
    }
    let (disabled, disabled_id) = &keys[0];
    let (expiring, _) = &keys[1];
    let res = bearer(
        http.post(app.url(&format!("/api-keys/{disabled_id}/disable"))),
        &token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    clock.advance(chrono::Duration::days(2));

    let get = |key: &str| {
        http.get(format!("{base}/products"))
            .header("X-API-Key", key)
            .send()
    };
    let (s, _, b) = body(get(disabled).await.unwrap()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(b["reason"], "api_key_disabled");
    let (s, www, b) = body(get(expiring).await.unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["reason"], "expired");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("API key has expired"),
        "{b}"
    );
    assert!(www.contains("invalid_token"), "{www}");
    assert!(www.contains("the API key has expired"), "{www}");
    assert_eq!(guard.introspection_calls(), 2);
}

/// Sends `GET {path}` as raw HTTP/1.1 (an HTTP client library would resolve the dot segments
/// before sending); answers the status code.
async fn raw_get(base: &str, path: &str, token: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer}"))
}

/// A `products:read` token must not climb from the public `/catalog/search` or from
/// `/products` into a route it may not call through a path the service would normalise.
#[tokio::test]
async fn paths_that_climb_out_of_a_route_are_400() {
    let app = TestApp::spawn().await;
    let guard = Guard::new(guard_config(&app)).unwrap();
    let base = catalog(guard.clone()).await;
    let token = reader_token(&app).await;
    assert_eq!(raw_get(&base, "/products", &token).await, 200);
    for climb in [
        "/catalog/search/../../products",
        "/catalog/search/%2e%2e/%2e%2e/products",
        "/catalog/search/..%2f..%2fproducts",
        "/catalog/search/..\\..\\products",
        "/catalog/search/..;/..;/products",
        "/catalog//search",
        "/catalog/search;x/../../products",
        "/catalog/search/%c0%ae%c0%ae/%c0%ae%c0%ae/products",
        "/products./",
    ] {
        assert_eq!(raw_get(&base, climb, &token).await, 400, "{climb}");
    }
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    for climb in [
        "/products/../products",
        "/products/%2E%2E/products",
        "/products/.%2e",
        "/products%5c..%5cproducts",
        "/products/%00",
        "/products;x",
        "/products%3B",
        "/products%20",
        "/products/%c0%ae",
    ] {
        let refused = guard
            .check(&http::Method::POST, climb, &headers)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{climb}");
        assert_eq!(refused.reason(), "unsafe_path");
    }
}

/// The guard accepts only tokens issued for its own resource (by default the issuer, the
/// audience of tokens asked for without a resource indicator), never "any audience".
#[tokio::test]
async fn tokens_for_another_audience_are_401_wrong_audience() {
    let app = TestApp::spawn().await;
    let (id, secret) = client(&app, json!({"name": "reader", "scope": "products:read"})).await;
    let default = app.token_for(&id, &secret, None).await;
    let third = app
        .token_for_resource(&id, &secret, "https://third-party.example")
        .await;
    let catalog_token = app
        .token_for_resource(&id, &secret, "https://catalog.example")
        .await;
    let http = reqwest::Client::new();

    let base = catalog(Guard::new(guard_config(&app)).unwrap()).await;
    let get = |t: &str| bearer(http.get(format!("{base}/products")), t).send();
    assert_eq!(get(&default).await.unwrap().status(), StatusCode::OK);
    for t in [&third, &catalog_token] {
        let (s, www, b) = body(get(t).await.unwrap()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(b["reason"], "wrong_audience", "{b}");
        assert!(www.contains("error=\"invalid_token\""), "{www}");
    }

    let mut config = guard_config(&app);
    config.resource = Some("https://catalog.example".into());
    let base = catalog(Guard::new(config).unwrap()).await;
    let get = |t: &str| bearer(http.get(format!("{base}/products")), t).send();
    assert_eq!(get(&catalog_token).await.unwrap().status(), StatusCode::OK);
    for t in [&default, &third] {
        let (s, _, b) = body(get(t).await.unwrap()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(b["reason"], "wrong_audience", "{b}");
    }
}
