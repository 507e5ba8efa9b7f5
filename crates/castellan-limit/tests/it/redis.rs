//! The Redis limiter against a real Redis, run when `CASTELLAN_TEST_REDIS_URL` is set (e.g.
//! `redis://127.0.0.1:6379`). If it is set and Redis is unreachable these tests fail; they
//! never skip silently. Each test uses its own key prefix so tests do not interfere.

// Test helpers may unwrap: a panic there is a failed assertion with a clear location.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use castellan_limit::{
    FailureMode, Limiter, Outcome, Policy, RedisLimiter, RedisSettings, RedisUrl, Window,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[expect(clippy::print_stderr, reason = "says why the Redis tests did not run")]
fn redis_url() -> Option<String> {
    let url = std::env::var("CASTELLAN_TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("CASTELLAN_TEST_REDIS_URL not set; Redis tests not run");
    }
    url
}

/// A prefix no other test (or earlier run) uses.
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

fn settings(url: &str, prefix: &str, failure: FailureMode, timeout_ms: u64) -> RedisSettings {
    RedisSettings {
        url: RedisUrl(url.to_owned()),
        failure,
        timeout: Duration::from_millis(timeout_ms),
        key_prefix: prefix.to_owned(),
    }
}

async fn raw_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("CASTELLAN_TEST_REDIS_URL is set but Redis is unreachable")
}

/// A window of one year: no boundary falls inside a test run, so exact counts are stable.
fn year_policy(limit: u64) -> Policy {
    Policy::new("conc", vec![Window::new(limit, 31_536_000)]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_together_admit_no_more_than_the_limit() {
    let Some(url) = redis_url() else { return };
    raw_connection(&url).await;
    let prefix = unique_prefix("conc");
    // Closed, with a generous timeout: a failure could then only lower the admitted count,
    // and the test also asserts there were none.
    let a = RedisLimiter::new(&settings(&url, &prefix, FailureMode::Closed, 5_000)).unwrap();
    let b = RedisLimiter::new(&settings(&url, &prefix, FailureMode::Closed, 5_000)).unwrap();
    let policy = std::sync::Arc::new(year_policy(150));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..400 {
        let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
        let policy = std::sync::Arc::clone(&policy);
        tasks.spawn(async move { limiter.check(&policy, "shared-key").await });
    }
    let mut admitted = 0;
    while let Some(d) = tasks.join_next().await {
        let d = d.unwrap();
        assert!(!d.is_degraded(), "redis check failed: {d:?}");
        if d.allowed {
            admitted += 1;
        } else {
            assert_eq!(d.outcome, Outcome::Limited);
            assert_eq!(d.windows[0].remaining, 0);
        }
    }
    assert_eq!(admitted, 150);
    assert_eq!(a.failures() + b.failures(), 0);
}

#[tokio::test]
async fn keys_carry_ttls_no_longer_than_their_window() {
    let Some(url) = redis_url() else { return };
    let mut raw = raw_connection(&url).await;
    let prefix = unique_prefix("ttl");
    let limiter = RedisLimiter::new(&settings(&url, &prefix, FailureMode::Closed, 2_000)).unwrap();
    let policy = Policy::new("ttl", vec![Window::new(5, 60), Window::new(10, 3_600)]).unwrap();
    let d = limiter.check(&policy, "203.0.113.9").await;
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.windows[0].remaining, 4);
    assert_eq!(d.windows[1].remaining, 9);
    for (seconds, limit_ms) in [(60, 60_000), (3_600, 3_600_000)] {
        let key = format!("{prefix}:{{ttl:203.0.113.9}}:{seconds}");
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(pttl > 0 && pttl <= limit_ms, "{key}: pttl {pttl}");
        let count: i64 = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(count, 1);
    }
    // A hostile key is stored under a fixed-size digest.
    let long = "k".repeat(5_000);
    assert!(limiter.check(&policy, &long).await.allowed);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys.len(), 4);
    assert!(keys.iter().all(|k| k.len() < prefix.len() + 60), "{keys:?}");
}

#[tokio::test]
async fn refused_checks_do_not_consume_in_redis() {
    let Some(url) = redis_url() else { return };
    raw_connection(&url).await;
    let prefix = unique_prefix("refuse");
    let limiter = RedisLimiter::new(&settings(&url, &prefix, FailureMode::Closed, 2_000)).unwrap();
    let policy = Policy::new(
        "refuse",
        vec![Window::new(100, 31_536_000), Window::new(2, 31_535_999)],
    )
    .unwrap();
    assert!(limiter.check(&policy, "k").await.allowed);
    assert!(limiter.check(&policy, "k").await.allowed);
    for _ in 0..5 {
        let d = limiter.check(&policy, "k").await;
        assert_eq!(d.outcome, Outcome::Limited);
        assert_eq!(d.windows[0].remaining, 98);
        assert_eq!(d.restrictive_index, 1);
        assert!(d.retry_after_seconds.unwrap() >= d.windows[1].reset_after_seconds);
    }
}

#[tokio::test]
async fn unreachable_redis_fails_open_or_closed_within_the_timeout() {
    // Port 1 is closed: connection refused.
    let url = "redis://127.0.0.1:1";
    let policy = Policy::default_tier();
    for (mode, allowed, outcome) in [
        (FailureMode::Open, true, Outcome::FailedOpen),
        (FailureMode::Closed, false, Outcome::FailedClosed),
    ] {
        let limiter = RedisLimiter::new(&settings(url, "castellan-test:down", mode, 50)).unwrap();
        for i in 0..20 {
            let started = Instant::now();
            let d = limiter.check(&policy, "k").await;
            let took = started.elapsed();
            assert!(took < Duration::from_millis(500), "check {i} took {took:?}");
            assert_eq!(d.allowed, allowed);
            assert_eq!(d.outcome, outcome);
            assert!(d.is_degraded());
            assert_eq!(d.retry_after_seconds.is_some(), !allowed);
        }
        assert_eq!(limiter.failures(), 20);
    }
    // Through the enum as well, and a blackholed address (TEST-NET-1) times out instead.
    let limiter = Limiter::Redis(
        RedisLimiter::new(&settings(
            "redis://192.0.2.1:6379",
            "castellan-test:down",
            FailureMode::Closed,
            50,
        ))
        .unwrap(),
    );
    let started = Instant::now();
    let d = limiter.check(&policy, "k").await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(d.outcome, Outcome::FailedClosed);
    assert_eq!(limiter.backend_failures(), 1);
}

/// One check = one client command (`EVALSHA`), observed with `MONITOR`: lines executed inside
/// the script are marked `[... lua]` and are not round trips.
#[tokio::test]
async fn each_check_is_exactly_one_evalsha_round_trip() {
    let Some(url) = redis_url() else { return };
    let mut raw = raw_connection(&url).await;
    let prefix = unique_prefix("rtt");
    let limiter = RedisLimiter::new(&settings(&url, &prefix, FailureMode::Closed, 2_000)).unwrap();
    let policy = Policy::default_tier();
    // Warm-up: connects and loads the script (a first EVALSHA may answer NOSCRIPT).
    assert!(!limiter.check(&policy, "warm").await.is_degraded());

    let addr = match redis::Client::open(url.as_str())
        .unwrap()
        .get_connection_info()
        .addr
        .clone()
    {
        redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
        other => panic!("unsupported test address {other:?}"),
    };
    let mut monitor = BufReader::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    monitor.get_mut().write_all(b"MONITOR\r\n").await.unwrap();
    let mut line = String::new();
    monitor.read_line(&mut line).await.unwrap();
    assert_eq!(line.trim_end(), "+OK");

    const N: usize = 25;
    for i in 0..N {
        let d = limiter.check(&policy, &format!("key{}", i % 3)).await;
        assert!(!d.is_degraded());
    }
    let sentinel = format!("{prefix}-done");
    let _: String = redis::cmd("ECHO")
        .arg(&sentinel)
        .query_async(&mut raw)
        .await
        .unwrap();

    let (mut client_commands, mut evalsha) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        line.clear();
        let read = tokio::time::timeout_at(deadline.into(), monitor.read_line(&mut line)).await;
        assert!(
            matches!(read, Ok(Ok(n)) if n > 0),
            "monitor stream ended early"
        );
        if line.contains(&sentinel) {
            break;
        }
        if line.contains(&prefix) && !line.contains(" lua]") {
            client_commands += 1;
            if line.to_ascii_uppercase().contains("\"EVALSHA\"") {
                evalsha += 1;
            }
        }
    }
    assert_eq!(client_commands, N);
    assert_eq!(evalsha, N);
}

/// A TCP relay in front of Redis that the test can cut and restore, to show the limiter
/// answers per config while Redis is gone and recovers by itself when it is back.
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
async fn recovers_by_itself_when_redis_comes_back() {
    let Some(url) = redis_url() else { return };
    raw_connection(&url).await;
    let upstream = match redis::Client::open(url.as_str())
        .unwrap()
        .get_connection_info()
        .addr
        .clone()
    {
        redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
        other => panic!("unsupported test address {other:?}"),
    };
    let relay = Relay::start(0, upstream.clone()).await;
    let relay_url = format!("redis://127.0.0.1:{}", relay.port);
    let prefix = unique_prefix("recover");
    let limiter =
        RedisLimiter::new(&settings(&relay_url, &prefix, FailureMode::Closed, 200)).unwrap();
    let policy = year_policy(1_000);
    assert_eq!(limiter.check(&policy, "k").await.outcome, Outcome::Admitted);

    let port = relay.cut().await;
    let d = limiter.check(&policy, "k").await;
    assert_eq!(d.outcome, Outcome::FailedClosed);
    assert!(limiter.failures() >= 1);

    let _relay = Relay::start(port, upstream).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = limiter.check(&policy, "k").await;
        if d.outcome == Outcome::Admitted {
            // Two admitted in all: the refusals while Redis was away consumed nothing.
            assert_eq!(d.windows[0].remaining, 998);
            break;
        }
        assert!(Instant::now() < deadline, "limiter did not recover: {d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_growing_delays_and_count_atomically() {
    let Some(url) = redis_url() else { return };
    let mut raw = raw_connection(&url).await;
    let prefix = unique_prefix("backoff");
    let a = RedisLimiter::new(&settings(&url, &prefix, FailureMode::Closed, 5_000)).unwrap();
    let b = RedisLimiter::new(&settings(&url, &prefix, FailureMode::Closed, 5_000)).unwrap();
    let account = castellan_limit::Backoff::new("t", "account", 5, 2_000, 60_000, 900_000).unwrap();
    let pair = castellan_limit::Backoff::new("t", "pair", 3, 2_000, 60_000, 900_000).unwrap();
    // Many concurrent attempts on both instances: only the pair's free ones pass.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (account, pair) = (account.clone(), pair.clone());
        tasks.spawn(async move {
            limiter
                .attempt("ann@example.com", &[(&account, ""), (&pair, "192.0.2.1")])
                .await
        });
    }
    let mut passed = 0;
    while let Some(d) = tasks.join_next().await {
        let d = d.unwrap();
        assert_ne!(d.outcome, Outcome::FailedClosed, "redis failed: {d:?}");
        if d.allowed {
            passed += 1;
        } else {
            assert_eq!(d.retry_after_seconds, Some(2), "{d:?}");
            assert_eq!(d.rule.as_deref(), Some("pair"));
        }
    }
    assert_eq!(passed, 3);
    // The refusals were counted under no rule: two more addresses pass, then the account's
    // own delay holds a fresh address too.
    for ip in ["192.0.2.2", "192.0.2.3"] {
        assert!(
            a.attempt("ann@example.com", &[(&account, ""), (&pair, ip)])
                .await
                .allowed
        );
    }
    let d = b
        .attempt("ann@example.com", &[(&account, ""), (&pair, "192.0.2.4")])
        .await;
    assert!(!d.allowed);
    assert_eq!(d.rule.as_deref(), Some("account"));
    // Keys expire on their own, within the delay plus the memory.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for k in &keys {
        let pttl: i64 = redis::cmd("PTTL")
            .arg(k)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(pttl > 0 && pttl <= 902_000, "{k}: {pttl}");
    }
    // A success forgets the group's state on every instance.
    b.forget("ann@example.com", &[(&account, ""), (&pair, "192.0.2.1")])
        .await;
    assert!(
        a.attempt("ann@example.com", &[(&account, ""), (&pair, "192.0.2.1")])
            .await
            .allowed
    );
    assert_eq!(a.failures() + b.failures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_ids_are_first_used_once_across_instances() {
    let Some(url) = redis_url() else { return };
    raw_connection(&url).await;
    let prefix = unique_prefix("once");
    let a = RedisLimiter::new(&settings(&url, &prefix, FailureMode::Open, 5_000)).unwrap();
    let b = RedisLimiter::new(&settings(&url, &prefix, FailureMode::Open, 5_000)).unwrap();
    assert!(a.first_use(&[1; 32], 60_000).await.unwrap());
    assert!(!b.first_use(&[1; 32], 60_000).await.unwrap());
    assert!(!a.first_use(&[1; 32], 60_000).await.unwrap());
    assert!(b.first_use(&[2; 32], 60_000).await.unwrap());
    // Expired, the id may be used again.
    assert!(a.first_use(&[3; 32], 50).await.unwrap());
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(b.first_use(&[3; 32], 50).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_ids_fail_closed_even_when_limits_fail_open() {
    // Nothing listens on port 1: the check is an error, never a silent pass.
    let open = RedisLimiter::new(&settings(
        "redis://127.0.0.1:1",
        "castellan-test:closed",
        FailureMode::Open,
        200,
    ))
    .unwrap();
    assert!(open.first_use(&[1; 32], 60_000).await.is_err());
    assert!(open.failures() >= 1);
}
