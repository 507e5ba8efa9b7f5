//! Recovery codes: single-use codes a person keeps for when their authenticator is lost. Ten
//! characters of Crockford's base32 alphabet (50 bits, no `i`, `l`, `o` or `u` to misread),
//! shown as `xxxxx-xxxxx`, stored only as the SHA-256 of their normal form.

use crate::secret::{hash_secret, random_bytes};
use castellan_core::client::SecretHash;
use castellan_core::Secret;

/// Crockford's base32 alphabet, lower case.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters per code.
const LEN: usize = 10;
/// How many codes a person is given at a time.
pub const COUNT: usize = 10;

/// A new code, as shown (`xxxxx-xxxxx`).
pub fn generate_recovery_code() -> Secret {
    let bytes = random_bytes::<LEN>();
    let chars: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect();
    Secret::new(format!("{}-{}", &chars[..LEN / 2], &chars[LEN / 2..]))
}

/// What was typed as a code, in normal form: lower case, without spaces or dashes, with the
/// letters Crockford reads as digits (`i`/`l` as 1, `o` as 0) read so; `None` when it cannot
/// be a code (not ten characters of the alphabet once normalised, or absurdly long).
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            other => other,
        })
        .collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// The stored hash of a code (as shown or typed); `None` when it cannot be one.
pub fn hash_recovery_code(typed: &str) -> Option<SecretHash> {
    normalize_recovery_code(typed).map(|code| hash_secret(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_hashes_the_same_however_it_is_typed() {
        let code = generate_recovery_code();
        let shown = code.expose();
        assert_eq!(shown.len(), 11);
        assert_eq!(&shown[5..6], "-");
        let stored = hash_recovery_code(shown).unwrap();
        let typed = shown.to_uppercase().replace('-', " ");
        assert_eq!(hash_recovery_code(&typed), Some(stored));
        assert_eq!(
            normalize_recovery_code("0O1IL-abcde"),
            Some("00111abcde".to_owned())
        );
    }

    #[test]
    fn anything_else_is_not_a_code() {
        for bad in [
            "",
            "abcde",
            "abcde-abcdef",
            "abcde-abcdu",
            "123456",
            &"a".repeat(100),
        ] {
            assert_eq!(hash_recovery_code(bad), None, "{bad}");
        }
    }
}
