//! API-key verification with 1 000 and with 1 000 000 keys stored: throughput should stay
//! within 10% of that with 1 000 keys. Measures `gateway::api_keys::check_api_key` — what
//! `/forward-auth` and introspection call: format and checksum, SHA-256, the bounded `moka`
//! cache, the storage lookup by hash, status and expiry — in two cases:
//!
//! * `storage`: `api_keys.cache_seconds = 0`, so every check is a storage lookup, over a
//!   working set of keys drawn at random from all stored keys (1 000 keys; for the large
//!   store also a wider set of 10 000);
//! * `hot_cache`: the default cache (10 s, 10 000 keys) over a 1 000-key working set, so
//!   nearly every check is a cache hit.
//!
//! The stores are SQLite files filled once in one transaction with multi-row INSERTs and kept
//! under `$HOME/.cache/castellan/bench/` (`CASTELLAN_BENCH_CACHE` overrides the folder), so
//! later runs reuse them. With `CASTELLAN_BENCH_POSTGRES_URL` set (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`) the same cases also run on PostgreSQL, in fresh
//! schemas filled at every run and dropped afterwards.
//!
//! Keys are derived from their index (`SHA-256("castellan-bench-key-<i>")` as the 256 random
//! bits), so the bench can rebuild any stored key without keeping a list of them.
//! Run: `cargo bench -p castellan-server --bench api_key_lookup`.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    reason = "a load run stops on a broken set-up and prints its report"
)]

use castellan_core::api_key;
use castellan_core::Environment;
use castellan_crypto::{hash_secret, Clock, SystemClock};
use castellan_server::gateway::api_keys::check_api_key;
use castellan_server::platform::config::Config;
use castellan_server::platform::state::AppState;
use castellan_store::{SqlStore, Store};
use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sqlx::Executor;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SMALL: u64 = 1_000;
const LARGE: u64 = 1_000_000;
const WORKING_SET: usize = 1_000;
const WIDE_WORKING_SET: usize = 10_000;
/// Rows per INSERT statement while filling.
const ROWS_PER_INSERT: u64 = 1_000;
/// Bump when the stored rows or the key derivation change, so old cached files are not used.
const FILL_VERSION: u32 = 1;
const PREFIX: &str = "csb";
const ENV: Environment = Environment::Local;

/// The key stored at index `i`.
fn key(i: u64) -> String {
    let random = hash_secret(&format!("castellan-bench-key-{i}")).0;
    api_key::generate(PREFIX, ENV, &random).expect("valid prefix")
}

/// `count` distinct indices in `0..n`, drawn at random (fixed seed).
fn working_set(n: u64, count: usize) -> Vec<u64> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count.min(usize::try_from(n).unwrap_or(usize::MAX)) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let i = state.wrapping_mul(0x2545_f491_4f6c_dd1d) % n;
        if seen.insert(i) {
            out.push(i);
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Inserts keys `0..n` in one transaction, `ROWS_PER_INSERT` rows per statement.
async fn fill(store: &SqlStore, backend: Backend, n: u64) {
    let started = Instant::now();
    let created = Utc::now().timestamp_millis();
    let mut tx = store.pool().begin().await.unwrap();
    let mut start = 0;
    while start < n {
        let end = (start + ROWS_PER_INSERT).min(n);
        let mut sql = String::from(
            "INSERT INTO api_keys (id, hash, visible_prefix, last_four, name, scope, \
             organization_id, tier, created_at, created_by, last_used_at, expires_at, status, \
             rotated_from) VALUES ",
        );
        for i in start..end {
            let k = key(i);
            let hash = hex(&hash_secret(&k).0);
            let hash = match backend {
                Backend::Sqlite => format!("X'{hash}'"),
                Backend::Postgres => format!("decode('{hash}', 'hex')"),
            };
            let visible = api_key::parse_any(&k).unwrap().visible_prefix();
            let last_four = api_key::last_four(&k);
            if i > start {
                sql.push(',');
            }
            let _ = write!(
                sql,
                "('key_bench{i:07}', {hash}, '{visible}', '{last_four}', 'bench key {i}', \
                 'catalog:read', NULL, 'default', {created}, 'bench', NULL, NULL, 'active', NULL)"
            );
        }
        tx.execute(sql.as_str()).await.unwrap();
        start = end;
    }
    tx.commit().await.unwrap();
    eprintln!(
        "filled {n} keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

async fn stored_bench_keys(store: &SqlStore) -> Option<u64> {
    let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_keys WHERE id LIKE 'key_bench%'")
        .fetch_one(store.pool())
        .await
        .ok()?;
    u64::try_from(row.0).ok()
}

fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("CASTELLAN_BENCH_CACHE") {
        return PathBuf::from(d);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".cache/castellan/bench")
}

/// A SQLite store holding `n` bench keys: the cached file if it is complete, else a new one.
async fn sqlite_store(n: u64) -> String {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("api-keys-v{FILL_VERSION}-{n}.db"));
    let url = format!("sqlite://{}", path.display());
    if path.exists() {
        let store = castellan_store::connect(&url).await.unwrap();
        let have = stored_bench_keys(&store).await;
        store.close().await;
        if have == Some(n) {
            eprintln!("using the cached store {}", path.display());
            return url;
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    let store = castellan_store::connect(&url).await.unwrap();
    fill(&store, Backend::Sqlite, n).await;
    store
        .pool()
        .execute("PRAGMA wal_checkpoint(TRUNCATE)")
        .await
        .unwrap();
    store.pool().execute("ANALYZE").await.unwrap();
    store.close().await;
    url
}

/// A fresh PostgreSQL schema holding `n` bench keys; answers its URL and name.
async fn postgres_store(base: &str, n: u64) -> (String, String) {
    let schema = castellan_store::testing::fresh_postgres_schema(base)
        .await
        .unwrap();
    let store = castellan_store::connect(&schema.url).await.unwrap();
    fill(&store, Backend::Postgres, n).await;
    store.pool().execute("ANALYZE api_keys").await.unwrap();
    store.close().await;
    (schema.url, schema.name)
}

/// The server state on `url`, with the key cache as in `cache_seconds`, and its pool.
async fn state(url: &str, cache_seconds: u32) -> (AppState, sqlx::AnyPool) {
    let toml = format!(
        "database = \"{url}\"\nenvironment = \"local\"\n[log]\nlevel = \"warn\"\n\
         [api_keys]\nprefix = \"{PREFIX}\"\ncache_seconds = {cache_seconds}\n"
    );
    let config = Config::from_toml_str(&toml).unwrap();
    let sql = castellan_store::connect(url).await.unwrap();
    let pool = sql.pool().clone();
    let store: Arc<dyn Store> = sql;
    let state = castellan_server::start(config, store, Arc::new(SystemClock))
        .await
        .unwrap();
    (state, pool)
}

/// Waits until no pooled connection is in use for 100 ms (background writes done).
async fn settle(pool: &sqlx::AnyPool) {
    let mut idle_for = 0;
    while idle_for < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if pool.num_idle() == pool.size() as usize {
            idle_for += 1;
        } else {
            idle_for = 0;
        }
    }
}

struct Case {
    state: AppState,
    keys: Vec<String>,
    now: DateTime<Utc>,
}

impl Case {
    /// Checks every key of the working set once (filling the cache when there is one, and
    /// the day-granular last-use record, whose background writes are let finish), so that
    /// the measurement sees no first-use writes.
    async fn new(url: &str, n: u64, set: usize, cache_seconds: u32) -> Case {
        let (state, pool) = state(url, cache_seconds).await;
        let keys: Vec<String> = working_set(n, set).into_iter().map(key).collect();
        let now = SystemClock.now();
        for k in &keys {
            let checked = check_api_key(&state, k, now).await.unwrap();
            assert!(checked.is_ok(), "a stored bench key was refused");
        }
        settle(&pool).await;
        Case { state, keys, now }
    }
}

fn run_cases(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    backend: &str,
    urls: &[(u64, String)],
) {
    let mut storage = c.benchmark_group(format!("api_key_lookup_{backend}/storage"));
    storage.throughput(Throughput::Elements(1));
    for (n, url) in urls {
        let mut sets = vec![WORKING_SET];
        if *n >= LARGE {
            sets.push(WIDE_WORKING_SET);
        }
        for set in sets {
            let case = rt.block_on(Case::new(url, *n, set, 0));
            let next = AtomicUsize::new(0);
            storage.bench_function(
                BenchmarkId::new(format!("{n}_keys"), format!("{set}_working_set")),
                |b| {
                    b.to_async(rt).iter(|| {
                    let i = next.fetch_add(1, Ordering::Relaxed) % case.keys.len();
                    let (state, key, now) = (&case.state, &case.keys[i], case.now);
                    async move { black_box(check_api_key(state, key, now).await.unwrap().is_ok()) }
                });
                },
            );
        }
    }
    storage.finish();

    let mut hot = c.benchmark_group(format!("api_key_lookup_{backend}/hot_cache"));
    hot.throughput(Throughput::Elements(1));
    for (n, url) in urls {
        let case = rt.block_on(Case::new(url, *n, WORKING_SET, 10));
        let next = AtomicUsize::new(0);
        hot.bench_function(
            BenchmarkId::new(format!("{n}_keys"), format!("{WORKING_SET}_working_set")),
            |b| {
                b.to_async(rt).iter(|| {
                    let i = next.fetch_add(1, Ordering::Relaxed) % case.keys.len();
                    let (state, key, now) = (&case.state, &case.keys[i], case.now);
                    async move { black_box(check_api_key(state, key, now).await.unwrap().is_ok()) }
                });
            },
        );
    }
    hot.finish();
}

fn api_key_lookup(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sqlite: Vec<(u64, String)> = [SMALL, LARGE]
        .into_iter()
        .map(|n| (n, rt.block_on(sqlite_store(n))))
        .collect();
    run_cases(c, &rt, "sqlite", &sqlite);

    if let Ok(base) = std::env::var("CASTELLAN_BENCH_POSTGRES_URL") {
        let pg: Vec<(u64, String, String)> = [SMALL, LARGE]
            .into_iter()
            .map(|n| {
                let (url, schema) = rt.block_on(postgres_store(&base, n));
                (n, url, schema)
            })
            .collect();
        let urls: Vec<(u64, String)> = pg.iter().map(|(n, u, _)| (*n, u.clone())).collect();
        run_cases(c, &rt, "postgres", &urls);
        for (_, _, schema) in &pg {
            let _ = rt.block_on(castellan_store::testing::drop_postgres_schema(
                &base, schema,
            ));
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = api_key_lookup
}
criterion_main!(benches);
