//! The syntactic check of an API key: `<prefix>_<body>_<crc32>`, three
//! parts, two underscores, a known prefix, and a CRC-32 (IEEE) of `<prefix>_<body>` written as
//! eight lowercase hex digits. Run before any network call so that a mistyped key costs nothing.
//!
//! The checksum rule lives in `castellan_core::api_key`; this module keeps the guard's looser
//! shape check (any body of letters, digits and '-') for keys of other issuers' formats.

/// Longest API key looked at; anything longer is malformed.
pub const MAX_API_KEY_LEN: usize = 256;

/// Why an API key is malformed (always answered 401, before any lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    /// Longer than [`MAX_API_KEY_LEN`].
    #[error("the API key is longer than {MAX_API_KEY_LEN} characters")]
    TooLong,
    /// Not three parts separated by two underscores.
    #[error("an API key has three parts separated by two underscores: <prefix>_<body>_<crc32>")]
    Parts,
    /// A prefix other than the configured one.
    #[error("the API key does not start with this API's key prefix")]
    Prefix,
    /// A body with characters outside letters, digits and `-`.
    #[error("the API key's body contains characters other than letters, digits and '-'")]
    Body,
    /// A body of the wrong length (an issuer whose keys have one).
    #[error("the API key's body has the wrong length: the key was cut or run into other text")]
    BodyLength,
    /// A body that does not start with an environment letter (an issuer whose keys have one).
    #[error("the API key's body does not start with an environment letter (L, T or D)")]
    EnvironmentLetter,
    /// The CRC-32 does not match: a mistyped or truncated key.
    #[error("the API key's checksum does not match: the key was mistyped or truncated")]
    Checksum,
}

/// The three parts of a syntactically valid API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyParts<'a> {
    /// The configured prefix (`csb` by default).
    pub prefix: &'a str,
    /// The environment letter and the random part.
    pub body: &'a str,
    /// Eight lowercase hex digits: the CRC-32 of `<prefix>_<body>`.
    pub checksum: &'a str,
}

/// Whether `checksum` is the CRC-32 (IEEE) of the bytes `<prefix>_<body>`, as eight lowercase
/// hex digits (the rule of [`castellan_core::api_key::checksum_ok`]).
pub fn api_key_checksum_ok(prefix: &str, body: &str, checksum: &str) -> bool {
    castellan_core::api_key::checksum_ok(prefix, body, checksum)
}

/// The CRC-32 (IEEE) of `<prefix>_<body>`.
pub fn api_key_checksum(prefix: &str, body: &str) -> u32 {
    castellan_core::api_key::checksum(prefix, body)
}

/// Splits and checks `key` against the expected prefix.
pub fn parse_api_key<'a>(key: &'a str, prefix: &str) -> Result<ApiKeyParts<'a>, ApiKeyError> {
    if key.len() > MAX_API_KEY_LEN {
        return Err(ApiKeyError::TooLong);
    }
    let mut it = key.split('_');
    let (p, body, checksum) = match (it.next(), it.next(), it.next(), it.next()) {
        (Some(p), Some(b), Some(c), None) if !p.is_empty() && !b.is_empty() && !c.is_empty() => {
            (p, b, c)
        }
        _ => return Err(ApiKeyError::Parts),
    };
    if p != prefix {
        return Err(ApiKeyError::Prefix);
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ApiKeyError::Body);
    }
    if !api_key_checksum_ok(p, body, checksum) {
        return Err(ApiKeyError::Checksum);
    }
    Ok(ApiKeyParts {
        prefix: p,
        body,
        checksum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(prefix: &str, body: &str) -> String {
        format!("{prefix}_{body}_{:08x}", api_key_checksum(prefix, body))
    }

    #[test]
    fn a_well_formed_key_parses() {
        let k = key("csb", "AbC123-xyz");
        let parts = parse_api_key(&k, "csb").unwrap();
        assert_eq!(parts.prefix, "csb");
        assert_eq!(parts.body, "AbC123-xyz");
        assert_eq!(parts.checksum.len(), 8);
    }

    #[test]
    fn the_checksum_is_crc32_ieee_in_lowercase_hex() {
        // CRC-32/IEEE("csb_abc") computed independently.
        let sum = crc32fast::hash(b"csb_abc");
        assert!(api_key_checksum_ok("csb", "abc", &format!("{sum:08x}")));
        let upper = format!("{sum:08X}");
        if upper.bytes().any(|b| b.is_ascii_alphabetic()) {
            assert!(!api_key_checksum_ok("csb", "abc", &upper));
        }
        assert!(!api_key_checksum_ok("csb", "abd", &format!("{sum:08x}")));
        assert!(!api_key_checksum_ok(
            "csb",
            "abc",
            &format!("{sum:08x}")[..7]
        ));
    }

    #[test]
    fn malformed_keys_name_their_fault() {
        let good = key("csb", "body");
        assert_eq!(parse_api_key("csb_body", "csb"), Err(ApiKeyError::Parts));
        assert_eq!(parse_api_key("csb__x", "csb"), Err(ApiKeyError::Parts));
        assert_eq!(
            parse_api_key(&format!("{good}_x"), "csb"),
            Err(ApiKeyError::Parts)
        );
        assert_eq!(parse_api_key(&good, "abc"), Err(ApiKeyError::Prefix));
        assert_eq!(
            parse_api_key(&key("csb", "b!dy"), "csb"),
            Err(ApiKeyError::Body)
        );
        let mut bad = good.clone();
        bad.replace_range(4..5, "c");
        assert_eq!(parse_api_key(&bad, "csb"), Err(ApiKeyError::Checksum));
        assert_eq!(
            parse_api_key(&"a".repeat(300), "csb"),
            Err(ApiKeyError::TooLong)
        );
    }
}
