//! Load generator of the people-flow benchmark (bench/people.sh): a fixed number of HTTP/1.1
//! keep-alive connections, each running one request loop on a single-threaded runtime (pin it
//! to its own core with `taskset`), reporting requests per second, latency percentiles and every
//! answer that was not the expected status. The same generator drives the baseline
//! (examples/baseline_token.rs), so the ratio between the two is fair.
//!
//! Modes (`people_load <mode> <host:port> [options]`):
//!
//! * `baseline`: `POST /token` with the baseline's Basic credentials (expects 200).
//! * `refresh`: signs in once over HTTP, approves the consent once, then prepares one refresh
//!   token family per connection (an authorization-code exchange each). Each connection then
//!   chains `POST /oauth/token grant_type=refresh_token`, always presenting the token from its
//!   previous answer (a rotated-out token presented again would revoke the family).
//! * `code`: signs in once, approves the consent once; each connection then loops over
//!   `GET /oauth/authorize` (expects a 302 carrying the code, the consent being remembered)
//!   and `POST /oauth/token grant_type=authorization_code` with the PKCE verifier (expects
//!   200). One exchange = both requests.
//! * `exchange`: signs in once, approves the consent once, then fetches `--codes N` codes per
//!   connection (default 500) before the clock starts; each connection then only redeems them,
//!   `POST /oauth/token grant_type=authorization_code` (expects 200): the exchange alone, so it
//!   can be compared with the baseline's (`--load-addr`). A connection that runs out of codes
//!   stops (counted in `stopped_loops`).
//! * `login`: `POST /login` with the right password (expects 303): one Argon2id verification
//!   and one session per request.
//!
//! Options: `--secs N` (measured time, default 10), `--warmup N` (seconds run before measuring,
//! default 2), `--conns N` (default 32), `--load-addr host:port` (run the loops against another
//! server than the one the set-up used: the grant baseline, examples/baseline_grants.rs,
//! rotating the families Castellan issued), and for the Castellan modes `--client-id`,
//! `--client-secret`, `--email`, `--password`, `--redirect-uri`, `--scope`.
//!
//! Output: one line `RESULT mode=… ok=… bad=… secs=… rps=… p50_ms=… p99_ms=… units=… ups=…`
//! (`units`/`ups`: exchanges, or refreshes, or logins, and their rate), plus up to five
//! examples of unexpected answers on standard error.
#![expect(
    clippy::print_stdout,
    reason = "a load run stops on a broken set-up and prints its report"
)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[path = "load/browser.rs"]
mod browser;
#[path = "load/http1.rs"]
mod http1;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use browser::{Browser, SignIn};
use http1::{describe, find, form, get, json_string, percentile, post, Conn, Error};

/// `Debug` leaves out the client secret and the password.
#[derive(Clone)]
struct Options {
    mode: String,
    addr: String,
    load_addr: Option<String>,
    codes: usize,
    secs: u64,
    warmup: u64,
    conns: usize,
    client_id: String,
    client_secret: String,
    email: String,
    password: String,
    redirect_uri: String,
    scope: String,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("mode", &self.mode)
            .field("addr", &self.addr)
            .field("client_id", &self.client_id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

fn options() -> Result<Options, Error> {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .ok_or("usage: people_load <mode> <host:port> [options]")?;
    let addr = args.next().ok_or("missing <host:port>")?;
    let mut o = Options {
        mode,
        addr,
        load_addr: None,
        codes: 500,
        secs: 10,
        warmup: 2,
        conns: 32,
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
            "--load-addr" => o.load_addr = Some(value),
            "--codes" => o.codes = value.parse()?,
            "--client-id" => o.client_id = value,
            "--client-secret" => o.client_secret = value,
            "--email" => o.email = value,
            "--password" => o.password = value,
            "--redirect-uri" => o.redirect_uri = value,
            "--scope" => o.scope = value,
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    Ok(o)
}

/// What the loops record.
#[derive(Default)]
struct Tally {
    measuring: bool,
    ok: u64,
    bad: u64,
    units: u64,
    latencies_us: Vec<u32>,
    unit_latencies_us: Vec<u32>,
    examples: Vec<String>,
}

impl Tally {
    fn record(&mut self, started: Instant, good: bool, what: impl FnOnce() -> String) {
        if !self.measuring {
            return;
        }
        let us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        self.latencies_us.push(us);
        if good {
            self.ok += 1;
        } else {
            self.bad += 1;
            if self.examples.len() < 5 {
                self.examples.push(what());
            }
        }
    }

    fn unit(&mut self, started: Instant) {
        if self.measuring {
            self.units += 1;
            let us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
            self.unit_latencies_us.push(us);
        }
    }
}

#[expect(
    clippy::print_stderr,
    reason = "the load run reports why loops stopped"
)]
async fn run(o: Options) -> Result<(), Error> {
    let browser = match o.mode.as_str() {
        "refresh" | "code" | "exchange" => Some(Rc::new(
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
        )),
        "baseline" | "login" => None,
        m => return Err(format!("unknown mode {m}").into()),
    };
    // One refresh-token family per connection, prepared before the clock starts.
    let mut families = Vec::new();
    if o.mode == "refresh" {
        let b = browser.as_ref().ok_or("no browser")?;
        let mut c = Conn::new(&o.addr);
        for _ in 0..o.conns {
            let code = b
                .code(&mut c)
                .await?
                .map_err(|a| format!("authorize: {}", describe(&a)))?;
            let a = c.send(&b.exchange_request(&code, &o.redirect_uri)).await?;
            let token = json_string(&a.body, "refresh_token")
                .ok_or_else(|| format!("code exchange: {}", describe(&a)))?;
            families.push(token);
        }
    }
    // Codes to redeem, per connection, fetched before the clock starts.
    let mut codes: Vec<Vec<String>> = Vec::new();
    if o.mode == "exchange" {
        let b = browser.as_ref().ok_or("no browser")?;
        let mut c = Conn::new(&o.addr);
        for _ in 0..o.conns {
            let mut mine = Vec::with_capacity(o.codes);
            for _ in 0..o.codes {
                let code = b
                    .code(&mut c)
                    .await?
                    .map_err(|a| format!("authorize: {}", describe(&a)))?;
                mine.push(code);
            }
            codes.push(mine);
        }
    }
    let login_form = if o.mode == "login" {
        let mut c = Conn::new(&o.addr);
        let page = c.send(&get("/login", "")).await?;
        let csrf = page
            .cookies
            .iter()
            .find(|(k, _)| k == "castellan_csrf")
            .map(|(_, v)| v.clone())
            .ok_or("GET /login set no castellan_csrf cookie")?;
        let body = form(&[
            ("csrf", &csrf),
            ("email", &o.email),
            ("password", &o.password),
            ("request", ""),
        ]);
        post(
            "/login",
            &format!("Cookie: castellan_csrf={csrf}\r\n"),
            &body,
        )
    } else {
        Vec::new()
    };
    let baseline_request = post(
        "/token",
        &format!(
            "Authorization: Basic {}\r\n",
            STANDARD.encode("baseline:baseline-secret")
        ),
        "grant_type=client_credentials",
    );

    let tally = Rc::new(RefCell::new(Tally::default()));
    let stop_at = Instant::now() + Duration::from_secs(o.warmup + o.secs);
    let local = tokio::task::LocalSet::new();
    let mut handles = Vec::new();
    for i in 0..o.conns {
        let o = o.clone();
        let tally = Rc::clone(&tally);
        let browser = browser.clone();
        let mut token = families.get(i).cloned().unwrap_or_default();
        let mut my_codes = codes.get_mut(i).map(std::mem::take).unwrap_or_default();
        let login_form = login_form.clone();
        let baseline_request = baseline_request.clone();
        handles.push(local.spawn_local(async move {
            let mut c = Conn::new(o.load_addr.as_deref().unwrap_or(&o.addr));
            while Instant::now() < stop_at {
                let started = Instant::now();
                match o.mode.as_str() {
                    "baseline" => {
                        let a = c.send(&baseline_request).await?;
                        tally
                            .borrow_mut()
                            .record(started, a.status == 200, || describe(&a));
                    }
                    "login" => {
                        let a = c.send(&login_form).await?;
                        let good = a.status == 303;
                        let mut t = tally.borrow_mut();
                        t.record(started, good, || describe(&a));
                        if good {
                            t.unit(started);
                        }
                    }
                    "exchange" => {
                        let b = browser.as_ref().ok_or("no browser")?;
                        let code = my_codes.pop().ok_or("out of codes: raise --codes")?;
                        let a = c.send(&b.exchange_request(&code, &o.redirect_uri)).await?;
                        let good = a.status == 200 && find(&a.body, b"\"access_token\"").is_some();
                        let mut t = tally.borrow_mut();
                        t.record(started, good, || describe(&a));
                        if good {
                            t.unit(started);
                        }
                    }
                    "refresh" => {
                        let b = browser.as_ref().ok_or("no browser")?;
                        let a = c.send(&b.refresh_request(&token)).await?;
                        let next = (a.status == 200)
                            .then(|| json_string(&a.body, "refresh_token"))
                            .flatten();
                        let mut t = tally.borrow_mut();
                        t.record(started, next.is_some(), || describe(&a));
                        match next {
                            Some(n) => {
                                token = n;
                                t.unit(started);
                            }
                            // The chain is broken (every later use would fail): stop this loop.
                            None => {
                                return Err(format!("refresh chain broken: {}", describe(&a)).into())
                            }
                        }
                    }
                    _ => {
                        let b = browser.as_ref().ok_or("no browser")?;
                        let code = b.code(&mut c).await?;
                        let code = {
                            let mut t = tally.borrow_mut();
                            t.record(started, code.is_ok(), || match &code {
                                Err(a) => format!("authorize: {}", describe(a)),
                                Ok(_) => String::new(),
                            });
                            match code {
                                Ok(code) => code,
                                Err(_) => continue,
                            }
                        };
                        let second = Instant::now();
                        let a = c.send(&b.exchange_request(&code, &o.redirect_uri)).await?;
                        let good = a.status == 200 && find(&a.body, b"\"access_token\"").is_some();
                        let mut t = tally.borrow_mut();
                        t.record(second, good, || format!("token: {}", describe(&a)));
                        if good {
                            t.unit(started);
                        }
                    }
                }
            }
            Ok::<(), Error>(())
        }));
    }
    let warmup = o.warmup;
    let tally_flag = Rc::clone(&tally);
    let measured = local
        .run_until(async move {
            tokio::time::sleep(Duration::from_secs(warmup)).await;
            tally_flag.borrow_mut().measuring = true;
            let t0 = Instant::now();
            let mut failures = Vec::new();
            for h in handles {
                match h.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => failures.push(e.to_string()),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (t0.elapsed(), failures)
        })
        .await;
    let (elapsed, failures) = measured;
    let mut t = tally.borrow_mut();
    for f in failures.iter().take(5) {
        eprintln!("loop stopped: {f}");
    }
    for e in &t.examples {
        eprintln!("unexpected answer: {e}");
    }
    let secs = elapsed.as_secs_f64();
    t.latencies_us.sort_unstable();
    t.unit_latencies_us.sort_unstable();
    println!(
        "RESULT mode={} conns={} ok={} bad={} stopped_loops={} secs={:.2} rps={:.0} p50_ms={:.2} p99_ms={:.2} units={} ups={:.1} unit_p50_ms={:.2} unit_p99_ms={:.2}",
        o.mode,
        o.conns,
        t.ok,
        t.bad,
        failures.len(),
        secs,
        (t.ok + t.bad) as f64 / secs,
        percentile(&t.latencies_us, 0.50),
        percentile(&t.latencies_us, 0.99),
        t.units,
        t.units as f64 / secs,
        percentile(&t.unit_latencies_us, 0.50),
        percentile(&t.unit_latencies_us, 0.99),
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
