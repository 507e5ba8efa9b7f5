//! Identifier formats. Randomness is passed in by the caller.

/// Characters of generated identifiers: URL-safe, no look-alike escaping needed.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of a generated client id (about 142 bits of randomness).
pub const CLIENT_ID_LEN: usize = 24;

/// Encodes random bytes as an alphanumeric identifier of `len` characters. Each byte is reduced
/// modulo 62 after rejecting values ≥ 248, so every character is uniformly distributed; the
/// caller passes enough bytes (twice `len` is always plenty).
pub fn alphanumeric_id(random: &[u8], len: usize) -> Option<String> {
    let mut out = String::with_capacity(len);
    for &b in random {
        if out.len() == len {
            break;
        }
        if b < 248 {
            out.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    (out.len() == len).then_some(out)
}

/// Whether `s` could be an identifier Castellan issued or a registrant chose: printable ASCII
/// without spaces, at most 255 characters. Anything else is refused before a storage lookup.
pub fn is_plausible_client_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_use_the_alphabet_and_length() {
        let random: Vec<u8> = (0..=255u8).collect();
        let id = alphanumeric_id(&random, CLIENT_ID_LEN).unwrap();
        assert_eq!(id.len(), CLIENT_ID_LEN);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(alphanumeric_id(&[255; 10], 4).is_none());
    }

    #[test]
    fn plausible_ids() {
        assert!(is_plausible_client_id("abc-123"));
        assert!(!is_plausible_client_id(""));
        assert!(!is_plausible_client_id("a b"));
        assert!(!is_plausible_client_id(&"a".repeat(256)));
        assert!(!is_plausible_client_id("é"));
    }
}
