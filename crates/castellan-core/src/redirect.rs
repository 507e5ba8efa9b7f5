//! Redirect-URI registration rules (SPEC 3.6, RFC 8252 §7, RFC 9700 §4.1): exact strings, no
//! fragments; `https` everywhere; `http` only for loopback IP literals (and `localhost`
//! outside production); private-use schemes for native apps.

use crate::environment::Environment;
use url::{Host, Url};

pub const MAX_REDIRECT_URI_LEN: usize = 2000;
pub const MAX_REDIRECT_URIS: usize = 20;

const FORBIDDEN_SCHEMES: [&str; 5] = ["javascript", "data", "file", "vbscript", "blob"];

/// Checks one redirect URI for registration; the error says why it is refused.
pub fn check_redirect_uri(uri: &str, env: Environment) -> Result<(), String> {
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(format!(
            "a redirect URI is longer than {MAX_REDIRECT_URI_LEN} characters"
        ));
    }
    // The URL parser quietly percent-encodes or strips these, but the URI is stored and
    // compared as given: refuse them (PostgreSQL also refuses NUL in text).
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "`{}` contains whitespace or a control character",
            short(uri).escape_default()
        ));
    }
    let url = Url::parse(uri).map_err(|_| format!("`{}` is not an absolute URI", short(uri)))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err(format!(
            "`{}` has a fragment; redirect URIs must not",
            short(uri)
        ));
    }
    match url.scheme() {
        "https" => {
            if url.host().is_none() {
                return Err(format!("`{}` has no host", short(uri)));
            }
            Ok(())
        }
        "http" => match url.host() {
            Some(Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            Some(Host::Domain(d)) if d == "localhost" || d.ends_with(".localhost") => {
                if env == Environment::Production {
                    Err(format!(
                        "`{}` uses a loopback hostname; in production use the IP literal \
                         http://127.0.0.1:PORT or http://[::1]:PORT (RFC 8252 §7.3)",
                        short(uri)
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Err(format!(
                "`{}` uses http; redirect URIs must use https (http only for loopback)",
                short(uri)
            )),
        },
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => Err(format!(
            "the `{scheme}` scheme is not allowed for redirect URIs"
        )),
        scheme => {
            if env == Environment::Production && !scheme.contains('.') {
                Err(format!(
                    "private-use scheme `{scheme}` must be a reverse domain name such as \
                     com.example.app (RFC 8252 §7.1)"
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// Checks a list of redirect URIs.
pub fn check_redirect_uris(uris: &[String], env: Environment) -> Result<(), String> {
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(format!("at most {MAX_REDIRECT_URIS} redirect URIs"));
    }
    uris.iter().try_for_each(|u| check_redirect_uri(u, env))
}

fn short(s: &str) -> String {
    crate::query::truncate(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Environment::*;

    #[test]
    fn rules_per_environment() {
        let ok = |u: &str, e| check_redirect_uri(u, e).is_ok();
        assert!(ok("https://example.com/cb", Production));
        assert!(ok("http://127.0.0.1:8080/cb", Production));
        assert!(ok("http://[::1]:8080/cb", Production));
        assert!(!ok("http://localhost:8080/cb", Production));
        assert!(ok("http://localhost:8080/cb", Testing));
        assert!(ok("http://localhost:8080/cb", Local));
        assert!(!ok("http://example.com/cb", Local));
        assert!(!ok("https://example.com/cb#frag", Local));
        assert!(!ok("javascript:alert(1)", Local));
        assert!(!ok("https://example.com/c\u{0}b", Local));
        assert!(!ok("https://example.com/c b", Local));
        assert!(!ok(" https://example.com/cb", Local));
        assert!(ok("com.example.app:/cb", Production));
        assert!(!ok("myapp://cb", Production));
        assert!(ok("myapp://cb", Testing));
        assert!(!ok("/relative", Local));
        assert!(!ok(&format!("https://e.com/{}", "a".repeat(3000)), Local));
    }
}
