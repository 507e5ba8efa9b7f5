//! Server nonces for DPoP proofs (RFC 9449 §8), without storage: a nonce names a period of
//! `dpop.nonce_lifetime_seconds` and carries a MAC of it, keyed by a secret every replica
//! derives alike from the signing keys in storage (the oldest one kept), over the issuer and
//! environment too. The current and the previous period's nonces are accepted, under the
//! current secret and the one before it: when the oldest key expires, nonces given out just
//! before stay good for their period on every replica that has seen both secrets.

use crate::platform::state::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The nonce to give out at `now`.
pub fn current(state: &AppState, now: DateTime<Utc>) -> String {
    nonce_of(
        &state.keys.derived_secret(),
        &label(state),
        period(state, now),
    )
}

/// Whether `presented` is the current or the previous period's nonce.
pub fn is_current(state: &AppState, presented: Option<&str>, now: DateTime<Utc>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    let (secret, previous) = state.keys.derived_secrets();
    let label = label(state);
    let p = period(state, now);
    std::iter::once(secret).chain(previous).any(|secret| {
        [p, p.saturating_sub(1)].iter().any(|&p| {
            constant_time_eq(
                nonce_of(&secret, &label, p).as_bytes(),
                presented.as_bytes(),
            )
        })
    })
}

/// What a nonce is for: this issuer in this environment (two deployments that share keys,
/// such as a staging copy of production, do not accept each other's nonces).
fn label(state: &AppState) -> String {
    format!(
        "{}\0{}",
        state.config.issuer,
        state.config.environment.as_str()
    )
}

fn period(state: &AppState, now: DateTime<Utc>) -> u64 {
    let lifetime = u64::from(state.config.dpop.nonce_lifetime_seconds.max(1));
    u64::try_from(now.timestamp()).unwrap_or(0) / lifetime
}

/// `<period>.<base64url of the first 16 bytes of HMAC-SHA256(secret, "dpop-nonce" 0 label 0
/// period)>`.
fn nonce_of(secret: &[u8; 32], label: &str, period: u64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(b"dpop-nonce\0");
    mac.update(label.as_bytes());
    mac.update(b"\0");
    mac.update(&period.to_be_bytes());
    let tag = mac.finalize().into_bytes();
    format!("{period}.{}", URL_SAFE_NO_PAD.encode(&tag[..16]))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_depends_on_the_secret_and_the_period() {
        let a = nonce_of(&[1; 32], "i", 7);
        assert_eq!(a, nonce_of(&[1; 32], "i", 7));
        assert_ne!(a, nonce_of(&[2; 32], "i", 7));
        assert_ne!(a, nonce_of(&[1; 32], "i", 8));
        assert_ne!(a, nonce_of(&[1; 32], "j", 7));
        assert!(a.starts_with("7."));
        // Only characters a DPoP-Nonce may hold (RFC 9449 §8.1: NQCHAR).
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
