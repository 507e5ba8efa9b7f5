//! Refresh tokens and their storage keys.
//!
//! A refresh token is its issue time (milliseconds since the epoch, 6 bytes big-endian)
//! followed by 256 random bits, base64url without padding (51 characters). It is stored only as
//! its key: the issue time again, then the first 26 bytes of the token's SHA-256. Keys of new
//! tokens therefore sort by issue time, so each rotation's insert lands at the end of the
//! storage index, beside the ones before it, instead of on a random page of an index of
//! millions (bench/RESULTS.md, soak and size): the pages a database writes back stay few however
//! large the table grows. The time says when the token was issued, which its holder knows; the
//! 208 bits of hash, like the whole hash of any secret, cannot be turned back into the token.
//!
//! A value of any other shape (a 43-character refresh token issued before this format, or
//! anything else presented) is keyed by its whole SHA-256, as those tokens were stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::Secret;
use sha2::{Digest, Sha256};

/// Bytes of the issue time at the start of a token and of its key.
const TIME_BYTES: usize = 6;
/// Bytes of a token: the time, then 256 random bits.
const TOKEN_BYTES: usize = TIME_BYTES + 32;
/// Characters of a token in base64url without padding.
const TOKEN_CHARS: usize = 51;

/// A new refresh token issued at `now_millis` (milliseconds since the epoch), shown once, and
/// its storage key.
pub fn generate_refresh_token(now_millis: i64) -> (Secret, [u8; 32]) {
    let mut raw = [0u8; TOKEN_BYTES];
    raw[..TIME_BYTES].copy_from_slice(&time_prefix(now_millis));
    raw[TIME_BYTES..].copy_from_slice(&crate::random_bytes::<32>());
    let token = URL_SAFE_NO_PAD.encode(raw);
    let key = refresh_token_key(&token);
    (Secret::new(token), key)
}

/// The storage key of a presented refresh token: its issue time and 26 bytes of its SHA-256
/// for a token [`generate_refresh_token`] made, the whole SHA-256 for any other value.
pub fn refresh_token_key(presented: &str) -> [u8; 32] {
    let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    // Room for the decoder's estimate (three bytes per four characters, rounded up).
    let mut raw = [0u8; TOKEN_BYTES + 3];
    let timed = presented.len() == TOKEN_CHARS
        && URL_SAFE_NO_PAD
            .decode_slice(presented.as_bytes(), &mut raw)
            .is_ok_and(|n| n == TOKEN_BYTES);
    if !timed {
        return hash;
    }
    let mut key = [0u8; 32];
    key[..TIME_BYTES].copy_from_slice(&raw[..TIME_BYTES]);
    key[TIME_BYTES..].copy_from_slice(&hash[..32 - TIME_BYTES]);
    key
}

/// The low 48 bits of `millis`, big-endian: the epoch's milliseconds fit until the year 10 889.
fn time_prefix(millis: i64) -> [u8; TIME_BYTES] {
    let all = millis.max(0).to_be_bytes();
    let mut out = [0u8; TIME_BYTES];
    out.copy_from_slice(&all[8 - TIME_BYTES..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_is_51_characters_keyed_by_its_time_and_its_hash() {
        let now = 1_796_000_000_123;
        let (token, key) = generate_refresh_token(now);
        assert_eq!(token.expose().len(), TOKEN_CHARS);
        assert_eq!(key, refresh_token_key(token.expose()));
        assert_eq!(key[..TIME_BYTES], time_prefix(now));
        let hash: [u8; 32] = Sha256::digest(token.expose().as_bytes()).into();
        assert_eq!(key[TIME_BYTES..], hash[..26]);
        let (other, other_key) = generate_refresh_token(now);
        assert_ne!(token.expose(), other.expose());
        assert_ne!(key, other_key);
    }

    #[test]
    fn keys_of_later_tokens_sort_after_earlier_ones() {
        let mut last = [0u8; 32];
        for millis in [
            1_000,
            1_001,
            1_796_000_000_000,
            1_796_000_000_001,
            2_900_000_000_000,
        ] {
            let (_, key) = generate_refresh_token(millis);
            assert!(key > last, "{millis}");
            last = key;
        }
    }

    #[test]
    fn any_other_value_is_keyed_by_its_whole_hash() {
        let legacy = crate::generate_secret();
        let whole: [u8; 32] = Sha256::digest(legacy.expose().as_bytes()).into();
        assert_eq!(refresh_token_key(legacy.expose()), whole);
        // 51 characters that are not base64url, and an empty value.
        for other in ["*".repeat(TOKEN_CHARS), String::new(), "é".repeat(25)] {
            let whole: [u8; 32] = Sha256::digest(other.as_bytes()).into();
            assert_eq!(refresh_token_key(&other), whole, "{other}");
        }
    }

    #[test]
    fn a_changed_character_changes_the_key() {
        let (token, key) = generate_refresh_token(1_796_000_000_000);
        let mut changed = token.expose().to_owned();
        let last = if changed.ends_with('A') { "B" } else { "A" };
        changed.replace_range(TOKEN_CHARS - 1.., last);
        assert_ne!(refresh_token_key(&changed), key);
    }
}
