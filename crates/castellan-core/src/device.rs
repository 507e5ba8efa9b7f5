//! Device authorization (RFC 8628), the rules without storage: user codes. A user code is 8
//! characters of a 20-letter alphabet without vowels (no words, no look-alike digits, §6.1),
//! shown as `XXXX-XXXX`; what a person types is read case-insensitively, with or without the
//! hyphen or spaces.

/// The letters of a user code: consonants only (RFC 8628 §6.1), 20 of them.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// How many letters a user code has (20^8 ≈ 2^34.6 codes).
pub const USER_CODE_LEN: usize = 8;
/// Longest typed code read; anything longer is not a code.
pub const MAX_TYPED_LEN: usize = 32;

/// A user code made of `random` (8 bytes of a CSPRNG), in its stored form (no hyphen).
pub fn user_code(random: [u8; 8]) -> String {
    let mut n = u64::from_le_bytes(random);
    let mut out = String::with_capacity(USER_CODE_LEN);
    for _ in 0..USER_CODE_LEN {
        // 20^8 is far below 2^64: taking the digits of a 64-bit number base 20 is unbiased to
        // within one part in 2^29.
        let i = usize::try_from(n % 20).unwrap_or(0);
        out.push(char::from(USER_CODE_ALPHABET[i]));
        n /= 20;
    }
    out
}

/// A user code as shown: `XXXX-XXXX`.
pub fn display(code: &str) -> String {
    match (code.get(..4), code.get(4..)) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => code.to_owned(),
    }
}

/// A typed user code in its stored form: letters upper-cased, hyphens and spaces dropped;
/// `None` when it is not 8 letters of the alphabet (or longer than [`MAX_TYPED_LEN`]).
pub fn normalize(typed: &str) -> Option<String> {
    if typed.len() > MAX_TYPED_LEN {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ok = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    ok.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_code_is_shown_with_a_hyphen_and_read_back_however_typed() {
        let code = user_code([7, 1, 2, 3, 4, 5, 6, 250]);
        assert_eq!(code.len(), 8);
        let shown = display(&code);
        assert_eq!(shown.len(), 9);
        assert_eq!(&shown[4..5], "-");
        for typed in [
            shown.clone(),
            code.clone(),
            shown.to_lowercase(),
            format!(" {} ", &shown),
        ] {
            assert_eq!(normalize(&typed).as_deref(), Some(code.as_str()), "{typed}");
        }
    }

    #[test]
    fn anything_else_is_not_a_code() {
        for typed in [
            "",
            "BCDF",
            "BCDFGHJKL",
            "BCDF-GHJA",
            "BCDF-GHJ1",
            "ÉCDF-GHJK",
            "BCDF_GHJK",
        ] {
            assert_eq!(normalize(typed), None, "{typed}");
        }
        assert_eq!(normalize(&"B".repeat(40)), None);
    }

    proptest! {
        /// Every code made is a code, and reads back through its display.
        #[test]
        fn made_codes_read_back(random in any::<[u8; 8]>()) {
            let code = user_code(random);
            prop_assert_eq!(normalize(&display(&code)), Some(code.clone()));
            prop_assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        }

        /// Any typed text: an answer, never a panic, and only ever a well-formed code.
        #[test]
        fn any_typed_text_is_answered(typed in ".{0,40}") {
            if let Some(code) = normalize(&typed) {
                prop_assert_eq!(code.len(), USER_CODE_LEN);
                prop_assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
            }
        }
    }
}
