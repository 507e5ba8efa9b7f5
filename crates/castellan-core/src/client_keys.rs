//! Where a `private_key_jwt` client's public keys come from (RFC 7591 §2 `jwks`, `jwks_uri`;
//! RFC 7523 §2.2): the metadata names they are kept under and the checks of their shape that
//! dynamic registration and the management API share. A client has one or the other, never
//! both (RFC 7591 §2). Whether each key is an accepted public key is the crypto crate's check
//! (`castellan_crypto::jwk`), applied on top by the server.

use crate::environment::Environment;
use serde_json::Value;

/// The metadata name of a client's JWK Set.
pub const JWKS: &str = "jwks";
/// The metadata name of the URL of a client's JWK Set.
pub const JWKS_URI: &str = "jwks_uri";
/// Largest `jwks` document, serialised (bytes).
pub const MAX_JWKS_BYTES: usize = 16 * 1024;
/// Longest `jwks_uri`.
pub const MAX_JWKS_URI_LEN: usize = 2000;

/// Why a `jwks` or `jwks_uri` value is refused; the message completes the field's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeySourceError {
    /// Not an object with a `keys` array.
    #[error("must be a JWK Set: an object with a keys array")]
    NotASet,
    /// Larger than [`MAX_JWKS_BYTES`].
    #[error("must be at most {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// Not a URL Castellan may fetch (see [`crate::outbound::check_url`]).
    #[error("must be an https URL of a public host, without user information or fragment")]
    BadUri,
    /// Longer than [`MAX_JWKS_URI_LEN`].
    #[error("must be at most {MAX_JWKS_URI_LEN} characters")]
    UriTooLong,
}

/// Checks that `jwks` has the shape of a JWK Set (RFC 7517 §5) of bounded size.
pub fn check_jwks_shape(jwks: &Value) -> Result<(), KeySourceError> {
    if !jwks.get("keys").is_some_and(Value::is_array) {
        return Err(KeySourceError::NotASet);
    }
    if serde_json::to_string(jwks).map_or(true, |s| s.len() > MAX_JWKS_BYTES) {
        return Err(KeySourceError::TooLarge);
    }
    Ok(())
}

/// Checks a `jwks_uri`: Castellan fetches it, so the fetcher's rules apply (https and a public
/// host; a loopback literal, http or https, in `local` only).
pub fn check_jwks_uri(uri: &str, env: Environment) -> Result<(), KeySourceError> {
    if uri.chars().count() > MAX_JWKS_URI_LEN {
        return Err(KeySourceError::UriTooLong);
    }
    if uri.chars().any(char::is_control) {
        // The URL parser would drop a tab or a newline silently; the stored text must be the
        // URL fetched.
        return Err(KeySourceError::BadUri);
    }
    let ok = url::Url::parse(uri)
        .ok()
        .is_some_and(|parsed| crate::outbound::check_url(&parsed, env).is_ok());
    if ok {
        Ok(())
    } else {
        Err(KeySourceError::BadUri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_set_needs_a_keys_array_and_a_bounded_size() {
        assert!(check_jwks_shape(&json!({"keys": []})).is_ok());
        for bad in [json!("nope"), json!({}), json!({"keys": {}}), json!([])] {
            assert_eq!(
                check_jwks_shape(&bad),
                Err(KeySourceError::NotASet),
                "{bad}"
            );
        }
        let big = json!({"keys": [{"x": "a".repeat(MAX_JWKS_BYTES)}]});
        assert_eq!(check_jwks_shape(&big), Err(KeySourceError::TooLarge));
    }

    #[test]
    fn a_jwks_uri_follows_the_fetcher_rules() {
        use Environment::{Local, Production, Testing};
        assert!(check_jwks_uri("https://app.example.com/jwks", Production).is_ok());
        assert!(check_jwks_uri("http://127.0.0.1:8080/jwks", Local).is_ok());
        for (uri, env) in [
            ("http://127.0.0.1:8080/jwks", Testing),
            ("http://app.example.com/jwks", Local),
            ("https://169.254.169.254/jwks", Testing),
            ("https://u:p@app.example.com/jwks", Testing),
            ("https://app.example.com/jwks#f", Testing),
            ("not a url", Local),
            ("https://app.example.com/jw\nks", Testing),
        ] {
            assert_eq!(
                check_jwks_uri(uri, env),
                Err(KeySourceError::BadUri),
                "{uri}"
            );
        }
        let long = format!("https://app.example.com/{}", "a".repeat(MAX_JWKS_URI_LEN));
        assert_eq!(
            check_jwks_uri(&long, Production),
            Err(KeySourceError::UriTooLong)
        );
    }
}
