//! Load generator of the soak benchmark (bench/soak.sh): a mixed load of the four hot requests,
//! at a fixed rate or as fast as the server answers, reported period by period so that a drift
//! of latency or memory over a long run shows.
//!
//! Each of `--conns` keep-alive connections cycles through four requests:
//!
//! 1. `POST /oauth/token grant_type=client_credentials` (expects 200 with an access token);
//! 2. `POST /oauth/introspect` of the token its last client_credentials answer carried
//!    (expects 200 and `"active":true`);
//! 3. `GET /forward-auth` with an API key, as nginx's `auth_request` sends it (expects 200);
//! 4. `POST /oauth/token grant_type=refresh_token`, chained: one refresh family per connection,
//!    always presenting the token of the previous answer (expects 200 and a new refresh token).
//!
//! With `--rate R` (requests per second over all connections) each connection sends on a fixed
//! schedule, one request every `conns / R` seconds, and a request's latency counts from the
//! moment it was due, not from when it was sent: a server that stalls is charged for the whole
//! queue behind the stall (no coordinated omission). `--rate 0` sends each request as soon as
//! the previous one is answered, to measure the maximum.
//!
//! Usage: `soak_load <host:port> [options]`. Options: `--secs N` (measured time, default 60),
//! `--warmup N` (seconds before measuring, default 5), `--conns N` (default 32), `--rate R`
//! (default 0), `--period N` (seconds per report line, default 60), `--server-pid PID` (adds the
//! server's memory from /proc to each line), `--kinds` (the kinds to cycle through, a
//! comma-separated subset of `token,introspect,gateway,refresh`, default all four), `--cc-id`, `--cc-secret`, `--cc-scope` (the
//! client_credentials client, which also introspects), `--api-key`, `--gateway-uri` (the
//! `X-Original-URI` of the gateway check, default `/catalog/items`), and for the refresh
//! families the code client and person: `--client-id`, `--client-secret`, `--email`,
//! `--password`, `--redirect-uri`, `--scope`.
//!
//! Output: a line per period, `PERIOD n=… secs=… rps=… ok=… bad=… p50_ms=… p99_ms=…` with each
//! kind's p99 (`token_p99_ms`, `introspect_p99_ms`, `gateway_p99_ms`, `refresh_p99_ms`) and,
//! with `--server-pid`, `rss_kib`, `rss_anon_kib` and `rss_file_kib`; then
//! `RESULT secs=… rps=… ok=… bad=… p50_ms=… p99_ms=…` over the whole measured time; up to five
//! unexpected answers on standard error. A connection whose refresh chain breaks stops.
#![expect(
    clippy::print_stdout,
    reason = "a load run prints its report line by line"
)]

#[path = "load/browser.rs"]
mod browser;
#[path = "load/http1.rs"]
mod http1;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use browser::{Browser, SignIn};
use http1::{describe, find, form, json_string, percentile, post, Conn, Error};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The four requests of the mix, in the order each connection cycles through them.
const KINDS: [&str; 4] = ["token", "introspect", "gateway", "refresh"];

/// `Debug` is not derived: the options hold secrets.
struct Options {
    addr: String,
    secs: u64,
    warmup: u64,
    conns: usize,
    rate: f64,
    period: u64,
    server_pid: Option<u32>,
    /// The kinds each connection cycles through (indices in [`KINDS`]).
    kinds: Vec<usize>,
    cc_id: String,
    cc_secret: String,
    cc_scope: String,
    api_key: String,
    gateway_uri: String,
    client_id: String,
    client_secret: String,
    email: String,
    password: String,
    redirect_uri: String,
    scope: String,
}

fn options() -> Result<Options, Error> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .ok_or("usage: soak_load <host:port> [options]")?;
    let mut o = Options {
        addr,
        secs: 60,
        warmup: 5,
        conns: 32,
        rate: 0.0,
        period: 60,
        server_pid: None,
        kinds: vec![0, 1, 2, 3],
        cc_id: String::new(),
        cc_secret: String::new(),
        cc_scope: String::new(),
        api_key: String::new(),
        gateway_uri: "/catalog/items".into(),
        client_id: String::new(),
        client_secret: String::new(),
        email: String::new(),
        password: String::new(),
        redirect_uri: "http://127.0.0.1:8309/cb".into(),
        scope: "openid offline_access".into(),
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--secs" => o.secs = value.parse()?,
            "--warmup" => o.warmup = value.parse()?,
            "--conns" => o.conns = value.parse()?,
            "--rate" => o.rate = value.parse()?,
            "--period" => o.period = value.parse()?,
            "--server-pid" => o.server_pid = Some(value.parse()?),
            "--kinds" => {
                o.kinds = value
                    .split(',')
                    .map(|k| {
                        KINDS
                            .iter()
                            .position(|n| *n == k)
                            .ok_or_else(|| format!("--kinds: unknown kind {k}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--cc-id" => o.cc_id = value,
            "--cc-secret" => o.cc_secret = value,
            "--cc-scope" => o.cc_scope = value,
            "--api-key" => o.api_key = value,
            "--gateway-uri" => o.gateway_uri = value,
            "--client-id" => o.client_id = value,
            "--client-secret" => o.client_secret = value,
            "--email" => o.email = value,
            "--password" => o.password = value,
            "--redirect-uri" => o.redirect_uri = value,
            "--scope" => o.scope = value,
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    if o.conns == 0 || o.period == 0 || o.rate < 0.0 || !o.rate.is_finite() {
        return Err("--conns and --period must be positive, --rate zero or positive".into());
    }
    Ok(o)
}

/// What one period (or the whole run) recorded.
#[derive(Default)]
struct Tally {
    ok: u64,
    bad: u64,
    /// Latencies in microseconds, by kind (the index in [`KINDS`]).
    latencies_us: [Vec<u32>; 4],
}

impl Tally {
    fn all_sorted(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self.latencies_us.iter().flatten().copied().collect();
        all.sort_unstable();
        all
    }
}

/// The shared state of the loops: the current period, the whole run, and examples of failures.
#[derive(Default)]
struct Record {
    measuring: bool,
    period: Tally,
    total: Tally,
    examples: Vec<String>,
}

impl Record {
    fn record(&mut self, kind: usize, due: Instant, good: bool, what: impl FnOnce() -> String) {
        if !self.measuring {
            return;
        }
        let us = u32::try_from(due.elapsed().as_micros()).unwrap_or(u32::MAX);
        for t in [&mut self.period, &mut self.total] {
            t.latencies_us[kind].push(us);
            if good {
                t.ok += 1;
            } else {
                t.bad += 1;
            }
        }
        if !good && self.examples.len() < 5 {
            self.examples.push(format!("{}: {}", KINDS[kind], what()));
        }
    }
}

/// The server's resident memory (KiB): total, anonymous (its heap) and file-backed (mapped
/// files, such as an SQLite database), from `/proc/<pid>/status`.
fn memory(pid: u32) -> Option<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("RssAnon:")?, field("RssFile:")?))
}

/// The requests one connection sends, with its own refresh family.
struct Requests {
    token: Vec<u8>,
    introspect_auth: String,
    gateway: Vec<u8>,
    browser: Rc<Browser>,
}

impl Requests {
    fn new(o: &Options, browser: Rc<Browser>) -> Self {
        let basic = STANDARD.encode(format!("{}:{}", o.cc_id, o.cc_secret));
        let auth = format!("Authorization: Basic {basic}\r\n");
        let token = post(
            "/oauth/token",
            &auth,
            &form(&[("grant_type", "client_credentials"), ("scope", &o.cc_scope)]),
        );
        let gateway = format!(
            "GET /forward-auth HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {}\r\n\
             X-Original-Method: GET\r\nX-Original-URI: {}\r\n\r\n",
            o.api_key, o.gateway_uri
        )
        .into_bytes();
        Requests {
            token,
            introspect_auth: auth,
            gateway,
            browser,
        }
    }

    fn introspect(&self, token: &str) -> Vec<u8> {
        post(
            "/oauth/introspect",
            &self.introspect_auth,
            &form(&[("token", token)]),
        )
    }
}

/// One connection's loop: the four kinds in turn, on its schedule, until `stop_at`.
async fn connection(
    o: Rc<Options>,
    requests: Rc<Requests>,
    record: Rc<RefCell<Record>>,
    mut refresh: String,
    first_due: Instant,
    stop_at: Instant,
) -> Result<(), Error> {
    let mut c = Conn::new(&o.addr);
    let interval = (o.rate > 0.0).then(|| {
        #[expect(
            clippy::cast_precision_loss,
            reason = "a connection count, far below 2^52"
        )]
        let conns = o.conns as f64;
        Duration::from_secs_f64(conns / o.rate)
    });
    let mut due = first_due;
    let mut access = String::new();
    let mut turn = 0usize;
    while Instant::now() < stop_at {
        if interval.is_some() {
            tokio::time::sleep_until(due.into()).await;
        } else {
            due = Instant::now();
        }
        let mut kind = o.kinds[turn % o.kinds.len()];
        turn += 1;
        if kind == 1 && access.is_empty() {
            // No token to introspect yet: get one first.
            kind = 0;
        }
        let a = match kind {
            0 => c.send(&requests.token).await?,
            1 => c.send(&requests.introspect(&access)).await?,
            2 => c.send(&requests.gateway).await?,
            _ => c.send(&requests.browser.refresh_request(&refresh)).await?,
        };
        let good = match kind {
            0 => match (a.status == 200)
                .then(|| json_string(&a.body, "access_token"))
                .flatten()
            {
                Some(t) => {
                    access = t;
                    true
                }
                None => false,
            },
            1 => a.status == 200 && find(&a.body, b"\"active\":true").is_some(),
            2 => a.status == 200,
            _ => match (a.status == 200)
                .then(|| json_string(&a.body, "refresh_token"))
                .flatten()
            {
                Some(next) => {
                    refresh = next;
                    true
                }
                None => {
                    record
                        .borrow_mut()
                        .record(kind, due, false, || describe(&a));
                    return Err(format!("refresh chain broken: {}", describe(&a)).into());
                }
            },
        };
        record.borrow_mut().record(kind, due, good, || describe(&a));
        if let Some(every) = interval {
            due += every;
        }
    }
    Ok(())
}

/// One report line: the period's figures, and the server's memory when its pid is known.
fn report(label: &str, n: u64, secs: f64, t: &Tally, pid: Option<u32>) -> String {
    let all = t.all_sorted();
    #[expect(clippy::cast_precision_loss, reason = "request counts, far below 2^52")]
    let rps = (t.ok + t.bad) as f64 / secs;
    let mut line = format!(
        "{label} n={n} secs={secs:.1} rps={rps:.0} ok={} bad={} p50_ms={:.2} p99_ms={:.2}",
        t.ok,
        t.bad,
        percentile(&all, 0.50),
        percentile(&all, 0.99)
    );
    for (kind, name) in KINDS.iter().enumerate() {
        let mut l = t.latencies_us[kind].clone();
        l.sort_unstable();
        let _ = write!(line, " {name}_p99_ms={:.2}", percentile(&l, 0.99));
    }
    if let Some((rss, anon, file)) = pid.and_then(memory) {
        let _ = write!(
            line,
            " rss_kib={rss} rss_anon_kib={anon} rss_file_kib={file}"
        );
    }
    line
}

#[expect(
    clippy::print_stderr,
    reason = "the load run reports why loops stopped"
)]
async fn run(o: Options) -> Result<(), Error> {
    let browser = Rc::new(
        Browser::sign_in(&SignIn {
            addr: &o.addr,
            client_id: &o.client_id,
            client_secret: &o.client_secret,
            email: &o.email,
            password: &o.password,
            redirect_uri: &o.redirect_uri,
            scope: &o.scope,
        })
        .await?,
    );
    // One refresh family per connection, started before the clock.
    let mut families = Vec::with_capacity(o.conns);
    let mut c = Conn::new(&o.addr);
    for _ in 0..o.conns {
        let code = browser
            .code(&mut c)
            .await?
            .map_err(|a| format!("authorize: {}", describe(&a)))?;
        let a = c
            .send(&browser.exchange_request(&code, &o.redirect_uri))
            .await?;
        families.push(
            json_string(&a.body, "refresh_token")
                .ok_or_else(|| format!("code exchange: {}", describe(&a)))?,
        );
    }
    let o = Rc::new(o);
    let requests = Rc::new(Requests::new(&o, Rc::clone(&browser)));
    let record = Rc::new(RefCell::new(Record::default()));
    let start = Instant::now();
    let stop_at = start + Duration::from_secs(o.warmup + o.secs);
    let local = tokio::task::LocalSet::new();
    let mut handles = Vec::new();
    for (i, refresh) in families.into_iter().enumerate() {
        // Spread the connections' schedules over one interval.
        #[expect(
            clippy::cast_precision_loss,
            reason = "connection indices, far below 2^52"
        )]
        let offset = if o.rate > 0.0 {
            Duration::from_secs_f64(i as f64 / o.rate)
        } else {
            Duration::ZERO
        };
        handles.push(local.spawn_local(connection(
            Rc::clone(&o),
            Rc::clone(&requests),
            Rc::clone(&record),
            refresh,
            start + offset,
            stop_at,
        )));
    }
    let reporter = {
        let (o, record) = (Rc::clone(&o), Rc::clone(&record));
        async move {
            tokio::time::sleep(Duration::from_secs(o.warmup)).await;
            record.borrow_mut().measuring = true;
            let t0 = Instant::now();
            let mut n = 0;
            let mut last = t0;
            while last < stop_at {
                let next = (last + Duration::from_secs(o.period)).min(stop_at);
                tokio::time::sleep_until(next.into()).await;
                n += 1;
                let period = std::mem::take(&mut record.borrow_mut().period);
                let secs = next.duration_since(last).as_secs_f64();
                println!("{}", report("PERIOD", n, secs, &period, o.server_pid));
                last = next;
            }
            t0
        }
    };
    let (t0, failures) = local
        .run_until(async move {
            let t0 = reporter.await;
            let mut failures = Vec::new();
            for h in handles {
                match h.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => failures.push(e.to_string()),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (t0, failures)
        })
        .await;
    let record = record.borrow();
    for f in failures.iter().take(5) {
        eprintln!("loop stopped: {f}");
    }
    for e in &record.examples {
        eprintln!("unexpected answer: {e}");
    }
    let secs = stop_at.duration_since(t0).as_secs_f64();
    println!(
        "{} stopped_loops={}",
        report("RESULT", 0, secs, &record.total, o.server_pid),
        failures.len()
    );
    Ok(())
}

fn main() -> Result<(), Error> {
    let o = options()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(o))
}
