//! The `[api_keys]` and `[gateway]` configuration: the API-key prefix and lookup
//! cache, the forward-auth route policies, the RFC 9728 protected-resource metadata and the
//! tenant tokens of `POST /auth`. Part of [`crate::platform::config::Config`], validated with it.

use crate::platform::config::ConfigError;
use castellan_guard::config::RouteRules;
use castellan_guard::routes::RouteTable;
use castellan_guard::{OrgSource, Role, RouteConfig};
use serde::{Deserialize, Serialize};

/// The `[api_keys]` section: the key prefix and the lookup cache.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeysConfig {
    /// The first part of every key (`csb` gives `csb_<body>_<crc32>`): 2–16 lowercase letters
    /// or digits. Changing it makes every existing key malformed.
    pub prefix: String,
    /// How long a looked-up key is cached (seconds). This bounds how long a disabled or
    /// revoked key is still accepted by another replica; 0 turns the cache off.
    pub cache_seconds: u32,
    /// Most keys held in the cache.
    pub cache_capacity: u64,
    /// Rate-limit tier of keys created without one.
    pub default_tier: String,
}

impl Default for ApiKeysConfig {
    fn default() -> Self {
        ApiKeysConfig {
            prefix: castellan_core::api_key::DEFAULT_PREFIX.to_owned(),
            cache_seconds: 10,
            cache_capacity: 10_000,
            default_tier: "default".to_owned(),
        }
    }
}

/// One forward-auth route policy; the first route matching method and path wins.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewayRoute {
    /// `GET`, `POST`, … or `*` (any method).
    #[serde(default = "any_method")]
    pub method: String,
    /// Segments are literals, `{name}` (one segment) or `*` (one segment; last: the rest).
    pub path: String,
    /// Anonymous callers pass; a present credential is still checked.
    #[serde(default)]
    pub public: bool,
    /// The scope the route asks of the caller, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `VIEWER`, `MANAGER` or `OWNER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_role: Option<Role>,
    /// The request names its organization in this header; it must be the credential's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_header: Option<String>,
    /// The request names its organization in this `{param}` of `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_param: Option<String>,
    /// Requires `x-brand`/`x-venue` (and `x-stage` if sent) to match the tenant token.
    #[serde(default)]
    pub tenant: bool,
}

fn any_method() -> String {
    "*".to_owned()
}

/// The `[gateway]` section: forward-auth routes, protected-resource metadata and tenant tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// A separate address for the gateway check: when set, `/forward-auth` is served on this
    /// listener only (404 on `listen`), so it can be kept off the public port; unset, it is
    /// served on `listen` with everything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<std::net::SocketAddr>,
    /// The protected resource's identifier (RFC 9728 `resource`) and the audience of tenant
    /// tokens; empty: the default audience (`token.default_audience`, itself the issuer when
    /// unset). Forward-auth accepts access tokens whose `aud` is this or one of `audiences`.
    pub resource: String,
    /// Further audiences forward-auth accepts: the resource indicators (RFC 8707) of the APIs
    /// behind this gateway. Tokens for any other audience are refused (401 `wrong_audience`).
    pub audiences: Vec<String>,
    /// Scopes listed in the protected-resource metadata; empty: the `[[scopes]]` catalogue.
    pub scopes_supported: Vec<String>,
    /// Envoy ext_authz (HTTP service) sends the original request's method and path under
    /// this prefix (its `path_prefix`), e.g. `/forward-auth/envoy/products/1`.
    pub envoy_path_prefix: String,
    /// Lifetime of tenant tokens from `POST /auth` (one hour by default).
    pub tenant_token_seconds: u32,
    /// How long forward-auth trusts a person's membership of the organization their token is
    /// bound to (seconds, at most 300; 0: read it for every request). A person removed from
    /// the organization elsewhere than on this replica is refused within this bound.
    pub membership_cache_seconds: u32,
    /// The URL callers reach the APIs behind the proxy at (`https://api.example.com`): a DPoP
    /// proof's `htu` must be this followed by the original path. Unset: the proxy's
    /// `X-Forwarded-Proto` (default `https`) + `://` + its `X-Forwarded-Host` (else the `Host`
    /// header) + the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_base_url: Option<String>,
    /// Route policies, first match wins. A request matching none is refused (403).
    pub routes: Vec<GatewayRoute>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: None,
            resource: String::new(),
            audiences: Vec::new(),
            scopes_supported: Vec::new(),
            envoy_path_prefix: "/forward-auth/envoy".to_owned(),
            tenant_token_seconds: 3600,
            membership_cache_seconds: 30,
            public_base_url: None,
            routes: Vec::new(),
        }
    }
}

impl GatewayConfig {
    /// Compiles the routes; anything unmatched is refused (deny by default).
    pub fn route_table(&self) -> Result<RouteTable, ConfigError> {
        let routes: Vec<RouteConfig> = self
            .routes
            .iter()
            .map(|r| {
                let organization = match (&r.organization_header, &r.organization_param) {
                    (Some(_), Some(_)) => {
                        return Err(ConfigError(format!(
                            "gateway.routes {} {}: organization_header and organization_param \
                             are exclusive",
                            r.method, r.path
                        )))
                    }
                    (Some(h), None) => Some(OrgSource::Header(h.to_ascii_lowercase())),
                    (None, Some(p)) => Some(OrgSource::Param(p.clone())),
                    (None, None) => None,
                };
                Ok(RouteConfig::new(
                    &r.method,
                    &r.path,
                    RouteRules {
                        public: r.public,
                        scope: r.scope.clone(),
                        min_role: r.min_role,
                        organization,
                        tenant: r.tenant,
                    },
                ))
            })
            .collect::<Result<_, _>>()?;
        RouteTable::new(&routes, None).map_err(|e| ConfigError(format!("gateway.routes: {e}")))
    }
}

/// Validates both sections.
pub fn validate(api_keys: &ApiKeysConfig, gateway: &GatewayConfig) -> Result<(), ConfigError> {
    if !castellan_core::api_key::is_valid_prefix(&api_keys.prefix) {
        return Err(ConfigError(
            "api_keys.prefix must be 2 to 16 lowercase letters or digits".into(),
        ));
    }
    if api_keys.cache_seconds > 3600 {
        return Err(ConfigError(
            "api_keys.cache_seconds must be at most 3600".into(),
        ));
    }
    if !gateway.envoy_path_prefix.starts_with('/') || gateway.envoy_path_prefix.ends_with('/') {
        return Err(ConfigError(
            "gateway.envoy_path_prefix must start with `/` and not end with one".into(),
        ));
    }
    if gateway.tenant_token_seconds == 0 || gateway.tenant_token_seconds > 86_400 {
        return Err(ConfigError(
            "gateway.tenant_token_seconds must be between 1 and 86400".into(),
        ));
    }
    if gateway.membership_cache_seconds > 300 {
        return Err(ConfigError(
            "gateway.membership_cache_seconds must be at most 300".into(),
        ));
    }
    gateway.route_table().map(|_| ())
}
