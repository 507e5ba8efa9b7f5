//! The client's IP address, for per-IP rate limits.
//!
//! The address is the TCP peer (`ConnectInfo<SocketAddr>`). Only when the peer is one of the
//! configured `http.trusted_proxies` is the configured header (`http.client_ip_header`,
//! default `X-Forwarded-For`) read: its addresses are walked from the right, skipping trusted
//! proxies, and the first address that is not a trusted proxy is the client. Anything an
//! untrusted peer puts in that header is ignored, so a client cannot pick its own bucket.
//! With no `ConnectInfo` (a router driven in-process) the address is `0.0.0.0`.

use axum::http::{HeaderMap, HeaderName};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Most header entries looked at: a forwarding chain longer than this is not plausible, and
/// the bound keeps a hostile header from costing more than a few comparisons.
const MAX_HOPS: usize = 32;

/// One trusted network: an address and a prefix length (`10.0.0.0/8`, `::1/128`, or a bare
/// address meaning a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `addr` or `addr/prefix`. The error says what is wrong, without the input.
    pub fn parse(s: &str) -> Result<IpNet, &'static str> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| "is not an IP address or CIDR network")?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err("has a prefix length out of range"),
            },
        };
        Ok(IpNet {
            addr: canonical(addr),
            prefix,
        })
    }

    /// Whether `ip` lies in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// How this server finds client addresses: the trusted proxies and the header they set.
#[derive(Debug, Clone)]
pub struct ClientIpSource {
    trusted: Vec<IpNet>,
    header: HeaderName,
}

/// A trusted-proxy setting that cannot be used; `key` is the full config key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {message}")]
pub struct ClientIpConfigError {
    /// The full config key.
    pub key: String,
    /// What is wrong with its value.
    pub message: &'static str,
}

impl ClientIpSource {
    /// Builds the source from `http.trusted_proxies` and `http.client_ip_header`.
    pub fn new(trusted: &[String], header: &str) -> Result<Self, ClientIpConfigError> {
        let trusted = trusted
            .iter()
            .enumerate()
            .map(|(i, s)| {
                IpNet::parse(s).map_err(|message| ClientIpConfigError {
                    key: format!("http.trusted_proxies[{i}]"),
                    message,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let header =
            HeaderName::from_bytes(header.trim().as_bytes()).map_err(|_| ClientIpConfigError {
                key: "http.client_ip_header".into(),
                message: "is not a valid HTTP header name",
            })?;
        Ok(ClientIpSource { trusted, header })
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(ip))
    }

    /// The client address of a request from `peer` (none when the router is driven without
    /// a socket) carrying `headers`.
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let Some(peer) = peer.map(canonical) else {
            return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        };
        if !self.is_trusted(peer) {
            return peer;
        }
        let forwarded = self.header == "forwarded";
        // Entries in the order they were appended (several header lines read as one list).
        let entries: Vec<&str> = headers
            .get_all(&self.header)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        // The right-most entry was written by `peer`, a trusted proxy; each entry further left
        // is only as reliable as the trusted proxy that appended it.
        let mut client = peer;
        for entry in entries.iter().rev().take(MAX_HOPS) {
            let parsed = if forwarded {
                forwarded_for(entry)
            } else {
                parse_entry(entry)
            };
            let Some(ip) = parsed else {
                // Garbage where a trusted proxy should have written an address: stop at the
                // last address known to be genuine.
                return client;
            };
            client = ip;
            if !self.is_trusted(ip) {
                return ip;
            }
        }
        client
    }
}

/// One `X-Forwarded-For`-style entry: `203.0.113.7`, `203.0.113.7:5123`, `2001:db8::1`,
/// `[2001:db8::1]:443`, optionally quoted.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let s = entry.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    let inner = s.strip_prefix('[')?.split(']').next()?;
    inner.parse::<IpAddr>().ok().map(canonical)
}

/// The `for=` node of one RFC 7239 `Forwarded` element.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("for") {
            parse_entry(v)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::http::client_ip::ClientIp;
    use axum::http::HeaderValue;

    fn src(trusted: &[&str]) -> ClientIpSource {
        let t: Vec<String> = trusted.iter().map(|s| (*s).to_owned()).collect();
        ClientIpSource::new(&t, "x-forwarded-for").unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_header_is_ignored() {
        let s = src(&[]);
        let got = s.resolve(Some(ip("198.51.100.1")), &xff(&["203.0.113.9"]));
        assert_eq!(got, ip("198.51.100.1"));
    }

    #[test]
    fn trusted_peer_gives_the_rightmost_untrusted_address() {
        let s = src(&["10.0.0.0/8"]);
        let h = xff(&["1.1.1.1, 203.0.113.9, 10.0.0.7"]);
        assert_eq!(s.resolve(Some(ip("10.0.0.1")), &h), ip("203.0.113.9"));
        // Several header lines form one list.
        let h = xff(&["1.1.1.1", "203.0.113.9:4711"]);
        assert_eq!(s.resolve(Some(ip("10.0.0.1")), &h), ip("203.0.113.9"));
    }

    #[test]
    fn garbage_or_missing_header_falls_back_to_the_last_genuine_hop() {
        let s = src(&["10.0.0.0/8"]);
        assert_eq!(s.resolve(Some(ip("10.0.0.1")), &xff(&[])), ip("10.0.0.1"));
        let h = xff(&["203.0.113.9, not-an-ip"]);
        assert_eq!(s.resolve(Some(ip("10.0.0.1")), &h), ip("10.0.0.1"));
        let h = xff(&["junk, 10.0.0.9"]);
        assert_eq!(s.resolve(Some(ip("10.0.0.1")), &h), ip("10.0.0.9"));
    }

    #[test]
    fn no_peer_is_unspecified() {
        assert_eq!(
            src(&[]).resolve(None, &HeaderMap::new()),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
    }

    #[test]
    fn ipv6_forms_and_mapped_addresses() {
        let s = src(&["::1", "127.0.0.1/32"]);
        let h = xff(&["[2001:db8::5]:443"]);
        assert_eq!(s.resolve(Some(ip("::1")), &h), ip("2001:db8::5"));
        // An IPv4-mapped peer is the IPv4 address.
        let h = xff(&["2001:db8::6"]);
        assert_eq!(
            s.resolve(Some(ip("::ffff:127.0.0.1")), &h),
            ip("2001:db8::6")
        );
        assert_eq!(
            ClientIp(ip("2001:db8:1:2:3:4:5:6")).limit_key(),
            "ip:2001:db8:1:2::"
        );
        assert_eq!(ClientIp(ip("203.0.113.7")).limit_key(), "ip:203.0.113.7");
    }

    #[test]
    fn ipv4_limit_keys_match_the_display_form() {
        for a in [0u8, 7, 9, 10, 99, 100, 199, 200, 255] {
            for b in [0u8, 1, 10, 100, 255] {
                let v4 = Ipv4Addr::new(a, b, b.wrapping_add(a), 255 - a);
                assert_eq!(ClientIp(IpAddr::V4(v4)).limit_key(), format!("ip:{v4}"));
            }
        }
    }

    #[test]
    fn forwarded_header() {
        let s = ClientIpSource::new(&["10.0.0.1".to_owned()], "Forwarded").unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "forwarded",
            HeaderValue::from_static("for=192.0.2.60;proto=http, for=\"[2001:db8::7]:80\""),
        );
        assert_eq!(s.resolve(Some(ip("10.0.0.1")), &h), ip("2001:db8::7"));
    }

    #[test]
    fn networks_parse_and_match() {
        assert!(IpNet::parse("10.0.0.0/8")
            .unwrap()
            .contains(ip("10.255.0.1")));
        assert!(!IpNet::parse("10.0.0.0/8").unwrap().contains(ip("11.0.0.1")));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpNet::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert!(IpNet::parse("10.0.0.0/33").is_err());
        assert!(IpNet::parse("nope").is_err());
        let e =
            ClientIpSource::new(&["1.2.3.4".into(), "x".into()], "x-forwarded-for").unwrap_err();
        assert_eq!(e.key, "http.trusted_proxies[1]");
        assert!(ClientIpSource::new(&[], "bad header").is_err());
    }
}
