//! Compact JWS/JWT as presented (access tokens, client assertions, DPoP proofs, ID token hints):
//! any text is parsed, decoded and verified against a key, or refused, never a panic; nothing
//! verifies without the signing key.
#![no_main]

use castellan_crypto::jws;
use castellan_crypto::{Algorithm, SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static KEY: LazyLock<VerifyingKey> = LazyLock::new(|| {
    let (key, _) = SigningKey::generate(Algorithm::Es256, "fuzz".into()).expect("a key");
    key.verifying_key().expect("its public half")
});

fuzz_target!(|token: &str| {
    let _ = jws::parse(token);
    let _ = jws::decode_unverified(token);
    // No input forges a signature of a key the fuzzer never saw.
    assert!(jws::verify(token, Some("at+jwt"), |_| Some(&*KEY)).is_err());
});
