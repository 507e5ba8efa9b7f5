//! The one way Castellan fetches a document from an address a client names (a `jwks_uri`, a
//! client ID metadata document): a GET bounded in size and time, with no redirect followed,
//! only `200` with a JSON body accepted, and no connection to an address outside the public
//! internet (OWASP SSRF prevention). The URL is checked first
//! ([`castellan_core::outbound::check_url`]); host names are resolved by [`PublicResolver`],
//! which drops every address [`castellan_core::outbound::check_address`] refuses, and the
//! connection is made to the addresses it returned, so a name cannot resolve to a public
//! address for the check and a private one for the connection. No proxy from the environment
//! is used: it would connect on our behalf to wherever the name points.

use castellan_core::outbound::{self, OutboundRefusal};
use castellan_core::Environment;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The bounds of one fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// The largest body accepted, in bytes.
    pub max_bytes: usize,
    /// The longest the whole fetch (resolution, connection, answer and body) may take.
    pub timeout: Duration,
    /// The shortest time an answer is cached, whatever its `Cache-Control` says (seconds).
    pub cache_min_seconds: u32,
    /// The longest (seconds).
    pub cache_max_seconds: u32,
}

/// Why a fetch failed. Each says what went wrong in words a client's developer can act on,
/// and carries no part of the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL or an address it resolves to is not one Castellan fetches from.
    #[error("refused to fetch: {0}")]
    Refused(OutboundRefusal),
    /// The name resolved to no address Castellan may connect to (or to none at all).
    #[error("the host does not resolve to a public address")]
    NoPublicAddress,
    /// The fetch took longer than its time limit.
    #[error("the document took longer than {0} ms to fetch")]
    Timeout(u128),
    /// The connection failed or the answer was not readable HTTP.
    #[error("the document could not be fetched (connection failed)")]
    Connection,
    /// A redirect: not followed.
    #[error("the document's URL answered a redirect ({0}), which is not followed")]
    Redirect(u16),
    /// Any status other than 200.
    #[error("the document's URL answered status {0}, not 200")]
    Status(u16),
    /// The body is larger than allowed.
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    /// The answer's `Content-Type` is not JSON.
    #[error("the document is not served as JSON (application/json)")]
    NotJson,
    /// The body is not a JSON document, an object in it repeats a member, or it nests deeper
    /// than [`MAX_DOCUMENT_DEPTH`].
    #[error("the document is not valid JSON (or repeats a member, or nests too deeply)")]
    BadJson,
}

/// Deepest nesting accepted in a fetched document: a metadata document's `jwks` holds its keys
/// at depth 4 (`{"jwks": {"keys": [{…}]}}`), a key set's at 3.
pub const MAX_DOCUMENT_DEPTH: usize = 8;

/// A fetched JSON document and how long it may be cached.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The parsed body.
    pub json: serde_json::Value,
    /// How long it may be cached, within the limits' bounds.
    pub cache_for: Duration,
}

/// Fetches JSON documents under the rules above; cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    environment: Environment,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

/// A resolver that answers only public addresses (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let refused = || -> BoxError { Box::new(FetchError::NoPublicAddress) };
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| refused())?;
            let public: Vec<SocketAddr> = found
                .filter(|a| outbound::check_address(a.ip()).is_ok())
                .collect();
            if public.is_empty() {
                return Err(refused());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Fetcher {
    /// A fetcher for `environment` (in `local`, `http://127.0.0.1:…` and `http://[::1]:…` are
    /// accepted).
    pub fn new(environment: Environment) -> Result<Self, String> {
        let tls = tls_config()?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .dns_resolver(Arc::new(PublicResolver))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("castellan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the outbound HTTP client could not be built: {e}"))?;
        Ok(Fetcher {
            client,
            environment,
        })
    }

    /// POSTs `form` (form-encoded) to `url` within `timeout`, under the same address rules as
    /// fetches and without following redirects; answers the status.
    pub async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<u16, FetchError> {
        outbound::check_url(url, self.environment).map_err(FetchError::Refused)?;
        let send = self.client.post(url.clone()).form(form).send();
        match tokio::time::timeout(timeout, send).await {
            Ok(Ok(answer)) => Ok(answer.status().as_u16()),
            Ok(Err(e)) if source_is_no_public_address(&e) => Err(FetchError::NoPublicAddress),
            Ok(Err(_)) => Err(FetchError::Connection),
            Err(_) => Err(FetchError::Timeout(timeout.as_millis())),
        }
    }

    /// GETs `url` as JSON within `limits`.
    pub async fn get_json(&self, url: &Url, limits: FetchLimits) -> Result<Fetched, FetchError> {
        outbound::check_url(url, self.environment).map_err(FetchError::Refused)?;
        let timeout = limits.timeout;
        match tokio::time::timeout(timeout, self.get_within(url, limits)).await {
            Ok(answer) => answer,
            Err(_) => Err(FetchError::Timeout(timeout.as_millis())),
        }
    }

    async fn get_within(&self, url: &Url, limits: FetchLimits) -> Result<Fetched, FetchError> {
        let mut answer = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                // The resolver's refusal comes back wrapped in the connection error.
                if source_is_no_public_address(&e) {
                    FetchError::NoPublicAddress
                } else {
                    FetchError::Connection
                }
            })?;
        let status = answer.status();
        if status.is_redirection() {
            return Err(FetchError::Redirect(status.as_u16()));
        }
        if status != reqwest::StatusCode::OK {
            return Err(FetchError::Status(status.as_u16()));
        }
        let headers = answer.headers();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            return Err(FetchError::NotJson);
        }
        let cache_control = headers
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if answer
            .content_length()
            .is_some_and(|n| n > limits.max_bytes as u64)
        {
            return Err(FetchError::TooLarge(limits.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await.map_err(|_| FetchError::Connection)? {
            if body.len() + chunk.len() > limits.max_bytes {
                return Err(FetchError::TooLarge(limits.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        // Strictly: a repeated member would let two readers see two documents.
        let json = castellan_core::strict_json::parse(&body, MAX_DOCUMENT_DEPTH)
            .map_err(|_| FetchError::BadJson)?;
        let seconds = outbound::cache_seconds(
            cache_control.as_deref(),
            limits.cache_min_seconds,
            limits.cache_max_seconds,
        );
        Ok(Fetched {
            json,
            cache_for: Duration::from_secs(u64::from(seconds)),
        })
    }
}

fn source_is_no_public_address(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if matches!(
            s.downcast_ref::<FetchError>(),
            Some(FetchError::NoPublicAddress)
        ) {
            return true;
        }
        source = s.source();
    }
    false
}

/// `application/json` or any `application/*+json` (such as `application/jwk-set+json`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// TLS with the system's trusted roots over aws-lc-rs, the crypto Castellan already uses.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // A root the system holds but rustls cannot parse is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS could not be set up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/jwk-set+json"));
        assert!(!is_json("text/html"));
        assert!(!is_json("text/json+html"));
        assert!(!is_json(""));
    }

    #[tokio::test]
    async fn the_resolver_drops_private_addresses() {
        let r = PublicResolver.resolve("localhost".parse().unwrap()).await;
        assert!(r.is_err());
    }
}
