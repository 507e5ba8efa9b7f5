//! Rate limits over HTTP: the headers on every answer of the
//! token endpoint, the 429 with `Retry-After` and a body naming the policy, the per-IP token
//! and registration policies, trusted proxies, and the structured header style. In-process
//! backend; the server's clock is a `ManualClock`, so window resets are exact and moving
//! time (not sleeping) rolls windows over.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_limit::{PolicyConfig, Window};
use castellan_server::management::clients::{build_client, ClientDraft};
use castellan_server::platform::config::Config;
use castellan_testkit::{ManualClock, TestApp};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use std::sync::Arc;

/// 2024-01-01T00:00:10Z: the current minute resets in 50 s, the day in 86 390 s.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 10).unwrap()
}

async fn spawn(edit: impl FnOnce(&mut Config)) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start()));
    let app = TestApp::spawn_full(edit, Arc::<ManualClock>::clone(&clock)).await;
    (app, clock)
}

/// A second confidential client, stored directly (the management API would spend token
/// requests of the bootstrap client).
async fn new_client(app: &TestApp, name: &str) -> (String, String) {
    let draft = ClientDraft {
        name: name.to_owned(),
        ..ClientDraft::default()
    };
    let (client, secret) =
        build_client(draft, &app.state.config, app.state.clock.now()).expect("client");
    app.store.insert_client(&client).await.expect("insert");
    (client.id, secret.expect("secret").into_exposed())
}

async fn token(app: &TestApp, id: &str, secret: &str) -> reqwest::Response {
    token_from(app, id, secret, None).await
}

async fn token_from(
    app: &TestApp,
    id: &str,
    secret: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")]);
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.expect("token request")
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

fn num(res: &reqwest::Response, name: &str) -> u64 {
    header(res, name)
        .unwrap_or_else(|| panic!("missing {name}: {:?}", res.headers()))
        .parse()
        .unwrap()
}

fn tiny_policy(config: &mut Config, name: &str, limit: u64, seconds: u64) {
    config.rate_limit.policies.insert(
        name.to_owned(),
        PolicyConfig {
            windows: vec![Window { limit, seconds }],
        },
    );
}

#[tokio::test]
async fn token_answers_carry_the_headers_and_remaining_decreases() {
    let (app, _clock) = spawn(|_| {}).await;
    let (id, secret) = new_client(&app, "headers").await;
    let minute_end = u64::try_from(start().timestamp()).unwrap() + 50;

    let first = token(&app, &id, &secret).await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        header(&first, "ratelimit-policy"),
        Some("300;w=60, 10000;w=86400")
    );
    assert_eq!(num(&first, "ratelimit-limit"), 300);
    assert_eq!(num(&first, "ratelimit-remaining"), 299);
    assert_eq!(num(&first, "ratelimit-reset"), 50);
    assert_eq!(num(&first, "x-ratelimit-limit"), 300);
    assert_eq!(num(&first, "x-ratelimit-remaining"), 299);
    assert_eq!(num(&first, "x-ratelimit-reset"), minute_end);
    assert_eq!(header(&first, "retry-after"), None);
    assert_eq!(header(&first, "cache-control"), Some("no-store"));

    let second = token(&app, &id, &secret).await;
    assert_eq!(second.status(), 200);
    assert_eq!(num(&second, "ratelimit-remaining"), 298);
    assert_eq!(num(&second, "x-ratelimit-remaining"), 298);

    // An answer before the client is known (bad secret) carries the per-IP token policy.
    let failed = token(&app, &id, "wrong-secret").await;
    assert_eq!(failed.status(), 401);
    assert_eq!(header(&failed, "ratelimit-policy"), Some("600;w=60"));
    assert_eq!(num(&failed, "ratelimit-remaining"), 597);

    // Endpoints that are not limited carry no rate-limit headers.
    let jwks = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    assert_eq!(header(&jwks, "ratelimit-policy"), None);
}

/// Later token answers copy the first answer's headers with the counts re-rendered: every
/// answer has the same headers, each client's own counts, and its own token.
#[tokio::test]
async fn every_token_answer_has_the_same_headers_and_its_own_counts() {
    let (app, clock) = spawn(|_| {}).await;
    let a = new_client(&app, "a").await;
    let b = new_client(&app, "b").await;
    let mut tokens = Vec::new();
    for round in 0..3u64 {
        for (id, secret) in [&a, &b] {
            let res = token(&app, id, secret).await;
            assert_eq!(res.status(), 200);
            let names: Vec<&str> = res
                .headers()
                .keys()
                .map(http::HeaderName::as_str)
                .filter(|n| !["date", "content-length"].contains(n))
                .collect();
            assert_eq!(
                names,
                [
                    "content-type",
                    "cache-control",
                    "pragma",
                    "ratelimit-policy",
                    "ratelimit-limit",
                    "ratelimit-remaining",
                    "ratelimit-reset",
                    "x-ratelimit-limit",
                    "x-ratelimit-remaining",
                    "x-ratelimit-reset",
                    "x-content-type-options",
                    "x-frame-options",
                    "referrer-policy",
                ]
            );
            assert_eq!(header(&res, "content-type"), Some("application/json"));
            assert_eq!(header(&res, "pragma"), Some("no-cache"));
            assert_eq!(num(&res, "ratelimit-remaining"), 299 - round);
            assert_eq!(num(&res, "x-ratelimit-remaining"), 299 - round);
            assert_eq!(num(&res, "ratelimit-reset"), 50 - round);
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["token_type"], "Bearer");
            tokens.push(body["access_token"].as_str().unwrap().to_owned());
        }
        clock.advance(chrono::Duration::seconds(1));
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 6);
}

#[tokio::test]
async fn the_fourth_token_request_of_a_three_per_minute_tier_is_429() {
    let (app, clock) = spawn(|c| tiny_policy(c, "default", 3, 60)).await;
    let (id, secret) = new_client(&app, "tiny").await;
    for expected in [2, 1, 0] {
        let res = token(&app, &id, &secret).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit-policy"), Some("3;w=60"));
        assert_eq!(num(&res, "ratelimit-remaining"), expected);
    }

    let refused = token(&app, &id, &secret).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "ratelimit-policy"), Some("3;w=60"));
    assert_eq!(num(&refused, "ratelimit-limit"), 3);
    assert_eq!(num(&refused, "ratelimit-remaining"), 0);
    assert_eq!(num(&refused, "x-ratelimit-remaining"), 0);
    let retry_after = num(&refused, "retry-after");
    let reset = num(&refused, "ratelimit-reset");
    assert!(
        retry_after >= reset,
        "Retry-After {retry_after} < reset {reset}"
    );
    assert_eq!(retry_after, 50);
    assert_eq!(header(&refused, "cache-control"), Some("no-store"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(body["policy"], "default");
    assert_eq!(body["retry_after"], 50);
    assert_eq!(
        body["message"],
        "Rate limit exceeded for policy default: 3 requests per 60 seconds"
    );

    // Other clients have their own bucket.
    let other = token(&app, &app.admin_id, &app.admin_secret).await;
    assert_eq!(other.status(), 200);

    // When the window has passed, the client is admitted again.
    clock.advance(chrono::Duration::seconds(50));
    let again = token(&app, &id, &secret).await;
    assert_eq!(again.status(), 200);
    assert_eq!(num(&again, "ratelimit-remaining"), 2);
    assert_eq!(num(&again, "ratelimit-reset"), 60);
}

#[tokio::test]
async fn the_per_ip_token_policy_counts_every_attempt_from_one_address() {
    let (app, _clock) = spawn(|c| {
        tiny_policy(c, "tiny-ip", 4, 3600);
        c.rate_limit.per_ip.token = "tiny-ip".into();
    })
    .await;
    let (id, secret) = new_client(&app, "second").await;
    let admin = (app.admin_id.clone(), app.admin_secret.clone());

    let a = token(&app, &admin.0, &admin.1).await;
    assert_eq!(a.status(), 200);
    // The per-IP policy is the more restrictive here, so its headers are shown.
    assert_eq!(header(&a, "ratelimit-policy"), Some("4;w=3600"));
    assert_eq!(num(&a, "ratelimit-remaining"), 3);
    assert_eq!(token(&app, &id, "wrong").await.status(), 401);
    assert_eq!(token(&app, &id, &secret).await.status(), 200);
    // A malformed request counts too.
    let malformed = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "text/plain")
        .body("grant_type")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(num(&malformed, "ratelimit-remaining"), 0);

    let refused = token(&app, &id, &secret).await;
    assert_eq!(refused.status(), 429);
    assert!(num(&refused, "retry-after") >= num(&refused, "ratelimit-reset"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["policy"], "tiny-ip");
    assert_eq!(body["error"], "rate_limited");
}

#[tokio::test]
async fn the_eleventh_registration_from_one_address_within_an_hour_is_429() {
    let (app, _clock) = spawn(|_| {}).await;
    let register = |i: usize| {
        app.http
            .post(app.url("/oauth/register"))
            .json(&json!({
                "client_name": format!("agent {i}"),
                "redirect_uris": ["http://127.0.0.1:7000/callback"],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "none",
            }))
            .send()
    };
    for i in 0..10 {
        let res = register(i).await.unwrap();
        assert_ne!(res.status(), 429, "attempt {i}");
        assert_eq!(header(&res, "ratelimit-policy"), Some("10;w=3600"));
        assert_eq!(num(&res, "ratelimit-limit"), 10);
        assert_eq!(num(&res, "ratelimit-remaining"), 9 - i as u64);
        assert_eq!(num(&res, "ratelimit-reset"), 3590);
        assert_eq!(num(&res, "x-ratelimit-remaining"), 9 - i as u64);
    }
    let refused = register(10).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "ratelimit-policy"), Some("10;w=3600"));
    assert_eq!(num(&refused, "ratelimit-remaining"), 0);
    assert_eq!(num(&refused, "retry-after"), 3590);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(body["policy"], "registration");

    // Other endpoints are not affected by the registration policy.
    let token = token(&app, &app.admin_id, &app.admin_secret).await;
    assert_eq!(token.status(), 200);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let (app, _clock) = spawn(|c| {
        tiny_policy(c, "tiny-ip", 2, 3600);
        c.rate_limit.per_ip.token = "tiny-ip".into();
    })
    .await;
    let (id, secret) = (app.admin_id.clone(), app.admin_secret.clone());
    // Spoofed, different addresses: still one bucket (the TCP peer's).
    for (spoof, status) in [
        ("203.0.113.1", 200),
        ("203.0.113.2", 200),
        ("203.0.113.3", 429),
    ] {
        let res = token_from(&app, &id, &secret, Some(spoof)).await;
        assert_eq!(res.status(), status, "{spoof}");
    }
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_is_honoured() {
    let (app, _clock) = spawn(|c| {
        tiny_policy(c, "tiny-ip", 2, 3600);
        c.rate_limit.per_ip.token = "tiny-ip".into();
        c.http.trusted_proxies = vec!["127.0.0.0/8".into(), "::1".into()];
    })
    .await;
    let (id, secret) = (app.admin_id.clone(), app.admin_secret.clone());
    // Every address has its own bucket.
    for spoof in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let res = token_from(&app, &id, &secret, Some(spoof)).await;
        assert_eq!(res.status(), 200, "{spoof}");
        assert_eq!(num(&res, "ratelimit-remaining"), 1, "{spoof}");
    }
    // The right-most address that is not a trusted proxy is the client.
    let res = token_from(
        &app,
        &id,
        &secret,
        Some("198.51.100.9, 203.0.113.1, 127.0.0.5"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(num(&res, "ratelimit-remaining"), 0);
    let res = token_from(&app, &id, &secret, Some("203.0.113.1")).await;
    assert_eq!(res.status(), 429);
    // Garbage from the trusted proxy falls back to the proxy itself.
    assert_eq!(
        token_from(&app, &id, &secret, Some("not an address"))
            .await
            .status(),
        200
    );
    assert_eq!(token(&app, &id, &secret).await.status(), 200);
    assert_eq!(token(&app, &id, &secret).await.status(), 429);
}

#[tokio::test]
async fn structured_header_style() {
    let (app, _clock) = spawn(|c| {
        c.rate_limit.header_style = castellan_limit::HeaderStyle::Structured;
    })
    .await;
    let (id, secret) = new_client(&app, "structured").await;
    let res = token(&app, &id, &secret).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "ratelimit-policy"),
        Some("\"default\";q=300;w=60, \"default\";q=10000;w=86400")
    );
    assert_eq!(header(&res, "ratelimit"), Some("\"default\";r=299;t=50"));
    let again = token(&app, &id, &secret).await;
    assert_eq!(header(&again, "ratelimit"), Some("\"default\";r=298;t=50"));
    assert_eq!(num(&again, "x-ratelimit-remaining"), 298);
    assert_eq!(header(&res, "ratelimit-limit"), None);
    assert_eq!(header(&res, "ratelimit-remaining"), None);
    assert_eq!(num(&res, "x-ratelimit-limit"), 300);
    assert_eq!(num(&res, "x-ratelimit-remaining"), 299);
    assert_eq!(
        num(&res, "x-ratelimit-reset"),
        u64::try_from(start().timestamp()).unwrap() + 50
    );
}

#[tokio::test]
async fn metrics_expose_the_backend_failure_counter() {
    let (app, _clock) = spawn(|_| {}).await;
    let res = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("castellan_rate_limit_backend_failures_total"),
        "{body}"
    );
}
