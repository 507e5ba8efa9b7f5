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
use axum::http::{header, Request, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_crypto::hash_secret;
use castellan_crypto::keys::{Algorithm, SigningKey};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::sync::Arc;
use tower::ServiceExt;

#[path = "support/in_process.rs"]
mod in_process;

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
    in_process::from_peer(
        req.body(Body::from("grant_type=client_credentials"))
            .unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = in_process::start(&rt, "");
    let (castellan, basic) = (server.router.clone(), server.basic.clone());
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
    // Token exchange of a JWT subject token (RFC 8693): the client exchanges its own token for
    // a narrower one, the subject token checked through the token check cache, as an agent
    // exchanging one person's token for several calls does.
    let exchanger = server.add_client(
        &rt,
        castellan_server::management::clients::ClientDraft {
            name: "exchanger".into(),
            scope: "products:read orders:read".into(),
            grant_types: Some(vec![
                "client_credentials".into(),
                "urn:ietf:params:oauth:grant-type:token-exchange".into(),
            ]),
            ..Default::default()
        },
    );
    let subject = {
        let res = rt
            .block_on(
                castellan
                    .clone()
                    .oneshot(request("/oauth/token", &exchanger)),
            )
            .unwrap();
        let body = rt
            .block_on(axum::body::to_bytes(res.into_body(), 1 << 16))
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    };
    let form = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
         &subject_token={subject}\
         &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
         &scope=orders%3Aread"
    );
    // A device polling while its person has not decided (RFC 8628): client authentication,
    // then the pending authorization from the cache and the pace check; nothing written.
    let device = server.add_client(
        &rt,
        castellan_server::management::clients::ClientDraft {
            name: "device".into(),
            scope: "products:read".into(),
            grant_types: Some(vec!["urn:ietf:params:oauth:grant-type:device_code".into()]),
            ..Default::default()
        },
    );
    let device_code = {
        let req = in_process::from_peer(
            Request::post("/oauth/device_authorization")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, format!("Basic {device}"))
                .body(Body::from("scope=products%3Aread"))
                .unwrap(),
        );
        let res = rt.block_on(castellan.clone().oneshot(req)).unwrap();
        let body = rt
            .block_on(axum::body::to_bytes(res.into_body(), 1 << 16))
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["device_code"].as_str().unwrap().to_owned()
    };
    let poll = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code={device_code}"
    );
    group.bench_function("castellan_device_poll", |b| {
        b.iter(|| {
            let req = in_process::from_peer(
                Request::post("/oauth/token")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::AUTHORIZATION, format!("Basic {device}"))
                    .body(Body::from(poll.clone()))
                    .unwrap(),
            );
            let res = rt.block_on(castellan.clone().oneshot(req)).unwrap();
            // authorization_pending or slow_down: the person has not decided.
            assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        });
    });
    group.bench_function("castellan_exchange", |b| {
        b.iter(|| {
            let req = in_process::from_peer(
                Request::post("/oauth/token")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::AUTHORIZATION, format!("Basic {exchanger}"))
                    .body(Body::from(form.clone()))
                    .unwrap(),
            );
            let res = rt.block_on(castellan.clone().oneshot(req)).unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
