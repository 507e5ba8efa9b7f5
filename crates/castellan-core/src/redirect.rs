//! Redirect-URI registration rules (RFC 8252 §7, RFC 9700 §4.1): exact strings, no
//! fragments; `https` everywhere; `http` only for loopback IP literals (and `localhost`
//! outside production); private-use schemes for native apps.

use crate::environment::Environment;
use url::{Host, Url};

/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;
/// Most redirect URIs one client may register.
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

/// Whether a redirect URI presented at authorize matches a registered one (RFC 9700 §4.1.3,
/// RFC 8252 §7.3): the same string exactly, except that for an `http` URI whose host is a
/// loopback IP literal (`127.0.0.0/8` or `[::1]`) the port may differ, since a native app
/// listens on whatever port the system gives it. The scheme, host, path and query must still be
/// identical, character for character; `localhost` (a name, which may resolve elsewhere) never
/// gets this leeway, nor does `https`.
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(presented)) {
        (Some(r), Some(p)) => r.host == p.host && r.rest == p.rest,
        _ => false,
    }
}

/// An `http` URI on a loopback IP literal, split around its optional port.
struct LoopbackUri<'a> {
    host: &'a str,
    rest: &'a str,
}

fn loopback_parts(uri: &str) -> Option<LoopbackUri<'_>> {
    let after = uri.strip_prefix("http://")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, tail) = authority.split_at(close + 1);
        let ip: std::net::Ipv6Addr = host[1..close].parse().ok()?;
        if !ip.is_loopback() {
            return None;
        }
        (host, tail)
    } else {
        let (host, tail) = match authority.find(':') {
            Some(i) => authority.split_at(i),
            None => (authority, ""),
        };
        let ip: std::net::Ipv4Addr = host.parse().ok()?;
        if !ip.is_loopback() {
            return None;
        }
        (host, tail)
    };
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u16>().ok()?;
    }
    Some(LoopbackUri { host, rest })
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

    #[test]
    fn a_loopback_ip_redirect_uri_may_differ_only_in_its_port() {
        let m = redirect_uri_matches;
        assert!(m(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:51234/callback"
        ));
        assert!(m(
            "http://127.0.0.1:8080/callback",
            "http://127.0.0.1:51234/callback"
        ));
        assert!(m(
            "http://127.0.0.1:8080/callback",
            "http://127.0.0.1/callback"
        ));
        assert!(m("http://[::1]/cb?x=1", "http://[::1]:9/cb?x=1"));
        assert!(m("http://127.0.0.1", "http://127.0.0.1:1"));
        assert!(m("http://127.5.6.7/cb", "http://127.5.6.7:1/cb"));
        assert!(m("https://app.example/cb", "https://app.example/cb"));
        assert!(m("http://localhost:8080/cb", "http://localhost:8080/cb"));
    }

    #[test]
    fn nothing_else_may_differ() {
        let m = redirect_uri_matches;
        for (registered, presented) in [
            // Not loopback IP literals, or not http.
            ("http://localhost/cb", "http://localhost:5000/cb"),
            ("http://localhost:8080/cb", "http://localhost:5000/cb"),
            ("https://127.0.0.1/cb", "https://127.0.0.1:5000/cb"),
            ("https://app.example/cb", "https://app.example:8443/cb"),
            ("http://10.0.0.1/cb", "http://10.0.0.1:5000/cb"),
            ("http://[::2]/cb", "http://[::2]:5000/cb"),
            // Another host, path, query or case.
            ("http://127.0.0.1/cb", "http://127.0.0.2:5000/cb"),
            ("http://127.0.0.1/cb", "http://[::1]:5000/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb/"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:5000/CB"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:5000/./cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb?x=1"),
            ("http://127.0.0.1/cb?x=1", "http://127.0.0.1:5000/cb?x=2"),
            ("http://127.0.0.1/cb", "HTTP://127.0.0.1:5000/cb"),
            // Malformed ports and authorities.
            ("http://127.0.0.1/cb", "http://127.0.0.1:/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:99999/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:+80/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:80:81/cb"),
            ("http://127.0.0.1/cb", "http://x@127.0.0.1:80/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:80@evil.example/cb"),
            ("http://127.0.0.1/cb", "http://127.000.0.1:80/cb"),
            ("http://127.0.0.1/cb", "http://2130706433:80/cb"),
        ] {
            assert!(!m(registered, presented), "{registered} vs {presented}");
        }
    }
}
