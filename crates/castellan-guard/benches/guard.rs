//! The guard's JWT check against the raw signature check it wraps, in process:
//! `raw_verify` (castellan_crypto::jws::verify, ES256), `guard_fresh` (a token never seen
//! before: parse, verify, claims, cache insert) and `guard_cached` (the same token again).
//! Target: guard_fresh ≥ 0.9 × raw_verify; guard_cached far above.
//!
//! `request_check`: the whole check of a request (`Guard::check`) with a cached token sent as
//! `Bearer`, and with a cached DPoP-bound token sent as `DPoP` with a fresh proof (made outside
//! the measurement): the proof's parse, signature, claims and replay check are the difference.
//! Target (issue 14): dpop ≥ 0.5 × bearer.
#![expect(
    clippy::unwrap_used,
    reason = "a load run stops on a broken set-up and prints its report"
)]

use axum::routing::get;
use axum::{Json, Router};
use castellan_core::Environment;
use castellan_crypto::{jws, Algorithm, SigningKey};
use castellan_guard::{Guard, GuardConfig};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::sync::atomic::{AtomicU64, Ordering};

const ISSUER: &str = "http://bench.issuer";

static N: AtomicU64 = AtomicU64::new(0);

fn fresh_token(key: &SigningKey) -> String {
    bound_token(key, None)
}

fn bound_token(key: &SigningKey, jkt: Option<&str>) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": "client-1",
        "aud": ISSUER,
        "exp": now + 3600,
        "iat": now,
        "jti": format!("jti-{}", N.fetch_add(1, Ordering::Relaxed)),
        "client_id": "client-1",
        "scope": "products:read products:write",
        "env": "local",
        "org": "org-1",
    });
    let mut claims = claims;
    if let Some(jkt) = jkt {
        claims["cnf"] = serde_json::json!({ "jkt": jkt });
    }
    jws::sign(key, "at+jwt", &claims).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (key, _) = SigningKey::generate(Algorithm::Es256, "bench".into()).unwrap();
    let vk = key.verifying_key().unwrap();
    let doc = serde_json::json!({"keys": [vk.jwk().clone()]});
    let jwks_url = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/jwks", get(move || async move { Json(doc) }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/jwks")
    });
    let mut config = GuardConfig::new(ISSUER, Environment::Local);
    config.jwks_url = Some(jwks_url);
    config.dpop.public_base_url = Some("https://api.bench".into());
    let guard = rt.block_on(async { Guard::new(config).unwrap() });
    // Warm the JWKS so that no fetch is measured.
    let warm = fresh_token(&key);
    rt.block_on(guard.check_bearer(&warm)).unwrap();

    let mut g = c.benchmark_group("jwt_check");
    g.bench_function("raw_verify", |b| {
        b.iter_batched(
            || fresh_token(&key),
            |t| jws::verify(&t, Some("at+jwt"), |kid| (kid == vk.kid()).then_some(&vk)).unwrap(),
            BatchSize::SmallInput,
        );
    });
    g.bench_function("guard_fresh", |b| {
        b.to_async(&rt).iter_batched(
            || fresh_token(&key),
            |t| {
                let guard = guard.clone();
                async move { guard.check_bearer(&t).await.unwrap() }
            },
            BatchSize::SmallInput,
        );
    });
    let same = fresh_token(&key);
    g.bench_function("guard_cached", |b| {
        b.to_async(&rt)
            .iter(|| async { guard.check_bearer(&same).await.unwrap() });
    });
    g.finish();

    let (client_key, _) = SigningKey::generate(Algorithm::Es256, "client".into()).unwrap();
    let jkt = castellan_crypto::dpop::jwk_thumbprint(
        client_key
            .verifying_key()
            .unwrap()
            .jwk()
            .as_object()
            .unwrap(),
    )
    .unwrap();
    let bearer = fresh_token(&key);
    let bound = bound_token(&key, Some(&jkt));
    let url = "https://api.bench/products";
    let mut bearer_headers = http::HeaderMap::new();
    bearer_headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {bearer}").parse().unwrap(),
    );
    let method = http::Method::GET;
    let mut r = c.benchmark_group("request_check");
    r.bench_function("bearer", |b| {
        b.to_async(&rt).iter(|| async {
            guard
                .check(&method, "/products", &bearer_headers)
                .await
                .unwrap()
        });
    });
    r.bench_function("dpop", |b| {
        b.to_async(&rt).iter_batched(
            || {
                let now = chrono::Utc::now().timestamp();
                let jti = format!("p-{}", N.fetch_add(1, Ordering::Relaxed));
                let proof = castellan_crypto::dpop::make_proof(
                    &client_key,
                    "GET",
                    url,
                    now,
                    &jti,
                    Some(&bound),
                    None,
                )
                .unwrap();
                let mut h = http::HeaderMap::new();
                h.insert(
                    http::header::AUTHORIZATION,
                    format!("DPoP {bound}").parse().unwrap(),
                );
                h.insert("dpop", proof.parse().unwrap());
                h
            },
            |h| {
                let guard = guard.clone();
                let method = method.clone();
                async move { guard.check(&method, "/products", &h).await.unwrap() }
            },
            BatchSize::SmallInput,
        );
    });
    r.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
