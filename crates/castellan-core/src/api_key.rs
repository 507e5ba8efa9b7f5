//! The API-key format: `<prefix>_<body>_<crc32>`, a CRC-32 of what precedes it at the end so a
//! mistyped or truncated key is refused before any storage lookup.
//!
//! - `prefix`: configurable, 2–16 lowercase ASCII letters or digits (default `csb`);
//! - `body`: one environment letter (`L` production, `T` testing, `D` local) followed by 43
//!   base62 characters drawn from 256 random bits the caller passes in;
//! - `crc32`: the CRC-32/IEEE of the bytes `<prefix>_<body>`, as 8 lowercase hex digits.
//!
//! [`parse`] rejects anything else before a storage lookup, so a mistyped key costs nothing.
//! This module does no I/O and draws no randomness: generation takes the random bytes.

use crate::Environment;

/// The default key prefix, giving keys of the form `csb_<body>_<crc32>`.
pub const DEFAULT_PREFIX: &str = "csb";
/// Longest string [`parse`] looks at.
pub const MAX_KEY_LEN: usize = 256;
/// Base62 characters after the environment letter: ⌈256 / log2(62)⌉ = 43.
pub const RANDOM_CHARS: usize = 43;
/// Characters of the body (environment letter + random part).
pub const BODY_LEN: usize = RANDOM_CHARS + 1;
/// Characters of the checksum.
pub const CHECKSUM_LEN: usize = 8;
/// Body characters shown in the visible prefix (after the environment letter).
pub const VISIBLE_BODY_CHARS: usize = 4;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a string is not an acceptable API key. Never carries the key itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// Not of the key format; the fault is named.
    #[error("malformed API key: {0}")]
    Malformed(Malformed),
    /// The CRC-32 does not match: a mistyped or truncated key.
    #[error("the API key's checksum does not match: it was mistyped or truncated")]
    BadChecksum,
    /// A prefix other than this server's.
    #[error("the API key does not start with this server's key prefix")]
    WrongPrefix,
    /// A key of another environment.
    #[error("the API key belongs to another environment")]
    WrongEnvironment,
}

/// The syntactic fault of a malformed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Longer than [`MAX_KEY_LEN`].
    #[error("longer than {MAX_KEY_LEN} bytes")]
    TooLong,
    /// Has characters outside ASCII.
    #[error("contains non-ASCII characters")]
    NonAscii,
    /// Not three parts separated by two underscores.
    #[error("an API key has three parts separated by two underscores: <prefix>_<body>_<crc32>")]
    Parts,
    /// A part is empty.
    #[error("an empty part")]
    EmptyPart,
    /// The prefix is not 2–16 lowercase letters or digits.
    #[error("the prefix has characters other than lowercase letters and digits, or a bad length")]
    Prefix,
    /// The body has characters other than ASCII letters and digits.
    #[error("the body has characters other than letters and digits")]
    Body,
    /// The body is not an environment letter and 43 letters or digits long.
    #[error("the body is not {BODY_LEN} characters long: the key was cut or run into other text")]
    BodyLength,
    /// The body does not start with `L`, `T` or `D`.
    #[error("the body does not start with an environment letter (L, T or D)")]
    EnvironmentLetter,
    /// The checksum is not eight lowercase hex digits.
    #[error("the checksum is not 8 lowercase hex digits")]
    Checksum,
}

/// A key that passed [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The key's prefix.
    pub prefix: &'a str,
    /// The environment letter and the random part.
    pub body: &'a str,
    /// The environment the key was issued in.
    pub environment: Environment,
}

impl ParsedKey<'_> {
    /// What may be shown of the key: `<prefix>_<env letter><first 4 random chars>`.
    pub fn visible_prefix(&self) -> String {
        visible_prefix(self.prefix, self.body)
    }
}

fn visible_prefix(prefix: &str, body: &str) -> String {
    let end = (1 + VISIBLE_BODY_CHARS).min(body.len());
    format!("{prefix}_{}", &body[..end])
}

/// The last four characters of a key (part of its checksum), safe to show.
pub fn last_four(key: &str) -> &str {
    let start = key.len().saturating_sub(4);
    key.get(start..).unwrap_or("")
}

/// The letter stamped into a key body for `env`.
pub fn environment_letter(env: Environment) -> char {
    match env {
        Environment::Production => 'L',
        Environment::Testing => 'T',
        Environment::Local => 'D',
    }
}

fn environment_of_letter(b: u8) -> Option<Environment> {
    match b {
        b'L' => Some(Environment::Production),
        b'T' => Some(Environment::Testing),
        b'D' => Some(Environment::Local),
        _ => None,
    }
}

/// Whether `prefix` is an acceptable key prefix (2–16 lowercase letters or digits).
pub fn is_valid_prefix(prefix: &str) -> bool {
    (2..=16).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The CRC-32/IEEE of the bytes `<prefix>_<body>`.
pub fn checksum(prefix: &str, body: &str) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(prefix.as_bytes());
    h.update(b"_");
    h.update(body.as_bytes());
    h.finalize()
}

/// Whether `sum` is [`checksum`] of `<prefix>_<body>` as 8 lowercase hex digits.
pub fn checksum_ok(prefix: &str, body: &str, sum: &str) -> bool {
    checksum_value(sum).is_some_and(|given| given == checksum(prefix, body))
}

/// The value of 8 lowercase hex digits.
fn checksum_value(sum: &str) -> Option<u32> {
    if sum.len() != CHECKSUM_LEN {
        return None;
    }
    sum.bytes().try_fold(0u32, |acc, b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some((acc << 4) | u32::from(digit))
    })
}

/// Encodes 32 random bytes as 43 base62 characters (the big-endian number in base 62,
/// left-padded with `0`). Every bit of the input reaches the output.
fn base62_256(random: &[u8; 32]) -> String {
    // Repeated division of the 256-bit big-endian number by 62.
    let mut n = *random;
    let mut out = [b'0'; RANDOM_CHARS];
    for slot in out.iter_mut().rev() {
        let mut rem: u32 = 0;
        for byte in &mut n {
            let cur = (rem << 8) | u32::from(*byte);
            // cur < 62 * 256, so the quotient fits a byte.
            *byte = u8::try_from(cur / 62).unwrap_or(0);
            rem = cur % 62;
        }
        *slot = BASE62[rem as usize];
    }
    out.iter().map(|&b| b as char).collect()
}

/// A key for `env` from 256 random bits. `None` when `prefix` is not valid.
pub fn generate(prefix: &str, env: Environment, random: &[u8; 32]) -> Option<String> {
    if !is_valid_prefix(prefix) {
        return None;
    }
    let body = format!("{}{}", environment_letter(env), base62_256(random));
    Some(format!("{prefix}_{body}_{:08x}", checksum(prefix, &body)))
}

/// Checks the format of `key`: shape, then checksum, then prefix, then environment. A key of
/// another prefix or environment is told apart from a mistyped one, so the answer can say why.
pub fn parse<'a>(
    key: &'a str,
    expected_prefix: &str,
    expected_env: Environment,
) -> Result<ParsedKey<'a>, KeyFormatError> {
    let parsed = parse_any(key)?;
    if parsed.prefix != expected_prefix {
        return Err(KeyFormatError::WrongPrefix);
    }
    if parsed.environment != expected_env {
        return Err(KeyFormatError::WrongEnvironment);
    }
    Ok(parsed)
}

/// Checks shape and checksum only, whatever the prefix and environment (for `doctor`).
pub fn parse_any(key: &str) -> Result<ParsedKey<'_>, KeyFormatError> {
    use KeyFormatError::Malformed as M;
    if key.len() > MAX_KEY_LEN {
        return Err(M(Malformed::TooLong));
    }
    if !key.is_ascii() {
        return Err(M(Malformed::NonAscii));
    }
    // Exactly two underscores: <prefix>_<body>_<crc32>. Every byte is ASCII, so the cuts are
    // character boundaries.
    let bytes = key.as_bytes();
    let underscore = |from: usize| {
        bytes
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| b == b'_'))
            .map(|i| from + i)
    };
    let Some((first, second)) = underscore(0).and_then(|i| Some((i, underscore(i + 1)?))) else {
        return Err(M(Malformed::Parts));
    };
    if underscore(second + 1).is_some() {
        return Err(M(Malformed::Parts));
    }
    let (prefix, body, sum) = (&key[..first], &key[first + 1..second], &key[second + 1..]);
    if prefix.is_empty() || body.is_empty() || sum.is_empty() {
        return Err(M(Malformed::EmptyPart));
    }
    if !is_valid_prefix(prefix) {
        return Err(M(Malformed::Prefix));
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(M(Malformed::Body));
    }
    if body.len() != BODY_LEN {
        return Err(M(Malformed::BodyLength));
    }
    let Some(environment) = body.bytes().next().and_then(environment_of_letter) else {
        return Err(M(Malformed::EnvironmentLetter));
    };
    let Some(given) = checksum_value(sum) else {
        return Err(M(Malformed::Checksum));
    };
    // `<prefix>_<body>` is the key up to the second underscore: one pass of CRC-32.
    if crc32fast::hash(&bytes[..second]) != given {
        return Err(KeyFormatError::BadChecksum);
    }
    Ok(ParsedKey {
        prefix,
        body,
        environment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const E: Environment = Environment::Testing;

    fn key(seed: u8) -> String {
        generate("csb", E, &[seed; 32]).unwrap()
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let k = key(7);
        let parts: Vec<&str> = k.split('_').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "csb");
        assert_eq!(parts[1].len(), BODY_LEN);
        assert!(parts[1].starts_with('T'));
        assert_eq!(
            parts[2],
            format!(
                "{:08x}",
                crc32fast::hash(format!("csb_{}", parts[1]).as_bytes())
            )
        );
        let p = parse(&k, "csb", E).unwrap();
        assert_eq!(p.environment, E);
        assert_eq!(p.visible_prefix(), format!("csb_{}", &parts[1][..5]));
        assert_eq!(last_four(&k), &parts[2][4..]);
    }

    #[test]
    fn all_zero_and_all_one_bits_encode_to_43_chars() {
        assert_eq!(base62_256(&[0; 32]), "0".repeat(43));
        let max = base62_256(&[255; 32]);
        assert_eq!(max.len(), 43);
        assert_ne!(max, base62_256(&[254; 32]));
    }

    #[test]
    fn errors_are_distinct() {
        let k = key(1);
        assert_eq!(parse(&k, "abc", E), Err(KeyFormatError::WrongPrefix));
        assert_eq!(
            parse(&k, "csb", Environment::Production),
            Err(KeyFormatError::WrongEnvironment)
        );
        let mut bad = k.clone();
        let c = if &bad[5..6] == "a" { "b" } else { "a" };
        bad.replace_range(5..6, c);
        assert_eq!(parse(&bad, "csb", E), Err(KeyFormatError::BadChecksum));
        for (s, m) in [
            ("csb_body", Malformed::Parts),
            ("csb__x", Malformed::EmptyPart),
            ("a_b_c_d", Malformed::Parts),
            ("CSB_Tx_00000000", Malformed::Prefix),
            ("csb_Tshort_00000000", Malformed::BodyLength),
            ("csb_T-dash_00000000", Malformed::Body),
            ("é", Malformed::NonAscii),
        ] {
            assert_eq!(parse(s, "csb", E), Err(KeyFormatError::Malformed(m)), "{s}");
        }
        assert_eq!(
            parse(&"a".repeat(300), "csb", E),
            Err(KeyFormatError::Malformed(Malformed::TooLong))
        );
        let x = format!("csb_X{}_00000000", "a".repeat(43));
        assert_eq!(
            parse(&x, "csb", E),
            Err(KeyFormatError::Malformed(Malformed::EnvironmentLetter))
        );
        let upper = k.to_ascii_uppercase();
        assert!(parse(&upper, "csb", E).is_err());
    }

    #[test]
    fn prefixes() {
        assert!(is_valid_prefix("csb"));
        assert!(is_valid_prefix("ab"));
        assert!(!is_valid_prefix("a"));
        assert!(!is_valid_prefix("Csb"));
        assert!(!is_valid_prefix(&"a".repeat(17)));
        assert!(generate("C", E, &[0; 32]).is_none());
    }

    /// The rule of [`parse_any`] written the plain way (split on `_`, then each check in
    /// turn): the one-pass version must classify every input alike.
    fn parse_any_by_split(key: &str) -> Result<(&str, &str, Environment), KeyFormatError> {
        use KeyFormatError::Malformed as M;
        if key.len() > MAX_KEY_LEN {
            return Err(M(Malformed::TooLong));
        }
        if !key.is_ascii() {
            return Err(M(Malformed::NonAscii));
        }
        let parts: Vec<&str> = key.split('_').collect();
        let [prefix, body, sum] = parts[..] else {
            return Err(M(Malformed::Parts));
        };
        if prefix.is_empty() || body.is_empty() || sum.is_empty() {
            return Err(M(Malformed::EmptyPart));
        }
        if !is_valid_prefix(prefix) {
            return Err(M(Malformed::Prefix));
        }
        if !body.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(M(Malformed::Body));
        }
        if body.len() != BODY_LEN {
            return Err(M(Malformed::BodyLength));
        }
        let Some(env) = body.bytes().next().and_then(environment_of_letter) else {
            return Err(M(Malformed::EnvironmentLetter));
        };
        if sum.len() != CHECKSUM_LEN || !sum.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(M(Malformed::Checksum));
        }
        if format!("{:08x}", checksum(prefix, body)) != sum {
            return Err(KeyFormatError::BadChecksum);
        }
        Ok((prefix, body, env))
    }

    fn one_pass(key: &str) -> Result<(&str, &str, Environment), KeyFormatError> {
        parse_any(key).map(|p| (p.prefix, p.body, p.environment))
    }

    #[test]
    fn one_pass_parse_classifies_edge_cases_like_the_plain_rule() {
        let good = key(7);
        let cases = [
            String::new(),
            "_".into(),
            "__".into(),
            "___".into(),
            "a__b".into(),
            format!("{good}_"),
            format!("_{good}"),
            good.replace('_', "__"),
            good.to_uppercase(),
            good[..good.len() - 1].to_owned(),
            format!("{}A", &good[..good.len() - 1]),
            "x".repeat(MAX_KEY_LEN + 1),
            format!("{good}é"),
            good.clone(),
        ];
        for c in &cases {
            assert_eq!(one_pass(c), parse_any_by_split(c), "{c:?}");
        }
        assert!(one_pass(&good).is_ok());
    }

    proptest! {
        #[test]
        fn one_pass_parse_agrees_with_the_plain_rule(s in ".{0,300}") {
            prop_assert_eq!(one_pass(&s), parse_any_by_split(&s));
        }

        #[test]
        fn one_pass_parse_agrees_on_key_like_input(
            s in "[a-z0-9A-Z_]{0,5}_[A-Za-z0-9_]{0,50}_[0-9a-fA-F_]{0,9}",
        ) {
            prop_assert_eq!(one_pass(&s), parse_any_by_split(&s));
        }

        #[test]
        fn one_pass_parse_agrees_on_damaged_keys(
            random in proptest::array::uniform32(any::<u8>()),
            pos in 0usize..1000,
            replacement in proptest::char::any(),
        ) {
            let k = generate("csb", E, &random).unwrap();
            let pos = pos % k.len();
            let mut changed: Vec<char> = k.chars().collect();
            changed[pos] = replacement;
            let changed: String = changed.into_iter().collect();
            prop_assert_eq!(one_pass(&changed), parse_any_by_split(&changed));
        }

        #[test]
        fn parse_never_panics(s in ".{0,300}") {
            let _ = parse(&s, "csb", E);
        }

        #[test]
        fn parse_never_panics_on_key_like_input(s in "[a-z]{0,5}_[A-Za-z0-9]{0,50}_[0-9a-f]{0,9}") {
            let _ = parse(&s, "csb", E);
        }

        #[test]
        fn generated_keys_always_parse(
            random in proptest::array::uniform32(any::<u8>()),
            prefix in "[a-z0-9]{2,16}",
            env in prop_oneof![Just(Environment::Production), Just(Environment::Testing), Just(Environment::Local)],
        ) {
            let k = generate(&prefix, env, &random).unwrap();
            let p = parse(&k, &prefix, env).unwrap();
            prop_assert_eq!(p.environment, env);
            prop_assert!(k.len() <= MAX_KEY_LEN);
        }

        #[test]
        fn any_single_character_change_fails(
            random in proptest::array::uniform32(any::<u8>()),
            pos in 0usize..1000,
            replacement in proptest::char::any(),
        ) {
            let k = generate("csb", E, &random).unwrap();
            let pos = pos % k.len();
            let mut changed: Vec<char> = k.chars().collect();
            prop_assume!(changed[pos] != replacement);
            changed[pos] = replacement;
            let changed: String = changed.into_iter().collect();
            prop_assert!(parse(&changed, "csb", E).is_err());
        }
    }
}
