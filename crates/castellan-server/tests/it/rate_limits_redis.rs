//! Rate limits on the Redis backend over HTTP.
//!
//! With `CASTELLAN_TEST_REDIS_URL` set (e.g. `redis://127.0.0.1:6379`): two servers sharing one
//! Redis admit no more than the limit in total, and a server recovers by itself when Redis
//! comes back. If the variable is set and Redis is unreachable, these tests fail; unset, they
//! print a notice and pass. The unreachable-Redis tests (a closed port) always run: fail open
//! still issues tokens, fail closed answers 503 on limited endpoints only, never a 500.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_limit::{Backend, FailureMode, PolicyConfig, RedisUrl, Window};
use castellan_server::management::clients::{build_client, ClientDraft};
use castellan_server::platform::config::Config;
use castellan_testkit::TestApp;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A port nothing listens on.
const CLOSED: &str = "redis://127.0.0.1:1";

#[expect(clippy::print_stderr, reason = "says why the Redis tests did not run")]
fn redis_url() -> Option<String> {
    let url = std::env::var("CASTELLAN_TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("CASTELLAN_TEST_REDIS_URL not set; shared-Redis tests not run");
    }
    url
}

/// `host:port` of a Redis URL.
fn redis_addr(url: &str) -> String {
    let u = url::Url::parse(url).expect("CASTELLAN_TEST_REDIS_URL is a URL");
    format!(
        "{}:{}",
        u.host_str().expect("host"),
        u.port().unwrap_or(6379)
    )
}

/// Fails the test unless Redis answers `PING`.
async fn require_redis(url: &str) {
    let addr = redis_addr(url);
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| {
            panic!("CASTELLAN_TEST_REDIS_URL is set but {addr} is unreachable: {e}")
        });
    s.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("Redis did not answer PING")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"+PONG"),
        "Redis answered {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

/// A key prefix no other test (or earlier run) uses.
fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "castellan-test:{test}:{nanos}:{}:{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn use_redis(c: &mut Config, url: &str, prefix: &str, failure: FailureMode, timeout_ms: u64) {
    c.rate_limit.backend = Backend::Redis;
    c.rate_limit.redis_url = Some(RedisUrl(url.to_owned()));
    c.rate_limit.redis_failure = failure;
    c.rate_limit.redis_timeout_ms = timeout_ms;
    prefix.clone_into(&mut c.rate_limit.redis_key_prefix);
}

/// Tier `default` on a policy of `limit` per year: no window boundary falls inside a test, so
/// counts are exact.
fn year_tier(c: &mut Config, limit: u64) {
    c.rate_limit.policies.insert(
        "burst".into(),
        PolicyConfig {
            windows: vec![Window {
                limit,
                seconds: 31_536_000,
            }],
        },
    );
    c.rate_limit.tiers.insert("default".into(), "burst".into());
}

async fn token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> reqwest::Response {
    http.post(format!("{base}/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http.get(app.url(path)).send().await.unwrap()
}

async fn backend_failures(app: &TestApp) -> u64 {
    let body = get(app, "/metrics").await.text().await.unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix("castellan_rate_limit_backend_failures_total "))
        .unwrap_or_else(|| panic!("no failure counter in {body}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_sharing_redis_admit_no_more_than_the_limit_in_total() {
    let Some(url) = redis_url() else { return };
    require_redis(&url).await;
    let prefix = unique_prefix("shared");
    // Closed, with a generous timeout: a Redis failure could only lower the admitted count.
    let edit = |c: &mut Config| {
        use_redis(c, &url, &prefix, FailureMode::Closed, 5_000);
        year_tier(c, 20);
    };
    let a = TestApp::spawn_with(edit).await;
    let b = TestApp::spawn_with(edit).await;

    // One client known to both servers (each has its own database).
    let draft = ClientDraft {
        name: "shared".into(),
        ..ClientDraft::default()
    };
    let (client, secret) = build_client(draft, &a.state.config, a.state.clock.now()).unwrap();
    a.store.insert_client(&client).await.unwrap();
    b.store.insert_client(&client).await.unwrap();
    let secret = secret.unwrap().into_exposed();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let app = if i % 2 == 0 { &a } else { &b };
        let (http, base) = (app.http.clone(), app.base.clone());
        let (id, secret) = (client.id.clone(), secret.clone());
        tasks.spawn(async move {
            let res = token(&http, &base, &id, &secret).await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body)
        });
    }
    let (mut admitted, mut refused) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (status, body) = r.unwrap();
        match status {
            200 => admitted += 1,
            429 => {
                assert_eq!(body["policy"], "burst", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(admitted, 20, "admitted across both servers");
    assert_eq!(refused, 40);

    // Either server now refuses the client, and reports the shared count.
    for app in [&a, &b] {
        let res = token(&app.http, &app.base, &client.id, &secret).await;
        assert_eq!(res.status(), 429);
        assert_eq!(
            res.headers()["ratelimit-policy"].to_str().unwrap(),
            "20;w=31536000"
        );
        assert_eq!(res.headers()["ratelimit-remaining"].to_str().unwrap(), "0");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_sharing_redis_share_the_sign_in_delays() {
    let Some(url) = redis_url() else { return };
    require_redis(&url).await;
    let prefix = unique_prefix("login-delay");
    let edit = |c: &mut Config| {
        use_redis(c, &url, &prefix, FailureMode::Closed, 5_000);
        // A first delay long enough not to run out while the first attempts are checked.
        c.pages.login_throttle.first_delay_seconds = 2;
        // Room under the per-IP policy for every attempt below: only the delays refuse.
        c.rate_limit.policies.insert(
            "login".into(),
            PolicyConfig {
                windows: vec![Window {
                    limit: 1_000,
                    seconds: 60,
                }],
            },
        );
    };
    let a = TestApp::spawn_with(edit).await;
    let b = TestApp::spawn_with(edit).await;
    // One password-grant client and one person known to both servers.
    let draft = ClientDraft {
        name: "first party".into(),
        grant_types: Some(vec!["password".into()]),
        ..ClientDraft::default()
    };
    let (client, secret) = build_client(draft, &a.state.config, a.state.clock.now()).unwrap();
    let secret = secret.unwrap().into_exposed();
    let person = castellan_core::user::User {
        id: "usr_shared_delay".into(),
        email: "dee@example.com".into(),
        name: "Dee".into(),
        password_hash: castellan_server::people::passwords::hash_password(
            castellan_core::Secret::new("correct horse battery"),
        )
        .await
        .unwrap(),
        created_at: chrono::Utc::now(),
        is_admin: false,
        disabled_at: None,
        email_verified_at: None,
    };
    for app in [&a, &b] {
        app.store.insert_client(&client).await.unwrap();
        app.store.insert_user(&person).await.unwrap();
    }
    let attempt = |app: &TestApp, password: &str| {
        let (http, base) = (app.http.clone(), app.base.clone());
        let (id, secret, password) = (client.id.clone(), secret.clone(), password.to_owned());
        async move {
            let res = http
                .post(format!("{base}/oauth/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[
                    ("grant_type", "password"),
                    ("username", "dee@example.com"),
                    ("password", password.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, retry)
        }
    };
    // 16 concurrent wrong guesses split over both servers: the 5 free ones are checked in
    // total, not per server.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        tasks.spawn(attempt(
            if i % 2 == 0 { &a } else { &b },
            &format!("guess {i}"),
        ));
    }
    let (mut checked, mut delayed) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            (400, _) => checked += 1,
            (429, Some(_)) => delayed += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((checked, delayed), (5, 11));
    // The delay holds on both servers, the right password too; after it, one more attempt
    // passes and the next delay is twice as long, on either server.
    let mut wait = 0;
    for app in [&a, &b] {
        let (status, retry) = attempt(app, "correct horse battery").await;
        assert_eq!(status, 429);
        wait = retry.unwrap().parse::<u64>().unwrap();
        assert!((1..=2).contains(&wait), "{wait}");
    }
    tokio::time::sleep(Duration::from_millis(wait * 1_000 + 100)).await;
    assert_eq!(attempt(&b, "still wrong").await.0, 400);
    let (status, retry) = attempt(&a, "correct horse battery").await;
    assert_eq!(status, 429);
    let wait = retry.unwrap().parse::<u64>().unwrap();
    assert!((3..=4).contains(&wait), "twice the first: {wait}");
    tokio::time::sleep(Duration::from_millis(wait * 1_000 + 100)).await;
    assert_eq!(attempt(&a, "correct horse battery").await.0, 200);
    // The success cleared the shared counts: the other server checks again at once.
    assert_eq!(attempt(&b, "wrong again").await.0, 400);
}

#[tokio::test]
async fn unreachable_redis_failing_open_still_issues_tokens() {
    let prefix = unique_prefix("open");
    let app = TestApp::spawn_with(|c| use_redis(c, CLOSED, &prefix, FailureMode::Open, 50)).await;
    for _ in 0..3 {
        let res = token(&app.http, &app.base, &app.admin_id, &app.admin_secret).await;
        assert_eq!(res.status(), 200);
        // Counters are unknown: only the policy is announced.
        assert_eq!(
            res.headers()["ratelimit-policy"].to_str().unwrap(),
            "300;w=60, 10000;w=86400"
        );
        assert!(res.headers().get("ratelimit-remaining").is_none());
        assert!(res.headers().get("retry-after").is_none());
    }
    assert!(backend_failures(&app).await >= 1);
}

/// Failing open lets requests through uncounted, but never sign-in guesses: while Redis
/// cannot be asked, each server counts them itself under the same growing delays.
#[tokio::test]
async fn unreachable_redis_failing_open_still_delays_sign_in_guesses() {
    let prefix = unique_prefix("open-login");
    let app = TestApp::spawn_with(|c| use_redis(c, CLOSED, &prefix, FailureMode::Open, 50)).await;
    let draft = ClientDraft {
        name: "first party".into(),
        grant_types: Some(vec!["password".into()]),
        ..ClientDraft::default()
    };
    let (client, secret) = build_client(draft, &app.state.config, app.state.clock.now()).unwrap();
    let secret = secret.unwrap().into_exposed();
    app.store.insert_client(&client).await.unwrap();
    let guess = |password: &'static str| {
        let (http, base, id, secret) = (
            app.http.clone(),
            app.base.clone(),
            client.id.clone(),
            secret.clone(),
        );
        async move {
            http.post(format!("{base}/oauth/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[
                    ("grant_type", "password"),
                    ("username", "fay@example.com"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..5 {
        assert_eq!(guess("wrong").await.status(), 400);
    }
    let delayed = guess("wrong").await;
    assert_eq!(delayed.status(), 429);
    assert!(delayed.headers().contains_key("retry-after"));
    assert!(backend_failures(&app).await >= 1);
}

#[tokio::test]
async fn unreachable_redis_failing_closed_answers_503_on_limited_endpoints_only() {
    let prefix = unique_prefix("closed");
    let app = TestApp::spawn_with(|c| use_redis(c, CLOSED, &prefix, FailureMode::Closed, 50)).await;

    let res = token(&app.http, &app.base, &app.admin_id, &app.admin_secret).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["ratelimit-policy"], "600;w=60");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(body["policy"], "token");

    let res = app
        .http
        .post(app.url("/oauth/register"))
        .json(&json!({"redirect_uris": ["http://127.0.0.1:7000/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);

    for path in [
        "/healthz",
        "/readyz",
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/metrics",
    ] {
        assert_eq!(get(&app, path).await.status(), 200, "{path}");
    }
    // Unlimited OAuth endpoints answer their own errors, not a 5xx.
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    assert!(backend_failures(&app).await >= 1);
}

/// A TCP relay in front of Redis that the test can cut and restore.
struct Relay {
    port: u16,
    tasks: tokio::task::JoinSet<()>,
}

impl Relay {
    async fn start(port: u16, upstream: String) -> Relay {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut down, _)) = listener.accept().await {
                let upstream = upstream.clone();
                conns.spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
            }
        });
        Relay { port, tasks }
    }

    async fn cut(mut self) -> u16 {
        // Aborting the accept task drops its JoinSet, which aborts every relayed connection.
        self.tasks.shutdown().await;
        self.port
    }
}

#[tokio::test]
async fn the_server_recovers_by_itself_when_redis_comes_back() {
    let Some(url) = redis_url() else { return };
    require_redis(&url).await;
    let upstream = redis_addr(&url);
    let relay = Relay::start(0, upstream.clone()).await;
    let relay_url = format!("redis://127.0.0.1:{}", relay.port);
    let prefix = unique_prefix("recover");
    let app = TestApp::spawn_with(|c| {
        use_redis(c, &relay_url, &prefix, FailureMode::Closed, 500);
        // Below the per-IP token policy (600 a minute), so its headers are the client's.
        year_tier(c, 100);
    })
    .await;
    let (id, secret) = (app.admin_id.clone(), app.admin_secret.clone());

    let res = token(&app.http, &app.base, &id, &secret).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["ratelimit-remaining"], "99");

    let port = relay.cut().await;
    let res = token(&app.http, &app.base, &id, &secret).await;
    assert_eq!(res.status(), 503);
    assert!(get(&app, "/healthz").await.status().is_success());

    let _relay = Relay::start(port, upstream).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = token(&app.http, &app.base, &id, &secret).await;
        if res.status() == 200 {
            // The refusals while Redis was away consumed nothing.
            assert_eq!(res.headers()["ratelimit-remaining"], "98");
            break;
        }
        assert_eq!(res.status(), 503);
        assert!(Instant::now() < deadline, "the server did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
