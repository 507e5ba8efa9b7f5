//! High-entropy secrets (client secrets, registration access tokens, opaque tokens): 256 random
//! bits, shown once, stored as SHA-256, compared in constant time. A fast hash is right for
//! these: guessing a 256-bit value is infeasible however fast the hash, and a
//! deliberately slow hash would cap token throughput for nothing.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::client::SecretHash;
use castellan_core::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SystemRandom only fails when the OS has no entropy source at all; there is no safe
    // fallback, so such a machine cannot run Castellan.
    if SystemRandom::new().fill(&mut buf).is_err() {
        panic_no_entropy();
    }
    buf
}

/// Random bytes for identifiers that must be unique and unguessable but grant nothing by
/// themselves (a JWT's `jti`): from the thread-local ChaCha CSPRNG of `rand`, seeded and
/// periodically reseeded from the operating system. It is much cheaper than asking the system
/// generator (bench/RESULTS.md), which matters once per issued token. Secrets use
/// [`random_bytes`].
pub fn id_random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut buf);
    buf
}

fn panic_no_entropy() -> ! {
    panic!("the operating system's random number generator failed")
}

/// A new 256-bit secret, base64url without padding (43 characters).
pub fn generate_secret() -> Secret {
    Secret::new(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// Whether `value` could be a secret [`generate_secret`] made (43 base64url characters): what
/// a presented session id, CSRF token or link token must look like before it is looked up.
pub fn is_generated_secret(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new random identifier of `len` alphanumeric characters (at most 32), for ids that must be
/// unique and unguessable but grant nothing by themselves (audit events, links, people).
pub fn random_id(len: usize) -> String {
    castellan_core::ids::alphanumeric_id(&id_random_bytes::<64>(), len)
        .unwrap_or_else(|| generate_secret().into_exposed())
}

/// SHA-256 of a presented secret.
pub fn hash_secret(secret: &str) -> SecretHash {
    SecretHash(Sha256::digest(secret.as_bytes()).into())
}

/// Whether `presented` hashes to `stored`, compared in constant time.
pub fn verify_secret(presented: &str, stored: &SecretHash) -> bool {
    let h = hash_secret(presented);
    h.0.ct_eq(&stored.0).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_have_the_shape_checked_and_ids_their_length() {
        let s = generate_secret();
        assert!(is_generated_secret(s.expose()));
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &"é".repeat(21),
        ] {
            assert!(!is_generated_secret(bad), "{bad}");
        }
        let id = random_id(22);
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_id(22), id);
    }

    #[test]
    fn secrets_are_long_unique_and_verifiable() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a, b);
        let h = hash_secret(a.expose());
        assert!(verify_secret(a.expose(), &h));
        assert!(!verify_secret(b.expose(), &h));
        assert!(!verify_secret("", &h));
    }
}
