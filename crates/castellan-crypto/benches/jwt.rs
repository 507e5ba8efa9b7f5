//! Raw signing and verification rates of the crypto backend, the baseline the token endpoint
//! and the guard are compared against.
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark may stop on a broken set-up"
)]

use castellan_crypto::jws;
use castellan_crypto::keys::{Algorithm, SigningKey};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

fn bench(c: &mut Criterion) {
    for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
        let (key, _) = SigningKey::generate(alg, "bench".into()).unwrap();
        let vk = key.verifying_key().unwrap();
        let claims = json!({"iss": "http://localhost:8000", "sub": "client", "aud": "api",
            "exp": 2_000_000_000u64, "iat": 1_700_000_000u64, "jti": "abcdefabcdefabcdef",
            "client_id": "client", "scope": "products:read orders:read"});
        c.bench_function(&format!("sign_jwt_{alg}"), |b| {
            b.iter(|| jws::sign(&key, "at+jwt", &claims).unwrap());
        });
        let token = jws::sign(&key, "at+jwt", &claims).unwrap();
        c.bench_function(&format!("verify_jwt_{alg}"), |b| {
            b.iter(|| jws::verify(&token, Some("at+jwt"), |_| Some(&vk)).unwrap());
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
