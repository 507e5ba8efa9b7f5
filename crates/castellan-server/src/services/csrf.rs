//! CSRF protection of the pages' forms (RFC 9700 §4.7 for the authorization flow, OWASP CSRF
//! cheat sheet): a double-submit token — a random 256-bit value in the `castellan_csrf` cookie
//! (HttpOnly, SameSite=Lax) repeated in a hidden form field and compared in constant time —
//! plus a same-origin check of `Origin` (or `Referer`) on every POST.

use axum::http::{header, HeaderMap};
use subtle::ConstantTimeEq;

pub const CSRF_COOKIE: &str = "castellan_csrf";

/// Why a form was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    #[error(
        "the form's security token is missing or does not match; reload the page and try again"
    )]
    Token,
    #[error("the form was sent from another site")]
    Origin,
}

/// Whether `v` looks like a token this server issued (43 base64url characters).
fn well_formed(v: &str) -> bool {
    v.len() == 43
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The token to put in a form: the browser's current one when well formed, else a new one
/// (`true`: the caller sets the cookie).
pub fn form_token(cookie: Option<&str>) -> (String, bool) {
    match cookie {
        Some(v) if well_formed(v) => (v.to_owned(), false),
        _ => (castellan_crypto::generate_secret().into_exposed(), true),
    }
}

/// Checks a submitted form: same origin, and field == cookie (constant time).
pub fn check(
    headers: &HeaderMap,
    cookie: Option<&str>,
    field: Option<&str>,
) -> Result<(), CsrfError> {
    check_origin(headers)?;
    match (cookie, field) {
        (Some(c), Some(f)) if well_formed(c) && bool::from(c.as_bytes().ct_eq(f.as_bytes())) => {
            Ok(())
        }
        _ => Err(CsrfError::Token),
    }
}

/// `Origin` (else `Referer`) must name the host the request was sent to. A browser sets both
/// itself, so a cross-site form cannot pass; when neither is sent (some privacy settings) the
/// token alone decides.
fn check_origin(headers: &HeaderMap) -> Result<(), CsrfError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .map(|v| v.to_str().map_err(|_| CsrfError::Origin));
    match claimed {
        None => Ok(()),
        Some(Err(e)) => Err(e),
        Some(Ok(value)) => {
            let origin_host = url::Url::parse(value).ok().and_then(|u| {
                let h = u.host_str()?.to_ascii_lowercase();
                Some(match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h,
                })
            });
            match (origin_host, host) {
                (Some(o), Some(h)) if o == h => Ok(()),
                _ => Err(CsrfError::Origin),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn token_and_origin() {
        let (t, new) = form_token(None);
        assert!(new);
        assert_eq!(form_token(Some(&t)), (t.clone(), false));
        let h = headers(&[
            ("host", "a.example:8000"),
            ("origin", "https://a.example:8000"),
        ]);
        assert!(check(&h, Some(&t), Some(&t)).is_ok());
        assert_eq!(check(&h, Some(&t), Some("x")), Err(CsrfError::Token));
        assert_eq!(check(&h, None, Some(&t)), Err(CsrfError::Token));
        let evil = headers(&[
            ("host", "a.example:8000"),
            ("origin", "https://evil.example"),
        ]);
        assert_eq!(check(&evil, Some(&t), Some(&t)), Err(CsrfError::Origin));
        let null = headers(&[("host", "a.example"), ("origin", "null")]);
        assert_eq!(check(&null, Some(&t), Some(&t)), Err(CsrfError::Origin));
        let referer = headers(&[
            ("host", "a.example"),
            ("referer", "https://a.example/login"),
        ]);
        assert!(check(&referer, Some(&t), Some(&t)).is_ok());
    }
}
