//! Which credential a request presents (RFC 6750 §2.1 `Authorization: Bearer`, RFC 9449 §7.1
//! `Authorization: DPoP`, an API key in `X-API-Key`, a tenant token in `x-token`) and what
//! shape a token has. Pure parsing:
//! nothing here touches the network, so malformed input is refused for free.

use crate::failure::Failure;
use crate::policy::TOKEN_HEADER;
use castellan_core::Environment;
use http::{header, HeaderMap, HeaderName};

/// Longest bearer token looked at (the JWS verifier has the same bound).
pub const MAX_TOKEN_LEN: usize = castellan_crypto::jws::MAX_TOKEN_LEN;

/// The credential of a request, borrowed from its headers. `Debug` names the kind only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    /// No credential.
    Anonymous,
    /// A bearer token (`Authorization: Bearer`, or `x-token` in tenant mode).
    Bearer(&'a str),
    /// A token sent as `Authorization: DPoP`, to be used with the request's `DPoP` proof.
    Dpop(&'a str),
    /// An API key from the configured header.
    ApiKey(&'a str),
}

impl std::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Presented::Anonymous => f.write_str("Anonymous"),
            Presented::Bearer(_) => f.write_str("Bearer([redacted])"),
            Presented::Dpop(_) => f.write_str("Dpop([redacted])"),
            Presented::ApiKey(_) => f.write_str("ApiKey([redacted])"),
        }
    }
}

/// The shape of a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenShape {
    /// Three dot-separated parts: verified locally.
    Jwt,
    /// `ot_<environment tag>_<43 base64url characters>`: checked through introspection.
    Opaque(Environment),
}

fn single(
    headers: &HeaderMap,
    name: impl header::AsHeaderName + Clone,
) -> Result<Option<&str>, Failure> {
    let mut values = headers.get_all(name.clone()).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Failure::AmbiguousCredentials);
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| Failure::MalformedAuthorization)
}

/// Finds the one credential of a request. `tenant` also accepts a token in `x-token`.
pub fn presented<'a>(
    headers: &'a HeaderMap,
    api_key_header: &HeaderName,
    tenant: bool,
) -> Result<Presented<'a>, Failure> {
    let auth = single(headers, header::AUTHORIZATION)?;
    let key = single(headers, api_key_header)?;
    let x_token = if tenant {
        single(headers, TOKEN_HEADER)?
    } else {
        None
    };
    match (auth, key, x_token) {
        (None, None, None) => Ok(Presented::Anonymous),
        (Some(a), None, None) => parse_authorization(a),
        (None, Some(k), None) => {
            if k.is_empty() {
                Err(Failure::MalformedApiKey(crate::api_key::ApiKeyError::Parts))
            } else {
                Ok(Presented::ApiKey(k))
            }
        }
        (None, None, Some(t)) => check_b64token(t.trim()).map(Presented::Bearer),
        _ => Err(Failure::AmbiguousCredentials),
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
pub fn parse_bearer(value: &str) -> Result<&str, Failure> {
    match parse_authorization(value)? {
        Presented::Bearer(t) => Ok(t),
        _ => Err(Failure::MalformedAuthorization),
    }
}

/// An `Authorization` value: `Bearer <token>` or `DPoP <token>` (schemes case-insensitive).
pub fn parse_authorization(value: &str) -> Result<Presented<'_>, Failure> {
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(Failure::MalformedAuthorization)?;
    let token = || check_b64token(token.trim_start_matches(' '));
    if scheme.eq_ignore_ascii_case("bearer") {
        token().map(Presented::Bearer)
    } else if scheme.eq_ignore_ascii_case("dpop") {
        token().map(Presented::Dpop)
    } else {
        Err(Failure::MalformedAuthorization)
    }
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn check_b64token(token: &str) -> Result<&str, Failure> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(Failure::MalformedToken);
    }
    let body = token.trim_end_matches('=');
    if body.is_empty()
        || !body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
    {
        return Err(Failure::MalformedToken);
    }
    Ok(token)
}

/// Classifies a bearer token without verifying it.
pub fn token_shape(token: &str) -> Result<TokenShape, Failure> {
    if token.bytes().filter(|b| *b == b'.').count() == 2 {
        return Ok(TokenShape::Jwt);
    }
    let mut parts = token.splitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("ot"), Some(tag), Some(secret))
            if secret.len() == 43
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Environment::from_tag(tag)
                .map(TokenShape::Opaque)
                .ok_or(Failure::MalformedToken)
        }
        _ => Err(Failure::MalformedToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(list: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in list {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn key_header() -> HeaderName {
        HeaderName::from_static("x-api-key")
    }

    #[test]
    fn debug_never_shows_the_credential() {
        for p in [
            Presented::Bearer("eyJ.secret.sig"),
            Presented::ApiKey("ck_secret_1234"),
        ] {
            let shown = format!("{p:?}");
            assert!(!shown.contains("secret"), "{shown}");
        }
    }

    #[test]
    fn one_credential_is_found() {
        assert_eq!(
            presented(&headers(&[]), &key_header(), false),
            Ok(Presented::Anonymous)
        );
        assert_eq!(
            presented(
                &headers(&[("authorization", "Bearer abc.def.ghi")]),
                &key_header(),
                false
            ),
            Ok(Presented::Bearer("abc.def.ghi"))
        );
        assert_eq!(
            presented(
                &headers(&[("authorization", "bearer  tok==")]),
                &key_header(),
                false
            ),
            Ok(Presented::Bearer("tok=="))
        );
        assert_eq!(
            presented(&headers(&[("x-api-key", "csb_a_b")]), &key_header(), false),
            Ok(Presented::ApiKey("csb_a_b"))
        );
        assert_eq!(
            presented(
                &headers(&[("authorization", "DPoP abc.def.ghi")]),
                &key_header(),
                false
            ),
            Ok(Presented::Dpop("abc.def.ghi"))
        );
        // x-token counts only in tenant mode.
        assert_eq!(
            presented(&headers(&[("x-token", "t")]), &key_header(), false),
            Ok(Presented::Anonymous)
        );
        assert_eq!(
            presented(&headers(&[("x-token", "t")]), &key_header(), true),
            Ok(Presented::Bearer("t"))
        );
    }

    #[test]
    fn two_credentials_or_bad_schemes_are_refused() {
        assert_eq!(
            presented(
                &headers(&[("authorization", "Bearer a"), ("x-api-key", "k")]),
                &key_header(),
                false
            ),
            Err(Failure::AmbiguousCredentials)
        );
        assert_eq!(
            presented(
                &headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]),
                &key_header(),
                false
            ),
            Err(Failure::AmbiguousCredentials)
        );
        assert_eq!(
            presented(
                &headers(&[("authorization", "Basic YTpi")]),
                &key_header(),
                false
            ),
            Err(Failure::MalformedAuthorization)
        );
        assert_eq!(
            presented(
                &headers(&[("authorization", "Bearer")]),
                &key_header(),
                false
            ),
            Err(Failure::MalformedAuthorization)
        );
        assert_eq!(
            presented(
                &headers(&[("authorization", "Bearer a b")]),
                &key_header(),
                false
            ),
            Err(Failure::MalformedToken)
        );
    }

    #[test]
    fn token_shapes() {
        assert_eq!(token_shape("a.b.c"), Ok(TokenShape::Jwt));
        let secret = "A".repeat(43);
        assert_eq!(
            token_shape(&format!("ot_live_{secret}")),
            Ok(TokenShape::Opaque(Environment::Production))
        );
        assert_eq!(
            token_shape(&format!("ot_test_{}", "_".repeat(43))),
            Ok(TokenShape::Opaque(Environment::Testing))
        );
        assert_eq!(
            token_shape(&format!("ot_prod_{secret}")),
            Err(Failure::MalformedToken)
        );
        assert_eq!(token_shape("ot_local_short"), Err(Failure::MalformedToken));
        assert_eq!(token_shape("garbage"), Err(Failure::MalformedToken));
    }
}
