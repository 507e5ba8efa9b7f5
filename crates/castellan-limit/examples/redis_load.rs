//! Load driver of the Redis limiter (bench/redis-limiter.sh): N concurrent tasks (default 32)
//! calling [`RedisLimiter::check`] — one `EVALSHA` of `check.lua` per check, exactly what the
//! server does — on a small multi-thread runtime (one worker per CPU it may run on), against
//! the Redis at the given URL. The policy has two windows like the default tier, with
//! limits high enough never to refuse; keys are drawn at random from `--keys` distinct ones.
//!
//! Usage: `redis_load <redis-url> [--checks 200000] [--concurrency 32] [--keys 10000]
//! [--prefix castellan-bench:rl]`. Prints one line: `checks=… seconds=… checks_per_s=…
//! p50_us=… p99_us=… failures=… checks_total=…` (`checks_total` includes the warm-up check).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a load run stops on a broken set-up and prints its report"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use castellan_limit::{FailureMode, Policy, RedisLimiter, RedisSettings, RedisUrl, Window};

struct Args {
    url: String,
    checks: u64,
    concurrency: u64,
    keys: u64,
    prefix: String,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        url: String::new(),
        checks: 200_000,
        concurrency: 32,
        keys: 10_000,
        prefix: "castellan-bench:rl".into(),
    };
    while let Some(arg) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match arg.as_str() {
            "--checks" => a.checks = value().parse().expect("--checks N"),
            "--concurrency" => a.concurrency = value().parse().expect("--concurrency N"),
            "--keys" => a.keys = value().parse().expect("--keys N"),
            "--prefix" => a.prefix = value(),
            url => url.clone_into(&mut a.url),
        }
    }
    assert!(!a.url.is_empty(), "usage: redis_load <redis-url> [flags]");
    assert!(a.concurrency > 0 && a.keys > 0);
    a
}

/// xorshift64*: a cheap, deterministic per-task key picker.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn main() {
    let a = args();
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(drive(a, workers));
}

async fn drive(a: Args, workers: usize) {
    let policy = Arc::new(
        Policy::new(
            "bench",
            vec![
                Window::new(1_000_000_000, 60),
                Window::new(1_000_000_000, 86_400),
            ],
        )
        .unwrap(),
    );
    let limiter = RedisLimiter::new(&RedisSettings {
        url: RedisUrl(a.url.clone()),
        failure: FailureMode::Closed,
        timeout: Duration::from_millis(2_000),
        key_prefix: a.prefix.clone(),
    })
    .unwrap();
    // Connect (the connection is made in the background on the first check).
    let warm = limiter.check(&policy, "warm-up").await;
    assert!(
        warm.allowed,
        "the warm-up check failed: is Redis at {}?",
        a.url
    );

    let remaining = Arc::new(AtomicU64::new(a.checks));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..a.concurrency {
        let limiter = limiter.clone();
        let policy = Arc::clone(&policy);
        let remaining = Arc::clone(&remaining);
        let keys = a.keys;
        let total = a.checks;
        tasks.push(tokio::spawn(async move {
            let mut rng = 0x9e37_79b9_7f4a_7c15_u64 ^ (t + 1).wrapping_mul(0x1000_0000_01b3);
            let mut latencies = Vec::new();
            loop {
                let left = remaining.fetch_sub(1, Ordering::Relaxed);
                if left == 0 || left > total {
                    break;
                }
                let key = format!("k{}", next(&mut rng) % keys);
                let t0 = Instant::now();
                let d = limiter.check(&policy, &key).await;
                latencies.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                assert!(d.allowed, "a check was refused or failed");
            }
            latencies
        }));
    }
    let mut all = Vec::with_capacity(usize::try_from(a.checks).unwrap_or(0));
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort_unstable();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a percentile's index: between 0 and the number of samples"
    )]
    let pct = |p: f64| {
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        all.get(i).copied().unwrap_or(0)
    };
    let n = all.len() as u64;
    println!(
        "checks={n} seconds={secs:.3} checks_per_s={:.0} p50_us={} p99_us={} failures={} \
         checks_total={} workers={workers} concurrency={}",
        n as f64 / secs,
        pct(0.50),
        pct(0.99),
        limiter.failures(),
        n + 1,
        a.concurrency,
    );
}
