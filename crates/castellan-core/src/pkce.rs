//! Proof Key for Code Exchange (RFC 7636): only `S256` is accepted (RFC 9700 §2.1.1).

use serde::{Deserialize, Serialize};

/// A code challenge as sent to the authorization endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeChallenge(String);

/// Whether `s` is a valid RFC 7636 §4.1 verifier or §4.2 S256 challenge alphabet and length.
fn is_pkce_string(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl CodeChallenge {
    /// Parses `code_challenge` + `code_challenge_method`. `plain` is refused.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, &'static str> {
        match method {
            Some("S256") => {}
            Some("plain") => return Err("code_challenge_method plain is not allowed; use S256"),
            None => return Err("code_challenge_method is required and must be S256"),
            Some(_) => return Err("code_challenge_method must be S256"),
        }
        // An S256 challenge is base64url(SHA-256) without padding: 43 characters.
        if challenge.len() != 43 || !is_pkce_string(challenge, 43, 43) {
            return Err(
                "code_challenge must be the 43-character base64url SHA-256 of the verifier",
            );
        }
        Ok(CodeChallenge(challenge.to_owned()))
    }

    /// A challenge read back from storage, checked when it was stored.
    pub fn from_stored(s: String) -> Self {
        CodeChallenge(s)
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks a verifier, given the caller's base64url-encoded SHA-256 of it (core does no
    /// hashing itself). Callers use [`verifier_is_well_formed`] first.
    pub fn matches_s256(&self, s256_of_verifier: &str) -> bool {
        // Both values are public at this point (the challenge was sent in the front channel),
        // so a plain comparison leaks nothing secret.
        self.0 == s256_of_verifier
    }
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub fn verifier_is_well_formed(verifier: &str) -> bool {
    is_pkce_string(verifier, 43, 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_s256_with_a_proper_challenge() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(CodeChallenge::parse(c, Some("S256")).is_ok());
        assert!(CodeChallenge::parse(c, Some("plain")).is_err());
        assert!(CodeChallenge::parse(c, None).is_err());
        assert!(CodeChallenge::parse("short", Some("S256")).is_err());
        assert!(verifier_is_well_formed(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!verifier_is_well_formed("too-short"));
        assert!(!verifier_is_well_formed(&"a".repeat(129)));
    }
}
