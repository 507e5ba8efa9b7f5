//! Client credentials as presented at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3.1): HTTP Basic (`client_secret_basic`, with the form-encoding of id and
//! secret the RFC requires), or `client_id`/`client_secret` in the body
//! (`client_secret_post`, also in a JSON body), or `client_id` alone for public clients, or a
//! signed assertion (`client_assertion_type` = JWT bearer and `client_assertion`,
//! `private_key_jwt`, RFC 7523 §2.2; `client_id` optional, else the assertion's `sub`).
//! Presenting credentials in more than one way is `invalid_request` (RFC 6749 §2.3).

use crate::error::OAuthFailure;
use crate::oauth::client_auth::{PresentedClient, PresentedMethod};
use crate::oauth::params::OAuthParams;
use axum::http::{header::AUTHORIZATION, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use castellan_core::client_assertion::JWT_BEARER_ASSERTION;
use castellan_core::{OAuthError, Secret};

/// Reads the client's credentials; takes `client_id` and `client_secret` out of `params`. An
/// error answers with the Basic challenge when Basic was attempted.
pub fn presented_client(
    headers: &HeaderMap,
    params: &mut OAuthParams,
) -> Result<PresentedClient, OAuthFailure> {
    read_presented(headers, params).map_err(|(e, basic)| OAuthFailure::from(e).with_basic(basic))
}

/// [`presented_client`]'s reading; on error, the second value says whether Basic was
/// attempted.
fn read_presented(
    headers: &HeaderMap,
    params: &mut OAuthParams,
) -> Result<PresentedClient, (OAuthError, bool)> {
    let body_id = params.take("client_id");
    let body_secret = params.take("client_secret");
    let assertion_type = params.take("client_assertion_type");
    let assertion = params.take("client_assertion");
    let basic = match headers.get_all(AUTHORIZATION).iter().count() {
        0 => None,
        1 => headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("basic")
                    .then(|| rest.trim().to_owned())
            }),
        _ => {
            return Err((
                OAuthError::invalid_request("more than one Authorization header"),
                false,
            ))
        }
    };
    if assertion_type.is_some() || assertion.is_some() {
        if basic.is_some() || body_secret.is_some() {
            return Err((
                OAuthError::invalid_request(
                    "send either a client assertion or a client secret, not both",
                ),
                basic.is_some(),
            ));
        }
        return read_assertion(body_id, assertion_type, assertion).map_err(|e| (e, false));
    }
    if let Some(encoded) = basic {
        if body_secret.is_some() {
            return Err((
                OAuthError::invalid_request(
                    "client credentials were sent both in the Authorization header and the body",
                ),
                true,
            ));
        }
        let (id, secret) = decode_basic(&encoded).ok_or_else(|| {
            (
                OAuthError::invalid_client(
                    "the Basic credentials are not valid base64 of client_id:client_secret",
                ),
                true,
            )
        })?;
        if let Some(bid) = body_id {
            if bid != id {
                return Err((
                    OAuthError::invalid_request(
                        "client_id in the body differs from the Authorization header",
                    ),
                    true,
                ));
            }
        }
        return Ok(PresentedClient {
            client_id: id,
            secret: Some(secret),
            method: PresentedMethod::Basic,
        });
    }
    let client_id = body_id.ok_or_else(|| {
        (
            OAuthError::invalid_client(
                "client authentication is required: send HTTP Basic credentials or client_id (and client_secret)",
            ),
            false,
        )
    })?;
    let method = if body_secret.is_some() {
        PresentedMethod::Body
    } else {
        PresentedMethod::None
    };
    Ok(PresentedClient {
        client_id,
        secret: body_secret.map(Secret::new),
        method,
    })
}

/// A client assertion (RFC 7523 §2.2): the type must be JWT bearer; the client is `client_id`
/// when sent, else the (not yet verified) `sub` of the assertion, which authentication then
/// checks against the client's keys.
fn read_assertion(
    body_id: Option<String>,
    assertion_type: Option<String>,
    assertion: Option<String>,
) -> Result<PresentedClient, OAuthError> {
    if assertion_type.as_deref() != Some(JWT_BEARER_ASSERTION) {
        return Err(OAuthError::invalid_client(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    let assertion = assertion
        .filter(|a| !a.is_empty())
        .ok_or_else(|| OAuthError::invalid_client("client_assertion is missing"))?;
    let client_id = match body_id {
        Some(id) => id,
        None => castellan_crypto::jws::decode_unverified(&assertion)
            .ok()
            .and_then(|(_, claims)| claims.get("sub")?.as_str().map(str::to_owned))
            .ok_or_else(|| {
                OAuthError::invalid_client(
                    "client authentication failed: the client assertion is not valid",
                )
            })?,
    };
    Ok(PresentedClient {
        client_id,
        secret: Some(Secret::new(assertion)),
        method: PresentedMethod::PrivateKeyJwt,
    })
}

fn decode_basic(encoded: &str) -> Option<(String, Secret)> {
    if encoded.len() > 2048 {
        return None;
    }
    let raw = STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let id = form_decode(id)?;
    let secret = form_decode(secret)?;
    if id.is_empty() {
        return None;
    }
    Some((id, Secret::new(secret)))
}

/// `application/x-www-form-urlencoded` decoding of one Basic component (RFC 6749 §2.3.1).
/// Issued ids and secrets need no escaping, so a component without `%` or `+` is taken as
/// it is, without a decoding pass.
fn form_decode(s: &str) -> Option<String> {
    let decoded = if s.bytes().any(|b| b == b'%' || b == b'+') {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())?
    } else {
        s.to_owned()
    };
    (!decoded.contains('\u{FFFD}')).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn basic_is_form_decoded() {
        let enc = STANDARD.encode("my%20id:s%2Bcret");
        let mut p = OAuthParams::default();
        let c = presented_client(&headers(&format!("Basic {enc}")), &mut p).unwrap();
        assert_eq!(c.client_id, "my id");
        assert_eq!(c.secret.unwrap().expose(), "s+cret");
        assert_eq!(c.method, PresentedMethod::Basic);
    }

    #[test]
    fn plain_and_escaped_components_decode_alike() {
        assert_eq!(form_decode("abc-_.~XYZ09").as_deref(), Some("abc-_.~XYZ09"));
        assert_eq!(form_decode("a%2Db").as_deref(), Some("a-b"));
        assert_eq!(form_decode("a+b").as_deref(), Some("a b"));
        assert_eq!(form_decode("a%FFb"), None);
        assert_eq!(form_decode("a\u{FFFD}b"), None);
    }

    #[test]
    fn two_methods_are_refused() {
        let enc = STANDARD.encode("a:b");
        let mut p = OAuthParams::parse_form(b"client_id=a&client_secret=b").unwrap();
        let (e, basic) = read_presented(&headers(&format!("Basic {enc}")), &mut p).unwrap_err();
        assert_eq!(e.code, castellan_core::OAuthErrorCode::InvalidRequest);
        assert!(basic);
    }

    #[test]
    fn garbage_basic_is_invalid_client() {
        let mut p = OAuthParams::default();
        let (e, basic) = read_presented(&headers("Basic !!!"), &mut p).unwrap_err();
        assert_eq!(e.code, castellan_core::OAuthErrorCode::InvalidClient);
        assert!(basic);
    }
}
