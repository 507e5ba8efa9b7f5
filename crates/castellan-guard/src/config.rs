//! The guard's configuration: one typed tree, deserialisable from TOML/JSON, validated once
//! into the structures the hot path uses. Defaults are where Castellan serves things: JWKS and
//! RFC 9728 metadata under the issuer's `/.well-known/`, API keys in `X-API-Key` with prefix
//! `csb`.

use crate::identity::Role;
use crate::policy::{OrgSource, Policy};
use castellan_core::{Environment, Secret};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// A client secret from configuration; prints as `[redacted]`.
#[derive(Clone)]
pub struct ClientSecret(Secret);

impl ClientSecret {
    /// Wraps a secret read from configuration.
    pub fn new(value: impl Into<String>) -> Self {
        ClientSecret(Secret::new(value))
    }
    /// The secret itself, to send to Castellan.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

impl<'de> Deserialize<'de> for ClientSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ClientSecret::new)
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The environment tokens and keys must belong to; a credential of another environment is
    /// refused as such.
    pub environment: Environment,
    /// Default: issuer + `/.well-known/jwks.json`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Needed to accept opaque tokens and API keys.
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
    /// Default: issuer + `/.well-known/oauth-protected-resource` (RFC 9728 §3).
    #[serde(default)]
    pub resource_metadata: Option<String>,
    /// This API's resource identifier (RFC 8707, RFC 9728 `resource`): the audience a token
    /// must have been issued for. Default: the issuer (the audience Castellan gives tokens
    /// asked for without a resource indicator, unless `token.default_audience` says otherwise).
    #[serde(default)]
    pub resource: Option<String>,
    /// The audiences accepted, when more than `resource` alone: a token's `aud` (a JWT's, or
    /// an opaque token's as introspection answers it) must be one of these. Empty: `resource`.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `iat`/`nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u32,
    /// Cache sizes and lifetimes.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Where API keys are read from and the prefix they carry.
    #[serde(default)]
    pub api_key: ApiKeyConfig,
    /// Timeout of one JWKS fetch or introspection call, in milliseconds.
    #[serde(default = "default_http_timeout")]
    pub http_timeout_ms: u64,
    /// Tenant mode for every route: token in `x-token`, `x-brand`/`x-venue` checked.
    #[serde(default)]
    pub tenant: bool,
    /// Route policies, first match wins.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// The policy of requests no route matches. Default: authenticated, nothing more.
    #[serde(default)]
    pub default_policy: Option<RouteRules>,
    /// Castellan's revocation feed (`…/oauth/revocations`), polled with the `introspection`
    /// client's credentials (a client with the `introspect` scope) so that revoked JWTs, token
    /// families, connected apps and clients are refused. Required in `production`.
    #[serde(default)]
    pub revocation_feed_url: Option<String>,
    /// How often the feed is read: a revoked JWT is refused at most this long after its
    /// revocation (plus one request's time).
    #[serde(default = "default_revocation_poll")]
    pub revocation_poll_seconds: u64,
    /// When the feed has not been read successfully for longer than this, every JWT is refused
    /// with 503 `revocations_unavailable` (fail closed).
    #[serde(default = "default_revocation_max_stale")]
    pub revocation_max_stale_seconds: u64,
    /// The `[rate_limit]` table, in the shape of Castellan's own (`docs/rate-limits.md`):
    /// allowed calls are counted per API key under its tier and per client (and person) for
    /// access tokens, in this process or in Redis. Absent: nothing is counted.
    #[serde(default)]
    pub rate_limit: Option<castellan_limit::RateLimitConfig>,
    /// How DPoP proofs (RFC 9449) are checked for DPoP-bound tokens.
    #[serde(default)]
    pub dpop: DpopConfig,
}

/// How the guard checks the `DPoP` proof that must come with a DPoP-bound token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// The URL callers reach this API at (`https://api.example.com`, a path prefix allowed):
    /// a proof's `htu` must be this followed by the request's path. Recommended: without it
    /// the URL is `scheme` + `://` + the request's `Host` header + the path, and the Host
    /// header is the caller's to choose.
    pub public_base_url: Option<String>,
    /// The scheme callers use, when `public_base_url` is not set: `https` (default) or `http`
    /// (a TLS-terminating proxy in front of the API is still `https`).
    pub scheme: String,
    /// How old a proof's `iat` may be, in seconds; also how long its `jti` is remembered.
    pub proof_max_age_seconds: u32,
    /// How far in the future a proof's `iat` may be (clock skew), in seconds.
    pub proof_max_skew_seconds: u32,
    /// Most proof `jti`s remembered at once (in this process).
    pub replay_capacity: u64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        DpopConfig {
            public_base_url: None,
            scheme: "https".to_owned(),
            proof_max_age_seconds: 60,
            proof_max_skew_seconds: 5,
            replay_capacity: 1_000_000,
        }
    }
}

/// The client the guard authenticates as at Castellan's introspection endpoint and revocation
/// feed; it needs the `introspect` scope.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// Default: issuer + `/oauth/introspect`.
    #[serde(default)]
    pub url: Option<String>,
    /// The client's id.
    pub client_id: String,
    /// The client's secret.
    pub client_secret: ClientSecret,
}

/// How long and how much the guard remembers of what it checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Longest time a verified JWT is remembered (never past its `exp`).
    pub token_ttl_seconds: u64,
    /// Most verified JWTs remembered at once.
    pub token_capacity: u64,
    /// How long an active introspection answer is reused (never past `exp`).
    pub introspection_active_seconds: u64,
    /// How long an inactive answer is reused.
    pub introspection_inactive_seconds: u64,
    /// Most introspection answers remembered at once.
    pub introspection_capacity: u64,
    /// The JWKS is refetched in the background when older than this.
    pub jwks_refresh_seconds: u64,
    /// At most one refetch caused by unknown `kid`s per this many seconds.
    pub jwks_min_refetch_seconds: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            token_ttl_seconds: 300,
            token_capacity: 100_000,
            introspection_active_seconds: 30,
            introspection_inactive_seconds: 5,
            introspection_capacity: 100_000,
            jwks_refresh_seconds: 300,
            jwks_min_refetch_seconds: 10,
        }
    }
}

/// Where API keys are read from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeyConfig {
    /// The request header carrying the key (`X-API-Key` by default).
    pub header: String,
    /// The prefix keys must start with (`csb` by default).
    pub prefix: String,
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        ApiKeyConfig {
            header: "X-API-Key".to_owned(),
            prefix: "csb".to_owned(),
        }
    }
}

/// What a route requires. Everything unset means: any valid credential.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRules {
    /// Anonymous callers pass; a present credential is still checked, so a malformed key is a 401
    /// even there.
    #[serde(default)]
    pub public: bool,
    /// A scope the caller must hold.
    #[serde(default)]
    pub scope: Option<String>,
    /// The lowest organization role the caller must have.
    #[serde(default)]
    pub min_role: Option<Role>,
    /// Where the request names its organization: `{ param = "org" }` or `{ header = "x-org" }`.
    #[serde(default)]
    pub organization: Option<OrgSource>,
    /// Tenant mode: the token comes in `x-token` and `x-brand`/`x-venue` must match it.
    #[serde(default)]
    pub tenant: bool,
}

/// One route: `method` (`GET`, …, or `*`) and a path pattern whose segments are literals,
/// `{name}` (one segment, captured) or `*` (one segment; as the last segment, the rest).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The HTTP method, or `*` for any (the default).
    #[serde(default = "any_method")]
    pub method: String,
    /// The path pattern.
    pub path: String,
    /// See [`RouteRules::public`].
    #[serde(default)]
    pub public: bool,
    /// See [`RouteRules::scope`].
    #[serde(default)]
    pub scope: Option<String>,
    /// See [`RouteRules::min_role`].
    #[serde(default)]
    pub min_role: Option<Role>,
    /// See [`RouteRules::organization`].
    #[serde(default)]
    pub organization: Option<OrgSource>,
    /// See [`RouteRules::tenant`].
    #[serde(default)]
    pub tenant: bool,
}

impl RouteConfig {
    /// A route for `method` and `path` with `rules`.
    pub fn new(method: &str, path: &str, rules: RouteRules) -> Self {
        RouteConfig {
            method: method.to_owned(),
            path: path.to_owned(),
            public: rules.public,
            scope: rules.scope,
            min_role: rules.min_role,
            organization: rules.organization,
            tenant: rules.tenant,
        }
    }

    /// The rules of this route.
    pub fn rules(&self) -> RouteRules {
        RouteRules {
            public: self.public,
            scope: self.scope.clone(),
            min_role: self.min_role,
            organization: self.organization.clone(),
            tenant: self.tenant,
        }
    }
}

fn any_method() -> String {
    "*".to_owned()
}
fn default_leeway() -> u32 {
    60
}
fn default_http_timeout() -> u64 {
    2_000
}
fn default_revocation_poll() -> u64 {
    30
}
fn default_revocation_max_stale() -> u64 {
    120
}

/// A configuration that cannot work; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("guard configuration: {0}")]
pub struct ConfigError(pub String);

impl GuardConfig {
    /// A configuration with every default, for `issuer` in `environment`.
    pub fn new(issuer: impl Into<String>, environment: Environment) -> Self {
        GuardConfig {
            issuer: issuer.into(),
            environment,
            jwks_url: None,
            introspection: None,
            resource_metadata: None,
            resource: None,
            audiences: Vec::new(),
            leeway_seconds: default_leeway(),
            cache: CacheConfig::default(),
            api_key: ApiKeyConfig::default(),
            http_timeout_ms: default_http_timeout(),
            tenant: false,
            routes: Vec::new(),
            default_policy: None,
            revocation_feed_url: None,
            revocation_poll_seconds: default_revocation_poll(),
            revocation_max_stale_seconds: default_revocation_max_stale(),
            rate_limit: None,
            dpop: DpopConfig::default(),
        }
    }

    fn issuer_url(&self, path: &str) -> String {
        format!("{}{}", self.issuer.trim_end_matches('/'), path)
    }

    /// The JWKS URL: `jwks_url`, or the issuer's `/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> String {
        self.jwks_url
            .clone()
            .unwrap_or_else(|| self.issuer_url("/.well-known/jwks.json"))
    }

    /// The RFC 9728 metadata URL named in 401 answers: `resource_metadata`, or the issuer's
    /// `/.well-known/oauth-protected-resource`.
    pub fn resource_metadata_url(&self) -> String {
        self.resource_metadata
            .clone()
            .unwrap_or_else(|| self.issuer_url("/.well-known/oauth-protected-resource"))
    }

    /// The audiences a token may have been issued for: `audiences`, or else `resource` (the
    /// issuer by default). Never "any".
    pub fn accepted_audiences(&self) -> Vec<String> {
        if self.audiences.is_empty() {
            vec![self.resource.clone().unwrap_or_else(|| self.issuer.clone())]
        } else {
            self.audiences.clone()
        }
    }

    /// The introspection endpoint, when introspection is configured: its `url`, or the issuer's
    /// `/oauth/introspect`.
    pub fn introspection_url(&self) -> Option<String> {
        self.introspection.as_ref().map(|i| {
            i.url
                .clone()
                .unwrap_or_else(|| self.issuer_url("/oauth/introspect"))
        })
    }

    /// Checks what serde cannot: URLs, header names, prefixes, policies.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let http_url = |key: &str, v: &str| {
            if v.starts_with("http://") || v.starts_with("https://") {
                Ok(())
            } else {
                Err(ConfigError(format!(
                    "{key} must be an http(s) URL, not {v:?}"
                )))
            }
        };
        http_url("issuer", &self.issuer)?;
        http_url("jwks_url", &self.jwks_url())?;
        http_url("resource_metadata", &self.resource_metadata_url())?;
        if let Some(u) = self.introspection_url() {
            http_url("introspection.url", &u)?;
        }
        if let Some(u) = &self.revocation_feed_url {
            http_url("revocation_feed_url", u)?;
            if self.introspection.is_none() {
                return Err(ConfigError(
                    "revocation_feed_url needs [introspection] client_id and client_secret \
                     (a client with the `introspect` scope) to read the feed"
                        .into(),
                ));
            }
        }
        if self.revocation_poll_seconds == 0 {
            return Err(ConfigError("revocation_poll_seconds must be > 0".into()));
        }
        if self.revocation_max_stale_seconds <= self.revocation_poll_seconds {
            return Err(ConfigError(
                "revocation_max_stale_seconds must be greater than revocation_poll_seconds".into(),
            ));
        }
        if self.environment == Environment::Production {
            if self.revocation_feed_url.is_none() {
                return Err(ConfigError(
                    "revocation_feed_url is required in production: without it a revoked JWT \
                     is accepted until it expires"
                        .into(),
                ));
            }
            // What the guard fetches (keys, introspection answers) decides who gets in: in
            // production it travels over TLS, or stays on this machine.
            tls_or_loopback("issuer", &self.issuer)?;
            tls_or_loopback("jwks_url", &self.jwks_url())?;
            if let Some(u) = self.introspection_url() {
                tls_or_loopback("introspection.url", &u)?;
            }
            if let Some(u) = &self.revocation_feed_url {
                tls_or_loopback("revocation_feed_url", u)?;
            }
        }
        if http::HeaderName::from_bytes(self.api_key.header.as_bytes()).is_err() {
            return Err(ConfigError(format!(
                "api_key.header {:?} is not a header name",
                self.api_key.header
            )));
        }
        let p = &self.api_key.prefix;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError(
                "api_key.prefix must be letters and digits (no underscore)".into(),
            ));
        }
        if self.cache.jwks_refresh_seconds == 0 {
            return Err(ConfigError("cache.jwks_refresh_seconds must be > 0".into()));
        }
        for r in &self.routes {
            Policy::compile(&r.rules())
                .map_err(|e| ConfigError(format!("route {} {}: {e}", r.method, r.path)))?;
        }
        if let Some(d) = &self.default_policy {
            Policy::compile(d).map_err(|e| ConfigError(format!("default_policy: {e}")))?;
        }
        let d = &self.dpop;
        if let Some(u) = &d.public_base_url {
            http_url("dpop.public_base_url", u)?;
            if url::Url::parse(u).map_or(true, |p| p.query().is_some() || p.fragment().is_some()) {
                return Err(ConfigError(
                    "dpop.public_base_url must be an absolute URL without query or fragment".into(),
                ));
            }
        }
        if !matches!(d.scheme.as_str(), "https" | "http") {
            return Err(ConfigError(
                "dpop.scheme must be \"https\" or \"http\"".into(),
            ));
        }
        if d.proof_max_age_seconds == 0 || d.proof_max_age_seconds > 3_600 {
            return Err(ConfigError(
                "dpop.proof_max_age_seconds must be between 1 and 3600".into(),
            ));
        }
        if d.proof_max_skew_seconds > 300 {
            return Err(ConfigError(
                "dpop.proof_max_skew_seconds must be at most 300".into(),
            ));
        }
        if let Some(r) = &self.rate_limit {
            // The errors name their keys (`rate_limit.tiers.gold refers to unknown policy …`).
            r.validate().map_err(|e| ConfigError(e.to_string()))?;
        }
        Ok(())
    }
}

/// An `https` URL, or an `http` one whose host is a loopback IP literal (`127.0.0.0/8`,
/// `[::1]`; never the name `localhost`, which DNS or a hosts file could point elsewhere).
pub fn tls_or_loopback(key: &str, value: &str) -> Result<(), ConfigError> {
    let parsed =
        url::Url::parse(value).map_err(|e| ConfigError(format!("{key} is not a URL: {e}")))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(ConfigError(format!(
            "{key} must be an https URL in production (http only to a loopback IP address)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_client() -> Option<IntrospectionConfig> {
        Some(IntrospectionConfig {
            url: None,
            client_id: "rs".into(),
            client_secret: ClientSecret::new("s"),
        })
    }

    #[test]
    fn production_calls_its_issuer_over_tls_or_loopback_only() {
        let mut c = GuardConfig::new("http://auth.example.com", Environment::Production);
        c.introspection = feed_client();
        c.revocation_feed_url = Some("https://auth.example.com/oauth/revocations".into());
        assert!(c.validate().unwrap_err().0.contains("issuer"));
        c.issuer = "https://auth.example.com".into();
        c.validate().unwrap();
        c.revocation_feed_url = Some("http://auth.example.com/oauth/revocations".into());
        assert!(c.validate().unwrap_err().0.contains("revocation_feed_url"));
        c.revocation_feed_url = Some("http://127.0.0.1:8000/oauth/revocations".into());
        c.validate().unwrap();
        c.jwks_url = Some("http://auth.example.com/.well-known/jwks.json".into());
        assert!(c.validate().unwrap_err().0.contains("jwks_url"));
        c.jwks_url = Some("http://localhost:8000/.well-known/jwks.json".into());
        assert!(c.validate().unwrap_err().0.contains("jwks_url"));
        c.jwks_url = Some("http://127.0.0.1:8000/.well-known/jwks.json".into());
        c.validate().unwrap();
        c.jwks_url = Some("http://[::1]:8000/.well-known/jwks.json".into());
        c.validate().unwrap();
        c.introspection = Some(IntrospectionConfig {
            url: Some("http://castellan.internal/oauth/introspect".into()),
            client_id: "rs".into(),
            client_secret: ClientSecret::new("s"),
        });
        assert!(c.validate().unwrap_err().0.contains("introspection.url"));
        c.introspection = feed_client();
        c.validate().unwrap();
        // Outside production, plain http stays allowed (local development, tests).
        let local = GuardConfig::new("http://auth.example.com", Environment::Local);
        local.validate().unwrap();
    }

    #[test]
    fn a_toml_like_tree_deserialises_with_defaults() {
        let c: GuardConfig = serde_json::from_value(serde_json::json!({
            "issuer": "https://auth.example.com",
            "environment": "production",
            "introspection": {"client_id": "rs", "client_secret": "s3cret"},
            "revocation_feed_url": "https://auth.example.com/oauth/revocations",
            "routes": [
                {"method": "GET", "path": "/catalog/search", "public": true},
                {"method": "POST", "path": "/products", "scope": "products:write"},
                {"path": "/orgs/{org}/members", "min_role": "MANAGER", "organization": {"param": "org"}}
            ]
        }))
        .unwrap();
        assert_eq!(
            c.jwks_url(),
            "https://auth.example.com/.well-known/jwks.json"
        );
        assert_eq!(
            c.resource_metadata_url(),
            "https://auth.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            c.introspection_url().unwrap(),
            "https://auth.example.com/oauth/introspect"
        );
        assert_eq!(c.api_key.header, "X-API-Key");
        assert_eq!(c.api_key.prefix, "csb");
        assert_eq!(c.cache.introspection_active_seconds, 30);
        assert_eq!(c.cache.introspection_inactive_seconds, 5);
        assert_eq!(c.routes[2].min_role, Some(Role::Manager));
        c.validate().unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = GuardConfig::new("auth.example.com", Environment::Local);
        assert!(c.validate().unwrap_err().0.contains("issuer"));
        c.issuer = "http://a".into();
        c.api_key.prefix = "c_b".into();
        assert!(c.validate().unwrap_err().0.contains("prefix"));
        c.api_key.prefix = "csb".into();
        c.routes.push(RouteConfig::new(
            "GET",
            "/x",
            RouteRules {
                public: true,
                scope: Some("a:read".into()),
                ..RouteRules::default()
            },
        ));
        assert!(c.validate().unwrap_err().0.contains("/x"));
    }

    #[test]
    fn production_needs_the_revocation_feed() {
        let mut c = GuardConfig::new("https://auth.example.com", Environment::Production);
        assert!(c.validate().unwrap_err().0.contains("revocation_feed_url"));
        c.revocation_feed_url = Some("https://auth.example.com/oauth/revocations".into());
        // The feed is read with the introspection client's credentials.
        assert!(c.validate().unwrap_err().0.contains("introspection"));
        c.introspection = feed_client();
        c.validate().unwrap();
        c.revocation_max_stale_seconds = c.revocation_poll_seconds;
        assert!(c.validate().unwrap_err().0.contains("max_stale"));
        // Elsewhere it stays optional.
        GuardConfig::new("http://a", Environment::Testing)
            .validate()
            .unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<GuardConfig, _> = serde_json::from_value(serde_json::json!({
            "issuer": "http://a", "environment": "local",
            "routes": [{"path": "/x", "scopes": "a:read"}]
        }));
        assert!(r.is_err());
    }
}
