//! Forward-auth in process, without sockets: the whole check of a forwarded request
//! (`GET /forward-auth` answered by Castellan's router through `tower::ServiceExt::oneshot`)
//! with a cached JWT sent as `Bearer`, with a never-seen JWT sent as `Bearer` (its signature
//! checked), and with a cached DPoP-bound JWT sent as `DPoP` with a fresh proof (made outside
//! the measurement: the proof's parse, signature check and replay record are the difference).
//! Target (issue 14): DPoP ≥ 0.5 × bearer.
//! Run: `cargo bench -p castellan-server --bench forward_auth_dpop`.
#![expect(
    clippy::unwrap_used,
    reason = "a load run stops on a broken set-up and prints its report"
)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use castellan_crypto::keys::{Algorithm, SigningKey};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tower::ServiceExt;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/in_process.rs"]
#[expect(dead_code, reason = "this benchmark adds no client of its own")]
mod in_process;
use in_process::from_peer as with_peer;

const GATEWAY: &str = r#"
[gateway]
public_base_url = "https://api.bench"
[[gateway.routes]]
method = "GET"
path = "/products/*"
scope = "products:read"
"#;

fn check(authorization: &str, proof: Option<&str>) -> Request<Body> {
    let mut req = Request::get("/forward-auth")
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/products/1")
        .header(header::AUTHORIZATION, authorization);
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    with_peer(req.body(Body::empty()).unwrap())
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = in_process::start(&rt, GATEWAY);
    let (castellan, basic) = (server.router.clone(), server.basic.clone());
    let (client_key, _) = SigningKey::generate(Algorithm::Es256, "client".into()).unwrap();
    let token = |proof: Option<String>| {
        let mut req = Request::post("/oauth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, format!("Basic {basic}"));
        if let Some(p) = proof {
            req = req.header("dpop", p);
        }
        let req = with_peer(
            req.body(Body::from("grant_type=client_credentials"))
                .unwrap(),
        );
        let res = rt.block_on(castellan.clone().oneshot(req)).unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = rt
            .block_on(axum::body::to_bytes(res.into_body(), 1 << 16))
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    };
    let proof = |htm: &str, htu: &str, token: Option<&str>| {
        let jti = castellan_crypto::generate_secret().expose()[..22].to_owned();
        castellan_crypto::dpop::make_proof(
            &client_key,
            htm,
            htu,
            chrono::Utc::now().timestamp(),
            &jti,
            token,
            None,
        )
        .unwrap()
    };
    let bearer = format!("Bearer {}", token(None));
    let bound = token(Some(proof(
        "POST",
        "http://localhost:8000/oauth/token",
        None,
    )));
    let dpop = format!("DPoP {bound}");

    let mut group = c.benchmark_group("forward_auth");
    group.throughput(Throughput::Elements(1));
    group.bench_function("bearer_cached", |b| {
        b.iter(|| {
            let res = rt
                .block_on(castellan.clone().oneshot(check(&bearer, None)))
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        });
    });
    group.bench_function("bearer_new_token", |b| {
        b.iter_batched(
            || format!("Bearer {}", token(None)),
            |auth| {
                let res = rt
                    .block_on(castellan.clone().oneshot(check(&auth, None)))
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK);
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("dpop_cached", |b| {
        b.iter_batched(
            || proof("GET", "https://api.bench/products/1", Some(&bound)),
            |p| {
                let res = rt
                    .block_on(castellan.clone().oneshot(check(&dpop, Some(&p))))
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK);
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
