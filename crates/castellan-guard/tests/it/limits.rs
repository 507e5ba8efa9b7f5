//! The guard's rate limits, as forward-auth counts them: per client (and person) for access
//! tokens, per API key under its tier, only once the route policy allows the call, with the
//! same `RateLimit-*` headers and 429/503 answers; in process, and in Redis shared by two
//! guards.
//!
//! The Redis tests need `CASTELLAN_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`, as `.ci/run`
//! sets it): set and unreachable, they fail; unset, they print a notice and pass. Each uses a
//! key prefix of its own.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::{bearer, guard_config, serve, with_introspection};
use castellan_guard::example::catalog_router;
use castellan_guard::{Guard, GuardConfig};
use castellan_limit::{Backend, FailureMode, PolicyConfig, RateLimitConfig, RedisUrl, Window};
use castellan_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A `[rate_limit]` table whose tier `default` admits `limit` calls a year (no window boundary
/// falls inside a test), and tier `partner` one call a year, tier `internal` not limited.
fn table(limit: u64) -> RateLimitConfig {
    let mut t = RateLimitConfig::default();
    let year = |limit| PolicyConfig {
        windows: vec![Window {
            limit,
            seconds: 31_536_000,
        }],
    };
    t.policies.insert("burst".into(), year(limit));
    t.policies.insert("partner".into(), year(1));
    t.tiers.insert("default".into(), "burst".into());
    t.tiers.insert("partner".into(), "partner".into());
    t.tiers.insert("internal".into(), "off".into());
    t
}

fn limited(app: &TestApp, limit: u64) -> GuardConfig {
    let mut c = guard_config(app);
    with_introspection(&mut c, app, None);
    c.rate_limit = Some(table(limit));
    c
}

async fn reader(app: &TestApp) -> String {
    let c = app
        .create_client(json!({"name": "reader", "scope": "products:read"}))
        .await;
    app.token_for(
        c["id"].as_str().unwrap(),
        c["secret"].as_str().unwrap(),
        None,
    )
    .await
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_token_is_counted_per_client_and_refused_with_429_once_used_up() {
    let app = TestApp::spawn().await;
    let base = serve(catalog_router(Guard::new(limited(&app, 2)).unwrap())).await;
    let token = reader(&app).await;
    let http = reqwest::Client::new();
    // A refusal by the route policy (no products:write) is not counted, nor is an anonymous
    // call of the public route.
    let res = bearer(http.post(format!("{base}/products")), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&res, "ratelimit-limit"), None);
    let res = http
        .get(format!("{base}/catalog/search"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "ratelimit-policy"), None);
    for remaining in ["1", "0"] {
        let res = bearer(http.get(format!("{base}/products")), &token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header(&res, "ratelimit-policy").as_deref(),
            Some("2;w=31536000")
        );
        assert_eq!(header(&res, "ratelimit-limit").as_deref(), Some("2"));
        assert_eq!(
            header(&res, "ratelimit-remaining").as_deref(),
            Some(remaining)
        );
        assert_eq!(
            header(&res, "x-ratelimit-remaining").as_deref(),
            Some(remaining)
        );
    }
    let res = bearer(http.get(format!("{base}/products")), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&res, "retry-after").is_some());
    assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header(&res, "ratelimit-remaining").as_deref(), Some("0"));
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"], "rate_limited");
    assert_eq!(b["policy"], "burst");
    assert!(b["retry_after"].as_u64().unwrap() > 0);
    // Another client has its own count.
    let other = reader(&app).await;
    let res = bearer(http.get(format!("{base}/products")), &other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_api_key_is_counted_under_the_tier_introspection_names() {
    let app = TestApp::spawn_with(|c| c.rate_limit = table(100)).await;
    let base = serve(catalog_router(Guard::new(limited(&app, 100)).unwrap())).await;
    let manager = app
        .create_client(
            json!({"name": "keys", "scope": "manage_api_keys view_api_keys products:read"}),
        )
        .await;
    let token = app
        .token_for(
            manager["id"].as_str().unwrap(),
            manager["secret"].as_str().unwrap(),
            None,
        )
        .await;
    let http = reqwest::Client::new();
    let mut keys = Vec::new();
    for tier in ["partner", "internal"] {
        let res = bearer(http.post(app.url("/api-keys")), &token)
            .json(&json!({"name": "k", "scope": "products:read", "tier": tier}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let b: Value = res.json().await.unwrap();
        keys.push(b["key"].as_str().unwrap().to_owned());
    }
    let get = |key: &str| {
        http.get(format!("{base}/products"))
            .header("X-API-Key", key)
            .send()
    };
    // Tier `partner`: one call, then 429 naming its policy.
    let res = get(&keys[0]).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "ratelimit-limit").as_deref(), Some("1"));
    let res = get(&keys[0]).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["policy"], "partner");
    // Tier `internal` is "off": never counted, no header.
    for _ in 0..3 {
        let res = get(&keys[1]).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "ratelimit-policy"), None);
    }
}

/// Parity with forward-auth: a token, JWT or opaque, is counted under its client's tier (the
/// `tier` claim Castellan writes, or introspection's `tier`), not under tier `default`.
#[tokio::test]
async fn a_token_is_counted_under_its_clients_tier() {
    let app = TestApp::spawn_with(|c| c.rate_limit = table(100)).await;
    let base = serve(catalog_router(Guard::new(limited(&app, 100)).unwrap())).await;
    let http = reqwest::Client::new();
    for format in ["jwt", "opaque"] {
        let c = app
            .create_client(json!({
                "name": "partner app",
                "scope": "products:read",
                "tier": "partner",
                "tokenFormat": format,
            }))
            .await;
        let token = app
            .token_for(
                c["id"].as_str().unwrap(),
                c["secret"].as_str().unwrap(),
                None,
            )
            .await;
        let res = bearer(http.get(format!("{base}/products")), &token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{format}");
        assert_eq!(
            header(&res, "ratelimit-limit").as_deref(),
            Some("1"),
            "{format}"
        );
        let res = bearer(http.get(format!("{base}/products")), &token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{format}");
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["policy"], "partner", "{format}");
    }
}

#[test]
fn a_bad_rate_limit_table_is_refused_naming_its_key() {
    let mut c = GuardConfig::new("http://127.0.0.1:1", castellan_core::Environment::Local);
    let mut t = RateLimitConfig::default();
    t.tiers.insert("gold".into(), "golden".into());
    c.rate_limit = Some(t);
    let e = Guard::new(c).unwrap_err();
    assert!(e.0.contains("rate_limit.tiers.gold"), "{e}");
    // The same table as TOML, as in Castellan's configuration.
    let c: GuardConfig = toml::from_str(
        r#"
        issuer = "http://127.0.0.1:1"
        environment = "local"
        [rate_limit]
        backend = "redis"
        redis_url = "redis://127.0.0.1:6379"
        redis_failure = "closed"
        [rate_limit.policies.partner]
        windows = [{ limit = 3000, seconds = 60 }]
        [rate_limit.tiers]
        partner = "partner"
        "#,
    )
    .unwrap();
    Guard::new(c).unwrap();
}

/// A key prefix no other test (or earlier run) uses.
pub(crate) fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "castellan-guard-test:{test}:{nanos}:{}:{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[expect(clippy::print_stderr, reason = "says why the Redis tests did not run")]
pub(crate) fn redis_url() -> Option<String> {
    let url = std::env::var("CASTELLAN_TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("CASTELLAN_TEST_REDIS_URL not set; the guard's shared-Redis tests not run");
    }
    url
}

pub(crate) fn on_redis(t: &mut RateLimitConfig, url: &str, prefix: &str, failure: FailureMode) {
    t.backend = Backend::Redis;
    t.redis_url = Some(RedisUrl(url.to_owned()));
    t.redis_failure = failure;
    // A first check waits for the connection; generous for a loaded test machine.
    t.redis_timeout_ms = 2_000;
    prefix.clone_into(&mut t.redis_key_prefix);
}

#[tokio::test]
async fn two_guards_sharing_redis_share_the_count() {
    let Some(url) = redis_url() else { return };
    let app = TestApp::spawn().await;
    let prefix = unique_prefix("shared");
    let mut bases = Vec::new();
    for _ in 0..2 {
        let mut c = limited(&app, 3);
        on_redis(
            c.rate_limit.get_or_insert_with(RateLimitConfig::default),
            &url,
            &prefix,
            FailureMode::Closed,
        );
        bases.push(serve(catalog_router(Guard::new(c).unwrap())).await);
    }
    let token = reader(&app).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..5 {
        let res = bearer(http.get(format!("{}/products", bases[i % 2])), &token)
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    // Three calls in all, whichever guard answered them.
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn an_unreachable_redis_under_fail_closed_is_503_never_a_pass() {
    let app = TestApp::spawn().await;
    let mut c = limited(&app, 3);
    on_redis(
        c.rate_limit.get_or_insert_with(RateLimitConfig::default),
        "redis://127.0.0.1:1",
        &unique_prefix("closed"),
        FailureMode::Closed,
    );
    if let Some(t) = c.rate_limit.as_mut() {
        t.redis_timeout_ms = 200;
    }
    let base = serve(catalog_router(Guard::new(c).unwrap())).await;
    let token = reader(&app).await;
    let res = bearer(
        reqwest::Client::new().get(format!("{base}/products")),
        &token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&res, "retry-after").is_some());
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"], "temporarily_unavailable");
    assert_eq!(b["policy"], "burst");
}
