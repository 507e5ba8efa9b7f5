//! Cost of a password login's Argon2id verification (bench/people.sh, bench/RESULTS-people.md):
//! Castellan's own `verify_password` (Argon2id m = 19 456 KiB, t = 2, p = 1, on the blocking
//! pool) and `hash_password`, the same verification called directly, the other parameter sets
//! OWASP lists as equivalent and RFC 9106's second recommended option, for comparison, and the
//! SHA-256 check of a generated secret as the same-run baseline. Run it pinned to one core
//! (`taskset -c 0`): one verification's time is the inverse of logins per second per core.
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark may stop on a broken set-up"
)]

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use castellan_core::Secret;
use castellan_server::people::passwords::{hash_password, verify_password};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";

fn argon2id(m_kib: u32, t: u32, p: u32) -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(m_kib, t, p, None).unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    // The same-run baseline: the check of a generated 256-bit secret (client secrets, codes,
    // refresh tokens, sessions).
    let stored = castellan_crypto::hash_secret("a-generated-256-bit-secret-43-characters-xx");
    c.bench_function("baseline_sha256_secret_check", |b| {
        b.iter(|| {
            castellan_crypto::verify_secret(
                std::hint::black_box("a-generated-256-bit-secret-43-characters-xx"),
                &stored,
            )
        });
    });

    let mut g = c.benchmark_group("argon2id");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    let phc = rt.block_on(hash_password(Secret::new(PASSWORD))).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    g.bench_function("castellan_verify_password", |b| {
        b.to_async(&rt).iter(|| async {
            assert!(verify_password(Secret::new(PASSWORD), phc.clone()).await);
        });
    });
    g.bench_function("castellan_hash_password", |b| {
        b.to_async(&rt)
            .iter(|| async { hash_password(Secret::new(PASSWORD)).await.unwrap() });
    });

    // Direct verification with OWASP's equivalent settings (Password Storage Cheat Sheet) and
    // RFC 9106 §4's second recommended option, for the justification of the choice.
    let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
    for (name, m, t, p) in [
        ("owasp_m47104_t1_p1", 47_104, 1, 1),
        ("owasp_m19456_t2_p1_castellan", 19_456, 2, 1),
        ("owasp_m12288_t3_p1", 12_288, 3, 1),
        ("owasp_m9216_t4_p1", 9_216, 4, 1),
        ("owasp_m7168_t5_p1", 7_168, 5, 1),
        ("rfc9106_second_m65536_t3_p4", 65_536, 3, 4),
    ] {
        let a = argon2id(m, t, p);
        let hash = a
            .hash_password(PASSWORD.as_bytes(), &salt)
            .unwrap()
            .to_string();
        g.bench_function(format!("verify_{name}"), |b| {
            b.iter(|| {
                let parsed = PasswordHash::new(&hash).unwrap();
                assert!(a.verify_password(PASSWORD.as_bytes(), &parsed).is_ok());
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
