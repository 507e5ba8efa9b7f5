//! One-time codes from authenticator apps (TOTP, RFC 6238) with the parameters every app reads
//! from an `otpauth://` link: HMAC-SHA-1, six digits, 30-second steps, a 160-bit secret (RFC 4226
//! §4 recommends 160 bits), shown to the person in base32.
//!
//! A code is accepted for the step it belongs to and one step either side (clocks drift), and
//! only for a step later than the last one accepted ([`matching_step`]'s `after`): each code
//! counts once.

use crate::secret::random_bytes;
use castellan_core::Secret;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Steps accepted either side of the current one.
const SKEW: i64 = 1;

/// A new secret, in base32 without padding (what the person types or scans).
pub fn generate_totp_secret() -> Secret {
    let bytes = random_bytes::<20>();
    Secret::new(
        totp_rs::Secret::Raw(bytes.to_vec())
            .to_encoded()
            .to_string(),
    )
}

/// The step `unix_seconds` falls in.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

fn totp(secret_base32: &str) -> Option<TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .ok()?;
    // Skew and step are applied here, not by the crate: it checks single steps.
    TOTP::new(Algorithm::SHA1, DIGITS, 0, STEP_SECONDS as u64, bytes).ok()
}

/// The code of `step` for `secret_base32`; `None` for a secret that is not base32 of 128 bits
/// or more.
pub fn code_at(secret_base32: &str, step: i64) -> Option<String> {
    let time = u64::try_from(step.checked_mul(STEP_SECONDS)?).ok()?;
    Some(totp(secret_base32)?.generate(time))
}

/// The step whose code `presented` is, among the steps around `unix_seconds` ([`SKEW`] either
/// side) that come after `after` (the last step accepted, so a code counts once); `None` when
/// it is none of them. Anything but six ASCII digits is refused before any code is computed;
/// codes are compared in constant time.
pub fn matching_step(
    secret_base32: &str,
    presented: &str,
    unix_seconds: i64,
    after: i64,
) -> Option<i64> {
    if presented.len() != DIGITS || !presented.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret_base32)?;
    let now = step_at(unix_seconds);
    (now - SKEW..=now + SKEW)
        .filter(|step| *step > after)
        .find(|step| {
            u64::try_from(step * STEP_SECONDS).is_ok_and(|time| {
                bool::from(totp.generate(time).as_bytes().ct_eq(presented.as_bytes()))
            })
        })
}

/// The `otpauth://totp/` link an authenticator app reads (from a QR code): labelled
/// `issuer:account`, with the secret, the issuer and the parameters as query parameters
/// (percent-encoded, spaces as `%20` as the apps expect).
pub fn otpauth_uri(secret_base32: &str, issuer: &str, account: &str) -> String {
    let encode = |s: &str| {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    let issuer = encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        encode(account),
        encode(secret_base32),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 secret ("12345678901234567890"), in base32.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn codes_match_rfc_6238_test_vectors() {
        // Appendix B lists eight digits; the six-digit code is their last six.
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(
                code_at(RFC_SECRET, step_at(time)).as_deref(),
                Some(&eight[2..])
            );
        }
    }

    #[test]
    fn a_code_counts_for_its_step_and_one_either_side_and_once() {
        let secret = generate_totp_secret();
        let secret = secret.expose();
        let now = 1_800_000_000;
        let step = step_at(now);
        let code = code_at(secret, step).unwrap();
        assert_eq!(matching_step(secret, &code, now, 0), Some(step));
        // From the neighbouring steps' points of view.
        assert_eq!(matching_step(secret, &code, now - 30, 0), Some(step));
        assert_eq!(matching_step(secret, &code, now + 30, 0), Some(step));
        // Two steps away it is refused.
        assert_eq!(matching_step(secret, &code, now + 60, 0), None);
        // Once its step was accepted, it is refused.
        assert_eq!(matching_step(secret, &code, now, step), None);
    }

    #[test]
    fn anything_but_six_digits_is_refused() {
        let secret = generate_totp_secret();
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "１２３４５６",
            &"9".repeat(10_000),
        ] {
            assert_eq!(matching_step(secret.expose(), bad, 1_800_000_000, 0), None);
        }
    }

    #[test]
    fn secrets_are_160_bits_of_base32_and_links_name_issuer_and_account() {
        let secret = generate_totp_secret();
        assert_eq!(secret.expose().len(), 32);
        let uri = otpauth_uri(secret.expose(), "My Castellan", "ana@example.com");
        assert!(
            uri.starts_with("otpauth://totp/My%20Castellan:ana%40example.com?secret="),
            "{uri}"
        );
        assert!(uri.contains("&issuer=My%20Castellan&"), "{uri}");
    }
}
