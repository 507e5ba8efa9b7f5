//! Criterion benchmarks of one rate-limit check: in-process on a hot key (single- and
//! two-window policies, plus a spread of keys), and — when `CASTELLAN_TEST_REDIS_URL` is set —
//! one Redis round trip. Run: `cargo bench -p castellan-limit --bench limiter`.

use std::hint::black_box;
use std::time::Duration;

use castellan_limit::{
    FailureMode, MemoryLimiter, Policy, RedisLimiter, RedisSettings, RedisUrl, Window,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn policies() -> Option<(Policy, Policy)> {
    // Limits high enough that the hot key is admitted throughout (the admitted path does
    // the most work: check, then increment).
    let single = Policy::new("single", vec![Window::new(1_000_000_000, 31_536_000)]).ok()?;
    let double = Policy::new(
        "double",
        vec![
            Window::new(1_000_000_000, 60),
            Window::new(1_000_000_000, 86_400),
        ],
    )
    .ok()?;
    Some((single, double))
}

fn in_process(c: &mut Criterion) {
    let Some((single, double)) = policies() else {
        return;
    };
    let limiter = MemoryLimiter::new(1_000_000);
    let mut g = c.benchmark_group("in_process");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_window_hot_key", |b| {
        b.iter(|| black_box(limiter.check(black_box(&single), black_box("api-key-01H"))));
    });
    g.bench_function("two_windows_hot_key", |b| {
        b.iter(|| black_box(limiter.check(black_box(&double), black_box("api-key-01H"))));
    });
    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
        .collect();
    let mut i = 0;
    g.bench_function("two_windows_10k_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(limiter.check(&double, &keys[i]))
        });
    });
    g.finish();
}

#[expect(
    clippy::print_stderr,
    reason = "the benchmark warns when Redis checks failed during the run"
)]
fn redis(c: &mut Criterion) {
    let Ok(url) = std::env::var("CASTELLAN_TEST_REDIS_URL") else {
        return;
    };
    let Some((_, double)) = policies() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return;
    };
    let settings = RedisSettings {
        url: RedisUrl(url),
        failure: FailureMode::Closed,
        timeout: Duration::from_millis(1_000),
        key_prefix: "castellan-bench:rl".into(),
    };
    let Ok(limiter) = RedisLimiter::new(&settings) else {
        return;
    };
    // Connect and load the script before measuring.
    runtime.block_on(limiter.check(&double, "warm"));
    let mut g = c.benchmark_group("redis");
    g.throughput(Throughput::Elements(1));
    g.bench_function("two_windows_sequential", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(limiter.check(&double, "api-key-01H").await) });
    });
    g.finish();
    if limiter.failures() > 0 {
        eprintln!(
            "warning: {} redis checks failed during the bench",
            limiter.failures()
        );
    }
}

criterion_group!(benches, in_process, redis);
criterion_main!(benches);
