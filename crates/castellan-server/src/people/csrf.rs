//! CSRF protection of the pages' forms (RFC 9700 §4.7 for the authorization flow, OWASP CSRF
//! cheat sheet): a token in a hidden form field, compared in constant time, plus a same-origin
//! check of `Origin` (or `Referer`) on every POST.
//!
//! * Signed in, the token is bound to the session: it is derived from the session's secret id
//!   (SHA-256 under a label of its own, so it is neither the id nor its stored hash). A token
//!   from before sign-in, or from another session, does not match, and a new sign-in (a new
//!   session) renews it.
//! * Signed out (the login form), it is a double-submit token: a random 256-bit value in the
//!   CSRF cookie repeated in the form. Each sign-in sets a fresh cookie value.
//!
//! Outside `local` both cookies carry the `__Host-` prefix, so a sibling subdomain or a plain
//! http page cannot plant them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::Environment;
use castellan_crypto::is_generated_secret;
use subtle::ConstantTimeEq;

/// The CSRF cookie's name in `local` (plain http allowed, so no `__Host-` prefix).
pub const CSRF_COOKIE: &str = "castellan_csrf";
/// The CSRF cookie's name everywhere else.
pub const HOST_CSRF_COOKIE: &str = "__Host-castellan_csrf";

/// The CSRF cookie's name in `env`.
pub fn cookie_name(env: Environment) -> &'static str {
    if env == Environment::Local {
        CSRF_COOKIE
    } else {
        HOST_CSRF_COOKIE
    }
}

/// Label separating the derived token from every other hash of a session id (the store keeps
/// the plain SHA-256 of the id).
const SESSION_LABEL: &str = "castellan csrf token of session:";

/// The token of the session whose secret id is `session_cookie` (43 base64url characters).
pub fn session_token(session_cookie: &str) -> String {
    let digest = castellan_crypto::hash_secret(&format!("{SESSION_LABEL}{session_cookie}"));
    URL_SAFE_NO_PAD.encode(digest.0)
}

/// The token a form from this browser must carry: the session's when signed in, else the
/// CSRF cookie's (when well formed).
pub fn expected(session_cookie: Option<&str>, csrf_cookie: Option<&str>) -> Option<String> {
    match session_cookie {
        Some(s) => Some(session_token(s)),
        None => csrf_cookie
            .filter(|c| is_generated_secret(c))
            .map(str::to_owned),
    }
}

/// The token to put in a form: the session's when signed in; else the browser's CSRF cookie
/// when well formed, or a new one (`true`: the caller sets the cookie).
pub fn page_token(session_cookie: Option<&str>, csrf_cookie: Option<&str>) -> (String, bool) {
    match session_cookie {
        Some(s) => (session_token(s), false),
        None => form_token(csrf_cookie),
    }
}

/// A fresh double-submit value, set at each sign-in.
pub fn new_cookie_token() -> String {
    castellan_crypto::generate_secret().into_exposed()
}

/// Why a form was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    /// The CSRF token is missing or does not match.
    #[error(
        "the form's security token is missing or does not match; reload the page and try again"
    )]
    Token,
    /// The form came from another origin.
    #[error("the form was sent from another site")]
    Origin,
}

/// The token to put in a form: the browser's current one when well formed, else a new one
/// (`true`: the caller sets the cookie).
pub fn form_token(cookie: Option<&str>) -> (String, bool) {
    match cookie {
        Some(v) if is_generated_secret(v) => (v.to_owned(), false),
        _ => (new_cookie_token(), true),
    }
}

/// Where a submitted form says it comes from: the `Host` it was sent to and the `Origin` (else
/// `Referer`) the browser set, as text (a value that is not text is given as `""`, which no
/// host matches).
#[derive(Debug, Clone, Copy)]
pub struct FormOrigin<'a> {
    /// The `Host` the form was sent to.
    pub host: Option<&'a str>,
    /// The `Origin` (else `Referer`) the browser set.
    pub claimed: Option<&'a str>,
}

/// Checks a submitted form: same origin, and field == `expected` (constant time), where
/// `expected` is [`expected`]'s answer for the browser.
pub fn check(
    origin: FormOrigin<'_>,
    cookie: Option<&str>,
    field: Option<&str>,
) -> Result<(), CsrfError> {
    check_origin(origin)?;
    match (cookie, field) {
        (Some(c), Some(f))
            if is_generated_secret(c) && bool::from(c.as_bytes().ct_eq(f.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(CsrfError::Token),
    }
}

/// `Origin` (else `Referer`) must name the host the request was sent to. A browser sets both
/// itself, so a cross-site form cannot pass; when neither is sent (some privacy settings) the
/// token alone decides.
fn check_origin(origin: FormOrigin<'_>) -> Result<(), CsrfError> {
    let Some(value) = origin.claimed else {
        return Ok(());
    };
    let origin_host = url::Url::parse(value).ok().and_then(|u| {
        let h = u.host_str()?.to_ascii_lowercase();
        Some(match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h,
        })
    });
    match (origin_host, origin.host.map(str::to_ascii_lowercase)) {
        (Some(o), Some(h)) if o == h => Ok(()),
        _ => Err(CsrfError::Origin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &[(&'static str, &'a str)]) -> FormOrigin<'a> {
        let get = |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        FormOrigin {
            host: get("host"),
            claimed: get("origin").or_else(|| get("referer")),
        }
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
        assert!(check(h, Some(&t), Some(&t)).is_ok());
        assert_eq!(check(h, Some(&t), Some("x")), Err(CsrfError::Token));
        assert_eq!(check(h, None, Some(&t)), Err(CsrfError::Token));
        let evil = headers(&[
            ("host", "a.example:8000"),
            ("origin", "https://evil.example"),
        ]);
        assert_eq!(check(evil, Some(&t), Some(&t)), Err(CsrfError::Origin));
        let null = headers(&[("host", "a.example"), ("origin", "null")]);
        assert_eq!(check(null, Some(&t), Some(&t)), Err(CsrfError::Origin));
        let referer = headers(&[
            ("host", "a.example"),
            ("referer", "https://a.example/login"),
        ]);
        assert!(check(referer, Some(&t), Some(&t)).is_ok());
    }

    #[test]
    fn a_signed_in_browser_needs_its_sessions_token() {
        let (a, b) = ("A".repeat(43), "B".repeat(43));
        let cookie = "C".repeat(43);
        let token = session_token(&a);
        assert!(is_generated_secret(&token));
        assert_ne!(token, session_token(&b));
        assert_eq!(expected(Some(&a), Some(&cookie)), Some(token.clone()));
        assert_eq!(expected(None, Some(&cookie)), Some(cookie.clone()));
        assert_eq!(page_token(Some(&a), Some(&cookie)), (token, false));
        assert_eq!(cookie_name(Environment::Local), "castellan_csrf");
        assert_eq!(
            cookie_name(Environment::Production),
            "__Host-castellan_csrf"
        );
    }
}
