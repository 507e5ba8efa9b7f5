//! The request headers a gateway check reads, found in one pass: the original request's method
//! and path as the proxy forwards them, and the one credential presented.

use crate::gateway::forward_auth::Presented;
use axum::http::{HeaderMap, HeaderValue, Method};
use castellan_guard::api_key::ApiKeyError;
use castellan_guard::dpop::Scheme;
use castellan_guard::policy::TOKEN_HEADER;
use castellan_guard::Failure;

/// Longest credential looked at.
const MAX_CREDENTIAL_LEN: usize = 8192;
/// The header carrying an API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// One request header as forward-auth sees it: its first value, and whether it came twice.
#[derive(Default, Clone, Copy)]
struct Seen<'h> {
    first: Option<&'h HeaderValue>,
    repeated: bool,
}

impl<'h> Seen<'h> {
    fn text(self) -> Option<&'h str> {
        self.first.and_then(|v| v.to_str().ok())
    }
}

/// The request headers forward-auth reads, found in one pass over the request's headers. A
/// proxy forwards the caller's headers too; one pass comparing names costs less than a hashed
/// lookup per name read. Its `Debug` shows the original request but never a credential.
#[derive(Default)]
pub struct ForwardedHeaders<'h> {
    forwarded_method: Seen<'h>,
    forwarded_uri: Seen<'h>,
    original_method: Seen<'h>,
    original_uri: Seen<'h>,
    authorization: Seen<'h>,
    api_key: Seen<'h>,
    tenant_token: Seen<'h>,
    forwarded_proto: Seen<'h>,
    forwarded_host: Seen<'h>,
    host: Seen<'h>,
}

impl std::fmt::Debug for ForwardedHeaders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let present = |s: Seen<'_>| s.first.map(|_| "[redacted]");
        f.debug_struct("ForwardedHeaders")
            .field("forwarded_method", &self.forwarded_method.text())
            .field("forwarded_uri", &self.forwarded_uri.text())
            .field("original_method", &self.original_method.text())
            .field("original_uri", &self.original_uri.text())
            .field("authorization", &present(self.authorization))
            .field("api_key", &present(self.api_key))
            .field("tenant_token", &present(self.tenant_token))
            .finish()
    }
}

impl<'h> ForwardedHeaders<'h> {
    /// Picks the forwarded request's headers out of `headers`.
    pub fn scan(headers: &'h HeaderMap) -> Self {
        let mut f = ForwardedHeaders::default();
        for (name, value) in headers {
            let seen = match name.as_str() {
                "x-forwarded-method" => &mut f.forwarded_method,
                "x-forwarded-uri" => &mut f.forwarded_uri,
                "x-original-method" => &mut f.original_method,
                "x-original-uri" => &mut f.original_uri,
                "authorization" => &mut f.authorization,
                API_KEY_HEADER => &mut f.api_key,
                TOKEN_HEADER => &mut f.tenant_token,
                "x-forwarded-proto" => &mut f.forwarded_proto,
                "x-forwarded-host" => &mut f.forwarded_host,
                "host" => &mut f.host,
                _ => continue,
            };
            if seen.first.is_some() {
                seen.repeated = true;
            } else {
                seen.first = Some(value);
            }
        }
        f
    }

    /// The URL the caller sent the original request to, as a DPoP proof's `htu` names it:
    /// `base` + `path` when the operator set `gateway.public_base_url`, else the proxy's
    /// `X-Forwarded-Proto` (default `https`) and `X-Forwarded-Host` (else `Host`). `None` when
    /// a header it needs is missing, repeated, or not a bare host and port (a value that could
    /// add a path, query or fragment to the URL).
    pub fn public_url(&self, path: &str, base: Option<&str>) -> Option<String> {
        if let Some(base) = base {
            return Some(format!("{}{path}", base.trim_end_matches('/')));
        }
        let one = |s: Seen<'h>| if s.repeated { None } else { s.text() };
        let proto = match self.forwarded_proto.first {
            None => "https",
            Some(_) => one(self.forwarded_proto)?.trim(),
        };
        let host = match self.forwarded_host.first {
            Some(_) => one(self.forwarded_host)?,
            None => one(self.host)?,
        }
        .trim();
        if !castellan_guard::dpop::is_authority(host) || !matches!(proto, "http" | "https") {
            return None;
        }
        Some(format!("{proto}://{host}{path}"))
    }
}

/// The original request's method and path (query removed), borrowed from the forwarded
/// headers or from this request's own path.
pub fn original_request<'a>(
    own_method: &Method,
    own_path: &'a str,
    headers: &ForwardedHeaders<'a>,
    envoy_prefix: &str,
) -> Option<(Method, &'a str)> {
    let forwarded = headers
        .forwarded_method
        .text()
        .zip(headers.forwarded_uri.text());
    let original = headers
        .original_method
        .text()
        .zip(headers.original_uri.text());
    // Only one proxy asks: two pairs that disagree mean one came from the client (an nginx
    // that does not clear X-Forwarded-*), so neither is trusted.
    if forwarded.is_some() && original.is_some() && forwarded != original {
        return None;
    }
    let pair = forwarded.or(original);
    let (method, uri) = match pair {
        Some((m, u)) => (Method::from_bytes(m.trim().as_bytes()).ok()?, u.trim()),
        None => {
            let rest = own_path.strip_prefix(envoy_prefix)?;
            let rest = if rest.is_empty() { "/" } else { rest };
            if !rest.starts_with('/') {
                return None;
            }
            (own_method.clone(), rest)
        }
    };
    // Only the query is cut: a raw '#' stays in the path, which refuses it (a server reading it
    // literally would see another path).
    let path = uri.split('?').next().unwrap_or("");
    path.starts_with('/').then_some((method, path))
}

/// The one value of a credential header; `malformed` when it is not printable text, empty or
/// too long.
fn single(seen: Seen<'_>, malformed: Failure) -> Result<Option<&str>, Failure> {
    match seen {
        Seen { first: None, .. } => Ok(None),
        Seen { repeated: true, .. } => Err(Failure::AmbiguousCredentials),
        Seen { first: Some(v), .. } => v
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= MAX_CREDENTIAL_LEN)
            .map(Some)
            .ok_or(malformed),
    }
}

/// The one credential of the request, from its one credential header.
pub fn presented<'h>(headers: &ForwardedHeaders<'h>) -> Result<Presented<'h>, Failure> {
    let auth = single(headers.authorization, Failure::MalformedAuthorization)?;
    let key = single(
        headers.api_key,
        Failure::MalformedApiKey(ApiKeyError::Parts),
    )?;
    let tenant = single(headers.tenant_token, Failure::MalformedToken)?;
    match (auth, key, tenant) {
        (None, None, None) => Ok(Presented::None),
        (Some(a), None, None) => {
            let (scheme, rest) = a.split_once(' ').ok_or(Failure::MalformedAuthorization)?;
            let token = rest.trim();
            let scheme = if scheme.eq_ignore_ascii_case("bearer") {
                Scheme::Bearer
            } else if scheme.eq_ignore_ascii_case("dpop") {
                Scheme::Dpop
            } else {
                return Err(Failure::MalformedAuthorization);
            };
            if token.is_empty() {
                return Err(Failure::MalformedAuthorization);
            }
            Ok(Presented::Token(token, scheme))
        }
        (None, Some(k), None) => Ok(Presented::ApiKey(k)),
        (None, None, Some(t)) => Ok(Presented::Tenant(t)),
        _ => Err(Failure::AmbiguousCredentials),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_credential() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer secret-token-1"),
        );
        h.insert(
            API_KEY_HEADER,
            HeaderValue::from_static("csb_secret-key-2_00000000"),
        );
        h.insert(TOKEN_HEADER, HeaderValue::from_static("secret-tenant-3"));
        h.insert("x-original-uri", HeaderValue::from_static("/products/1"));
        let shown = format!("{:?}", ForwardedHeaders::scan(&h));
        for secret in ["secret-token-1", "secret-key-2", "secret-tenant-3"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("/products/1"), "{shown}");
    }
}
