//! Restarts mid-load: PostgreSQL and Redis stopped and started again while clients keep
//! asking. Each test starts its own PostgreSQL cluster or redis-server
//! ([`castellan_testkit::private`]), never the shared ones.
//!
//! While a service is down every answer is a success or a 503 with `Retry-After`: never a 500,
//! never a request left open past the request deadline. Once the service is back, every answer
//! is a success again without restarting Castellan.
//!
//! Runs when the PostgreSQL server binaries and `redis-server` are installed; with
//! `CASTELLAN_TEST_RESTARTS=1` (set by `.ci/run`) a missing binary fails the test.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_limit::{Backend, FailureMode, PolicyConfig, RedisUrl, Window};
use castellan_server::platform::config::Config;
use castellan_testkit::private::{Postgres, Redis};
use castellan_testkit::TestApp;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The request deadline of the servers under test (`http.request_timeout_ms`).
const DEADLINE_MS: u64 = 2000;

/// What the load asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// `client_credentials` at the token endpoint.
    Token,
    /// Introspection of a token issued before the load.
    Introspect,
    /// A page of the management API's client list (a read).
    ListClients,
    /// A new client through the management API (a write).
    CreateClient,
}

const ASKS: [Ask; 4] = [
    Ask::Token,
    Ask::Introspect,
    Ask::ListClients,
    Ask::CreateClient,
];

/// One answer of the load: what was asked, in which phase, with what status (0: no answer at
/// all within the client's own timeout), whether it said `Retry-After`, and how long it took.
#[derive(Debug, Clone)]
struct Answer {
    ask: Ask,
    phase: usize,
    status: u16,
    retry_after: bool,
    took: Duration,
}

/// Clients asking the server in a loop until stopped; each answer is recorded under the phase
/// current when its request was sent.
struct Load {
    phase: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    tasks: tokio::task::JoinSet<()>,
}

/// What each asker needs: the server, the client it authenticates as, an admin token for the
/// management API and a token to introspect.
#[derive(Clone)]
struct Target {
    base: String,
    id: String,
    secret: String,
    admin_token: String,
    introspected: String,
}

impl Load {
    async fn start(app: &TestApp, askers: usize, asks: &'static [Ask]) -> Load {
        let admin_token = app.admin_token().await;
        let target = Target {
            base: app.base.clone(),
            id: app.admin_id.clone(),
            secret: app.admin_secret.clone(),
            introspected: admin_token.clone(),
            admin_token,
        };
        let http = reqwest::Client::builder()
            // No answer within the deadline and a margin is a hang: recorded as status 0.
            .timeout(Duration::from_millis(DEADLINE_MS + 1500))
            .build()
            .unwrap();
        let load = Load {
            phase: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            answers: Arc::new(Mutex::new(Vec::new())),
            tasks: tokio::task::JoinSet::new(),
        };
        let mut load = load;
        for n in 0..askers {
            let (phase, stop, answers) = (
                Arc::clone(&load.phase),
                Arc::clone(&load.stop),
                Arc::clone(&load.answers),
            );
            let (http, target) = (http.clone(), target.clone());
            load.tasks.spawn(async move {
                let mut i = n;
                while !stop.load(Ordering::Relaxed) {
                    let ask = asks[i % asks.len()];
                    i += 1;
                    let at = phase.load(Ordering::Relaxed);
                    let start = Instant::now();
                    let (status, retry_after) = match send(&http, &target, ask, i).await {
                        Ok(res) => (
                            res.status().as_u16(),
                            res.headers().contains_key("retry-after"),
                        ),
                        Err(_) => (0, false),
                    };
                    answers.lock().unwrap().push(Answer {
                        ask,
                        phase: at,
                        status,
                        retry_after,
                        took: start.elapsed(),
                    });
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
        }
        load
    }

    fn enter(&self, phase: usize) {
        self.phase.store(phase, Ordering::Relaxed);
    }

    async fn finish(mut self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        while self.tasks.join_next().await.is_some() {}
        self.answers.lock().unwrap().clone()
    }
}

async fn send(
    http: &reqwest::Client,
    t: &Target,
    ask: Ask,
    n: usize,
) -> reqwest::Result<reqwest::Response> {
    match ask {
        Ask::Token => {
            http.post(format!("{}/oauth/token", t.base))
                .basic_auth(&t.id, Some(&t.secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
        }
        Ask::Introspect => {
            http.post(format!("{}/oauth/introspect", t.base))
                .basic_auth(&t.id, Some(&t.secret))
                .form(&[("token", t.introspected.as_str())])
                .send()
                .await
        }
        Ask::ListClients => {
            http.get(format!("{}/api-clients?limit=5", t.base))
                .bearer_auth(&t.admin_token)
                .send()
                .await
        }
        Ask::CreateClient => {
            http.post(format!("{}/api-clients", t.base))
                .bearer_auth(&t.admin_token)
                .json(&json!({"name": format!("load {n}"), "scope": "products:read"}))
                .send()
                .await
        }
    }
}

/// Every answer is `allowed`, a 503 with `Retry-After`, and came within the deadline.
fn assert_no_failure(answers: &[Answer], allowed: &[u16]) {
    let deadline = Duration::from_millis(DEADLINE_MS + 500);
    for a in answers {
        assert!(
            allowed.contains(&a.status) || (a.status == 503 && a.retry_after),
            "answer outside {allowed:?} or 503 with Retry-After: {a:?}"
        );
        assert!(a.took <= deadline, "answered past the deadline: {a:?}");
    }
}

fn in_phase(answers: &[Answer], phase: usize) -> Vec<Answer> {
    answers
        .iter()
        .filter(|a| a.phase == phase)
        .cloned()
        .collect()
}

/// Polls `ready` every 100 ms until it holds, for at most `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !ready().await {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn status_of(app: &TestApp, path: &str) -> u16 {
    app.http
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Successes each ask answers when its service is up.
const SUCCESS: [u16; 2] = [200, 201];

/// Policies roomy enough that the load itself is never refused: the per-IP `token` policy
/// and the `default` tier, each a year-long window (no window boundary inside a test).
fn roomy_limits(c: &mut Config) {
    for name in ["token", "default"] {
        c.rate_limit.policies.insert(
            name.into(),
            PolicyConfig {
                windows: vec![Window {
                    limit: 10_000_000,
                    seconds: 31_536_000,
                }],
            },
        );
    }
}

/// Failed Redis checks of this server (read from its limiter: `/metrics` publishes the
/// process-wide recorder, which every server of this test process shares).
fn redis_failures(app: &TestApp) -> u64 {
    app.state.rate_limiting.limiter.backend_failures()
}

/// The client's `RateLimit-Remaining` on one token request.
async fn remaining(app: &TestApp) -> u64 {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&app.admin_id, Some(&app.admin_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.headers()["ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Redis killed and started again (empty) under a load of token requests, introspections and
/// management reads, with `redis_failure` as given.
async fn redis_restart_under_load(failure: FailureMode) {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let url = redis.url();
    let app = TestApp::spawn_with(|c| {
        c.rate_limit.backend = Backend::Redis;
        c.rate_limit.redis_url = Some(RedisUrl(url.clone()));
        c.rate_limit.redis_failure = failure;
        c.rate_limit.redis_timeout_ms = 200;
        c.http.request_timeout_ms = DEADLINE_MS;
        roomy_limits(c);
    })
    .await;
    let load = Load::start(&app, 4, &ASKS[..3]).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    load.enter(1);
    redis.stop();
    let failures_before = redis_failures(&app);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let failures_down = redis_failures(&app);

    load.enter(2);
    tokio::task::block_in_place(|| redis.start_again());
    // Recovered once a second of load passes with no failed Redis check.
    let mut last = redis_failures(&app);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let now = redis_failures(&app);
        if now == last {
            break;
        }
        assert!(Instant::now() < deadline, "Redis checks still fail");
        last = now;
    }

    load.enter(3);
    let failures_after = redis_failures(&app);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answers = load.finish().await;
    assert_eq!(
        redis_failures(&app),
        failures_after,
        "no failed Redis check once recovered"
    );
    assert!(failures_down > failures_before, "the outage was seen");

    assert_no_failure(&answers, &SUCCESS);
    let down: Vec<Answer> = in_phase(&answers, 1)
        .into_iter()
        .filter(|a| a.ask == Ask::Token)
        .collect();
    assert!(!down.is_empty(), "tokens asked while Redis was down");
    match failure {
        // Failing open, the limited endpoint kept issuing tokens.
        FailureMode::Open => assert!(
            down.iter().all(|a| a.status == 200),
            "{:?}",
            down.iter().find(|a| a.status != 200)
        ),
        // Failing closed, it refused them 503 with Retry-After.
        FailureMode::Closed => assert!(down.iter().any(|a| a.status == 503)),
    }
    let after = in_phase(&answers, 3);
    assert!(after.iter().any(|a| a.ask == Ask::Token));
    assert!(
        after.iter().all(|a| SUCCESS.contains(&a.status)),
        "not recovered: {:?}",
        after.iter().find(|a| !SUCCESS.contains(&a.status))
    );
    // Counting in Redis works again: each token request takes one from the client's budget.
    let first = remaining(&app).await;
    assert_eq!(remaining(&app).await, first - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_under_load_failing_open_keeps_issuing_then_counts_again() {
    redis_restart_under_load(FailureMode::Open).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_under_load_failing_closed_gives_503s_then_recovers_by_itself() {
    redis_restart_under_load(FailureMode::Closed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_started_under_load_gives_503s_then_recovers_by_itself() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.url();
    let app = TestApp::spawn_with(|c| {
        c.database = url.clone().into();
        c.http.request_timeout_ms = DEADLINE_MS;
        roomy_limits(c);
    })
    .await;
    let admin_token = app.admin_token().await;
    let load = Load::start(&app, 4, &ASKS).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // Phase 1: the database is down.
    load.enter(1);
    tokio::task::block_in_place(|| pg.stop());
    assert_eq!(status_of(&app, "/readyz").await, 503);
    assert_eq!(status_of(&app, "/healthz").await, 200);
    tokio::time::sleep(Duration::from_millis(3000)).await;

    // Phase 2: the database starts again; Castellan is not restarted.
    load.enter(2);
    tokio::task::block_in_place(|| pg.start_again());
    eventually(Duration::from_secs(30), "readiness is back", || async {
        status_of(&app, "/readyz").await == 200
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Phase 3: every answer is a success again.
    load.enter(3);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answers = load.finish().await;

    let before = in_phase(&answers, 0);
    let down = in_phase(&answers, 1);
    let after = in_phase(&answers, 3);
    for ask in ASKS {
        assert!(
            before.iter().any(|a| a.ask == ask),
            "{ask:?} asked before the stop"
        );
        assert!(after.iter().any(|a| a.ask == ask), "{ask:?} asked after");
    }
    assert_no_failure(&before, &SUCCESS);
    assert_no_failure(&answers, &SUCCESS);
    assert_no_failure(&after, &SUCCESS);
    assert!(
        after.iter().all(|a| SUCCESS.contains(&a.status)),
        "not recovered: {:?}",
        after.iter().find(|a| !SUCCESS.contains(&a.status))
    );
    // The outage was seen by what needs the database: reads and writes were refused 503.
    for ask in [Ask::ListClients, Ask::CreateClient] {
        assert!(
            down.iter().any(|a| a.ask == ask && a.status == 503),
            "{ask:?} while the database was down: {:?}",
            down.iter().filter(|a| a.ask == ask).collect::<Vec<_>>()
        );
    }

    // A storage 503 is the JSON error of its family, not a bare status.
    tokio::task::block_in_place(|| pg.stop());
    let res = app
        .http
        .get(app.url("/api-clients"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "ServiceUnavailable");
}
