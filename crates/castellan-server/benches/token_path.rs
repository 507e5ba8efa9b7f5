//! The `client_credentials` token path in process, without sockets: Castellan's whole router
//! answering `POST /oauth/token` against the load benchmark's baseline handler (a bare axum
//! route that checks a SHA-256 hash and signs an ES256 JWT, as
//! `examples/baseline_token.rs`), both driven with `tower::ServiceExt::oneshot`.
//!
//! The HTTP load benchmark (`bench/token.sh`) adds the same kernel and hyper cost to both; this
//! one shows what Castellan's own code adds on top of the signature, and is the quick loop for
//! profiling it (`perf record` on the bench binary).
//!
//! `castellan_dpop` is the same request with a fresh DPoP proof (made outside the measurement):
//! the proof's parse, signature check and replay record (one storage insert: SQLite here) are
//! the difference. Target (issue 14): DPoP ≥ 0.6 × bearer.
//! Run: `cargo bench -p castellan-server --bench token_path`.
#![expect(
    clippy::unwrap_used,
    reason = "a load run stops on a broken set-up and prints its report"
)]

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_crypto::keys::{Algorithm, SigningKey};
use castellan_crypto::{hash_secret, Clock, SystemClock};
use castellan_server::management::clients::{build_client, ClientDraft};
use castellan_server::platform::config::Config;
use castellan_store::Store;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

/// The load benchmark's baseline handler, shared with `examples/baseline_token.rs`.
#[path = "../examples/baseline_token.rs"]
#[expect(
    dead_code,
    reason = "the benchmark uses the handler, not the whole example"
)]
mod baseline_token;
use baseline_token::{token as baseline_token_handler, Baseline};

// The allocator of the `castellan` binary, for both sides.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONFIG: &str = r#"
environment = "local"
[log]
level = "warn"
[rate_limit.policies.unlimited]
windows = [{ limit = 1000000000, seconds = 60 }]
[rate_limit.tiers]
default = "unlimited"
[rate_limit.per_ip]
token = "unlimited"
"#;

fn request(path: &str, basic: &str) -> Request<Body> {
    request_with(path, basic, None)
}

fn request_with(path: &str, basic: &str, proof: Option<&str>) -> Request<Body> {
    let mut req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {basic}"));
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    let mut req = req
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    req
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (castellan, basic) = rt.block_on(async {
        let config = Config::from_toml_str(&format!("database = \"{url}\"\n{CONFIG}")).unwrap();
        let sql = castellan_store::connect(&url).await.unwrap();
        let store: Arc<dyn Store> = sql;
        let (client, secret) = build_client(
            ClientDraft {
                name: "bench".into(),
                scope: "products:read".into(),
                ..ClientDraft::default()
            },
            &config,
            SystemClock.now(),
        )
        .unwrap();
        store.insert_client(&client).await.unwrap();
        let state = castellan_server::start(config, store, Arc::new(SystemClock))
            .await
            .unwrap();
        let basic = STANDARD.encode(format!("{}:{}", client.id, secret.unwrap().expose()));
        (castellan_server::app(state), basic)
    });
    let (key, _) = SigningKey::generate(Algorithm::Es256, "baseline".into()).unwrap();
    let baseline = Router::new()
        .route("/token", post(baseline_token_handler))
        .with_state(Arc::new(Baseline {
            key,
            hash: hash_secret("baseline-secret"),
        }));
    let baseline_basic = STANDARD.encode("baseline:baseline-secret");

    let mut group = c.benchmark_group("token_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline", |b| {
        b.iter(|| {
            let res = rt
                .block_on(baseline.clone().oneshot(request("/token", &baseline_basic)))
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        });
    });
    group.bench_function("castellan", |b| {
        b.iter(|| {
            let res = rt
                .block_on(castellan.clone().oneshot(request("/oauth/token", &basic)))
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        });
    });
    let (client_key, _) = SigningKey::generate(Algorithm::Es256, "client".into()).unwrap();
    let htu = "http://localhost:8000/oauth/token";
    group.bench_function("castellan_dpop", |b| {
        b.iter_batched(
            || {
                let jti = castellan_crypto::generate_secret().expose()[..22].to_owned();
                let now = chrono::Utc::now().timestamp();
                let proof = castellan_crypto::dpop::make_proof(
                    &client_key,
                    "POST",
                    htu,
                    now,
                    &jti,
                    None,
                    None,
                )
                .unwrap();
                request_with("/oauth/token", &basic, Some(&proof))
            },
            |req| {
                let res = rt.block_on(castellan.clone().oneshot(req)).unwrap();
                assert_eq!(res.status(), StatusCode::OK);
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
