//! The `[client_metadata]` section: how documents named by clients are fetched (client ID
//! metadata documents and `jwks_uri` key sets) and cached.

use crate::platform::fetch::FetchLimits;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The `[client_metadata]` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClientMetadataConfig {
    /// Whether a `client_id` that is an https URL is resolved as a client ID metadata document.
    pub enabled: bool,
    /// Hosts whose metadata documents are trusted (`*`, `*.example.com`, `app.example.com`).
    /// Unset: any host outside `production`; none in `production` (list them to allow).
    pub allow_hosts: Option<Vec<String>>,
    /// Hosts never trusted, whatever `allow_hosts` says.
    pub deny_hosts: Vec<String>,
    /// Largest client ID metadata document accepted (bytes).
    pub max_bytes: usize,
    /// Largest key set fetched from a client's `jwks_uri` (bytes).
    pub jwks_max_bytes: usize,
    /// Longest a fetch may take, from resolution to the last byte (milliseconds).
    pub timeout_ms: u64,
    /// Shortest time a fetched document is cached, whatever its `Cache-Control` says
    /// (seconds; also the lifetime of an answer without `max-age`, or with `no-store`).
    pub cache_min_seconds: u32,
    /// Longest time a fetched document is cached (seconds).
    pub cache_max_seconds: u32,
    /// Most documents (and key sets) held in the cache, each.
    pub cache_capacity: u64,
}

impl Default for ClientMetadataConfig {
    fn default() -> Self {
        ClientMetadataConfig {
            enabled: true,
            allow_hosts: None,
            deny_hosts: Vec::new(),
            max_bytes: 5 * 1024,
            jwks_max_bytes: 64 * 1024,
            timeout_ms: 3000,
            cache_min_seconds: 60,
            cache_max_seconds: 86_400,
            cache_capacity: 10_000,
        }
    }
}

impl ClientMetadataConfig {
    /// The allowed host patterns in force in `env`.
    pub fn allowed_hosts(&self, env: castellan_core::Environment) -> Vec<String> {
        match (&self.allow_hosts, env) {
            (Some(list), _) => list.clone(),
            (None, castellan_core::Environment::Production) => Vec::new(),
            (None, _) => vec!["*".to_owned()],
        }
    }

    /// The limits of a metadata document's fetch.
    pub fn document_limits(&self) -> FetchLimits {
        self.limits(self.max_bytes)
    }

    /// The limits of a `jwks_uri` fetch.
    pub fn jwks_limits(&self) -> FetchLimits {
        self.limits(self.jwks_max_bytes)
    }

    fn limits(&self, max_bytes: usize) -> FetchLimits {
        FetchLimits {
            max_bytes,
            timeout: Duration::from_millis(self.timeout_ms),
            cache_min_seconds: self.cache_min_seconds,
            cache_max_seconds: self.cache_max_seconds,
        }
    }

    /// Checks the section, naming the key at fault.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if self.max_bytes == 0 || self.max_bytes > 1024 * 1024 {
            return Err(("client_metadata.max_bytes", "must be 1‥1048576"));
        }
        if self.jwks_max_bytes == 0 || self.jwks_max_bytes > 1024 * 1024 {
            return Err(("client_metadata.jwks_max_bytes", "must be 1‥1048576"));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 {
            return Err(("client_metadata.timeout_ms", "must be 1‥60000"));
        }
        if self.cache_min_seconds > self.cache_max_seconds {
            return Err((
                "client_metadata.cache_min_seconds",
                "must not exceed cache_max_seconds",
            ));
        }
        Ok(())
    }
}
