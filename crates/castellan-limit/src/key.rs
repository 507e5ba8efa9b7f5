//! Redis key names. Caller keys (API key ids, client ids, IP addresses) are kept readable when
//! short and plain, and replaced by a SHA-256 digest otherwise, so hostile input can neither
//! grow Redis keys without bound nor break the hash tag. Layout:
//! `<prefix>:{<policy>:<key>}:<window seconds>` — the braces are a Redis Cluster hash tag
//! keeping all windows of one key in one slot, as the Lua script requires.

use sha2::{Digest, Sha256};

/// Longest caller key kept verbatim.
const MAX_PLAIN_KEY: usize = 64;

/// The caller key as it appears in Redis: verbatim if it is at most 64 bytes of
/// `A-Z a-z 0-9 . _ - : @`, else `~` + the first 128 bits of its SHA-256 in hex. `~` never
/// appears in a verbatim key, so the two forms cannot collide.
pub(crate) fn bounded_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= MAX_PLAIN_KEY
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'@'));
    if plain {
        return key.to_owned();
    }
    let digest = Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(33);
    out.push('~');
    for b in &digest[..16] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The Redis key of one window.
pub(crate) fn window_key(prefix: &str, policy: &str, bounded: &str, seconds: u64) -> String {
    format!("{prefix}:{{{policy}:{bounded}}}:{seconds}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_stay_readable() {
        assert_eq!(bounded_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(bounded_key("client_01H:x@y"), "client_01H:x@y");
    }

    #[test]
    fn hostile_keys_are_hashed_to_fixed_size() {
        let long = "a".repeat(10_000);
        for k in [long.as_str(), "has}brace", "", "spa ce", "2001:db8::1/64"] {
            let b = bounded_key(k);
            assert!(b.starts_with('~'), "{k:?} -> {b}");
            assert_eq!(b.len(), 33);
        }
        assert_ne!(bounded_key("x}"), bounded_key("x{"));
    }

    #[test]
    fn window_key_layout() {
        assert_eq!(
            window_key("castellan:rl", "default", "ip1", 60),
            "castellan:rl:{default:ip1}:60"
        );
    }
}
