//! Rules for the documents Castellan fetches from addresses a client names (a `jwks_uri`, a
//! client ID metadata document): which URLs and which resolved addresses may be reached
//! (server-side request forgery, OWASP SSRF prevention), how long an answer may be cached
//! (RFC 9111 §5.2 `Cache-Control`, within the operator's bounds), and which hosts the operator
//! trusts (`*.example.com` patterns). Pure: the server's fetcher applies them to what it
//! resolves and receives.

use crate::Environment;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Why an address or a URL may not be fetched. The messages name the rule, never a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutboundRefusal {
    /// A private network (RFC 1918, RFC 4193 `fc00::/7`).
    #[error("the address is in a private network")]
    Private,
    /// The machine itself (`127.0.0.0/8`, `::1`).
    #[error("the address is a loopback address")]
    Loopback,
    /// Link-local, which holds cloud metadata services (`169.254.0.0/16`, `fe80::/10`).
    #[error("the address is link-local (where cloud metadata services live)")]
    LinkLocal,
    /// `0.0.0.0`, `::`, `0.0.0.0/8`.
    #[error("the address is unspecified")]
    Unspecified,
    /// Broadcast or multicast.
    #[error("the address is broadcast or multicast")]
    Multicast,
    /// Carrier-grade NAT (`100.64.0.0/10`, RFC 6598).
    #[error("the address is in the shared (carrier-grade NAT) range")]
    SharedNat,
    /// Documentation, benchmarking and other reserved ranges.
    #[error("the address is in a reserved or documentation range")]
    Reserved,
    /// Not `https` (or `http` to a loopback literal in `local`).
    #[error("the URL must use https")]
    Scheme,
    /// A URL with user information, a fragment, or no host.
    #[error("the URL must have a host and no user information or fragment")]
    Shape,
}

/// Checks one resolved address: only public unicast addresses may be reached.
pub fn check_address(ip: IpAddr) -> Result<(), OutboundRefusal> {
    match ip {
        IpAddr::V4(v4) => check_v4(v4),
        IpAddr::V6(v6) => check_v6(v6),
    }
}

fn check_v4(ip: Ipv4Addr) -> Result<(), OutboundRefusal> {
    let o = ip.octets();
    if ip.is_unspecified() || o[0] == 0 {
        return Err(OutboundRefusal::Unspecified);
    }
    if ip.is_loopback() {
        return Err(OutboundRefusal::Loopback);
    }
    if ip.is_private() {
        return Err(OutboundRefusal::Private);
    }
    if ip.is_link_local() {
        return Err(OutboundRefusal::LinkLocal);
    }
    if ip.is_broadcast() || ip.is_multicast() {
        return Err(OutboundRefusal::Multicast);
    }
    if o[0] == 100 && (o[1] & 0xc0) == 64 {
        return Err(OutboundRefusal::SharedNat);
    }
    let reserved = ip.is_documentation()
        // 192.0.0.0/24 (IETF protocol assignments), 198.18.0.0/15 (benchmarking),
        // 240.0.0.0/4 (reserved).
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[0] >= 240;
    if reserved {
        return Err(OutboundRefusal::Reserved);
    }
    Ok(())
}

fn check_v6(ip: Ipv6Addr) -> Result<(), OutboundRefusal> {
    // An IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible address reaches the IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return check_v4(v4);
    }
    let s = ip.segments();
    if ip.is_unspecified() {
        return Err(OutboundRefusal::Unspecified);
    }
    if ip.is_loopback() {
        return Err(OutboundRefusal::Loopback);
    }
    if s[0..6] == [0, 0, 0, 0, 0, 0] {
        // ::a.b.c.d (deprecated IPv4-compatible).
        return Err(OutboundRefusal::Reserved);
    }
    if ip.is_multicast() {
        return Err(OutboundRefusal::Multicast);
    }
    if (s[0] & 0xfe00) == 0xfc00 {
        return Err(OutboundRefusal::Private);
    }
    if (s[0] & 0xffc0) == 0xfe80 {
        return Err(OutboundRefusal::LinkLocal);
    }
    let reserved = (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x3fff && s[1] < 0x1000) // documentation (RFC 9637)
        || s[0] == 0x0064 && s[1] == 0xff9b // NAT64, which reaches IPv4 addresses
        || (s[0] == 0x2002) // 6to4, which embeds an IPv4 address
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments, Teredo
        || s[0] == 0x0100 && s[1..4] == [0, 0, 0] // discard-only
        || (s[0] & 0xffc0) == 0xfec0; // site-local (deprecated)
    if reserved {
        return Err(OutboundRefusal::Reserved);
    }
    Ok(())
}

/// Checks a URL before anything is resolved: `https`, a host, no user information and no
/// fragment; an IP-literal host must pass [`check_address`]. In `local` an `http` or `https`
/// URL whose host is the loopback literal `127.0.0.1` or `[::1]` is accepted too, so that
/// development and tests need no TLS.
pub fn check_url(url: &Url, env: Environment) -> Result<(), OutboundRefusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(OutboundRefusal::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(OutboundRefusal::Shape);
    }
    let literal = match url.host() {
        None => return Err(OutboundRefusal::Shape),
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
    };
    let local_loopback = env == Environment::Local
        && literal
            .is_some_and(|ip| ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || ip == Ipv6Addr::LOCALHOST);
    if local_loopback {
        return match url.scheme() {
            "http" | "https" => Ok(()),
            _ => Err(OutboundRefusal::Scheme),
        };
    }
    if url.scheme() != "https" {
        return Err(OutboundRefusal::Scheme);
    }
    match literal {
        Some(ip) => check_address(ip),
        None => Ok(()),
    }
}

/// How long an answer may be kept: its `Cache-Control` `max-age` (`no-store`, `no-cache` or no
/// header: `min`), held within `min..=max` seconds.
pub fn cache_seconds(cache_control: Option<&str>, min: u32, max: u32) -> u32 {
    let mut age: Option<u32> = None;
    for directive in cache_control.unwrap_or("").split(',') {
        let d = directive.trim();
        let (name, value) = match d.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (d, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return min;
        }
        if name.eq_ignore_ascii_case("max-age") {
            // A number too large for u32 is "very long": the maximum applies.
            age = value.and_then(|v| {
                v.bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| v.parse::<u32>().unwrap_or(u32::MAX))
            });
        }
    }
    age.unwrap_or(min).clamp(min, max.max(min))
}

/// Whether `host` matches `pattern`: `*` (any host), `*.example.com` (any subdomain of
/// example.com, not example.com itself) or an exact host, compared without case.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
        None => host == pattern,
    }
}

/// Whether `host` is trusted by the operator's policy: it matches an `allow` pattern and no
/// `deny` pattern.
pub fn host_allowed(host: &str, allow: &[String], deny: &[String]) -> bool {
    allow.iter().any(|p| host_matches(p, host)) && !deny.iter().any(|p| host_matches(p, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> Option<OutboundRefusal> {
        check_address(s.parse().unwrap()).err()
    }

    #[test]
    fn each_range_is_refused() {
        use OutboundRefusal::*;
        for (addr, why) in [
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("169.254.169.254", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("255.255.255.255", Multicast),
            ("224.0.0.1", Multicast),
            ("239.1.1.1", Multicast),
            ("100.64.0.1", SharedNat),
            ("100.127.255.254", SharedNat),
            ("192.0.2.1", Reserved),
            ("198.51.100.7", Reserved),
            ("203.0.113.9", Reserved),
            ("198.18.0.1", Reserved),
            ("192.0.0.170", Reserved),
            ("240.0.0.1", Reserved),
            ("::", Unspecified),
            ("::1", Loopback),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("ff02::1", Multicast),
            ("2001:db8::1", Reserved),
            ("64:ff9b::a9fe:a9fe", Reserved),
            ("2002:a9fe:a9fe::1", Reserved),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:100.64.1.1", SharedNat),
            ("::127.0.0.1", Reserved),
        ] {
            assert_eq!(refused(addr), Some(why), "{addr}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(refused(addr), None, "{addr}");
        }
    }

    #[test]
    fn urls_must_be_https_outside_local() {
        let u = |s: &str| Url::parse(s).unwrap();
        use Environment::*;
        assert!(check_url(&u("https://app.example.com/client"), Production).is_ok());
        assert_eq!(
            check_url(&u("http://app.example.com/client"), Local),
            Err(OutboundRefusal::Scheme)
        );
        assert!(check_url(&u("http://127.0.0.1:8080/c"), Local).is_ok());
        assert!(check_url(&u("http://[::1]:8080/c"), Local).is_ok());
        assert_eq!(
            check_url(&u("http://127.0.0.1:8080/c"), Testing),
            Err(OutboundRefusal::Scheme)
        );
        assert_eq!(
            check_url(&u("https://127.0.0.1/c"), Production),
            Err(OutboundRefusal::Loopback)
        );
        assert_eq!(
            check_url(&u("https://169.254.169.254/latest"), Testing),
            Err(OutboundRefusal::LinkLocal)
        );
        assert_eq!(
            check_url(&u("https://[::ffff:a9fe:a9fe]/x"), Testing),
            Err(OutboundRefusal::LinkLocal)
        );
        assert_eq!(
            check_url(&u("http://127.0.0.2:80/c"), Local),
            Err(OutboundRefusal::Scheme)
        );
        assert_eq!(
            check_url(&u("https://user:pw@app.example.com/"), Testing),
            Err(OutboundRefusal::Shape)
        );
        assert_eq!(
            check_url(&u("https://app.example.com/#f"), Testing),
            Err(OutboundRefusal::Shape)
        );
        assert_eq!(
            check_url(&u("file:///etc/passwd"), Local),
            Err(OutboundRefusal::Scheme)
        );
    }

    #[test]
    fn cache_lifetime_is_bounded() {
        assert_eq!(cache_seconds(None, 60, 86_400), 60);
        assert_eq!(cache_seconds(Some("max-age=300"), 60, 86_400), 300);
        assert_eq!(cache_seconds(Some("public, max-age=5"), 60, 86_400), 60);
        assert_eq!(
            cache_seconds(Some("max-age=99999999999"), 60, 86_400),
            86_400
        );
        assert_eq!(cache_seconds(Some("no-store"), 60, 86_400), 60);
        assert_eq!(
            cache_seconds(Some("max-age=3600, no-cache"), 60, 86_400),
            60
        );
        assert_eq!(cache_seconds(Some("max-age=abc"), 60, 86_400), 60);
        assert_eq!(cache_seconds(Some("max-age=\"120\""), 60, 86_400), 120);
    }

    #[test]
    fn host_patterns() {
        assert!(host_matches("*", "anything.example"));
        assert!(host_matches("*.example.com", "app.example.com"));
        assert!(host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "evilexample.com"));
        assert!(host_matches("App.Example.com", "app.example.com."));
        assert!(!host_matches("app.example.com", "app.example.com.evil"));
        let allow = vec!["*".to_owned()];
        let deny = vec!["*.evil.test".to_owned()];
        assert!(host_allowed("good.test", &allow, &deny));
        assert!(!host_allowed("x.evil.test", &allow, &deny));
        assert!(!host_allowed("good.test", &[], &deny));
    }
}
