//! The one state object every handler receives.

use crate::oauth::client_cache::ClientCache;
use crate::oauth::token_cache::TokenCheckCache;
use crate::platform::config::Config;
use crate::platform::http::proxies::ClientIpSource;
use crate::platform::keys::KeyManager;
use crate::platform::limits::RateLimiting;
use crate::platform::usage::UsageRecorder;
use castellan_crypto::{Algorithm, Clock};
use castellan_store::Store;
use std::sync::Arc;

/// The shared state every handler receives; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The state itself.
    pub inner: Arc<Inner>,
}

/// What [`AppState`] holds.
pub struct Inner {
    /// The validated configuration.
    pub config: Config,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// The signing keys.
    pub keys: KeyManager,
    /// The cache of clients read from storage.
    pub clients: ClientCache,
    /// Verified JWTs and revocation statuses of presented access tokens.
    pub token_checks: TokenCheckCache,
    /// Records the last day each client and API key was used.
    pub usage: UsageRecorder,
    /// The clock every rule reads the time from.
    pub clock: Arc<dyn Clock>,
    /// Algorithm of access tokens (from `token.access_token_algorithm`).
    pub access_alg: Algorithm,
    /// The Prometheus recorder, when metrics are on.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The validated `[rate_limit]` tree and the limiter (in-process or Redis).
    pub rate_limiting: RateLimiting,
    /// How a request's client address is found (trusted proxies).
    pub client_ip: ClientIpSource,
    /// The API-key lookup cache and last-use recorder.
    pub api_keys: crate::gateway::key_cache::ApiKeys,
    /// People's roles as forward-auth re-checks them (`gateway.membership_cache_seconds`).
    pub memberships: crate::gateway::memberships::Memberships,
    /// The compiled `[[gateway.routes]]` of `/forward-auth`.
    pub gateway_routes: castellan_guard::routes::RouteTable,
    /// The operator's `/.well-known/` documents, read at start-up.
    pub well_known: Arc<[crate::platform::well_known::Document]>,
    /// The first token answer's headers, copied by later ones
    /// (`oauth::http::token_answer`).
    pub token_answer_headers: crate::error::rate_limit::KeptHeaders,
    /// Fetches documents clients name (`jwks_uri`, metadata documents), SSRF-safe.
    pub fetcher: crate::platform::fetch::Fetcher,
    /// Key sets fetched from clients' `jwks_uri`s.
    pub client_keys: crate::oauth::client_keys::ClientKeys,
    /// Clients resolved from client ID metadata documents, by URL.
    pub document_clients: crate::oauth::metadata_document::DocumentClients,
    /// When each device last polled the token endpoint, and its interval (RFC 8628 §3.5).
    pub device_polls: crate::oauth::device_polls::Polls,
    /// Outgoing mail (`[mail]`).
    pub mailer: crate::platform::mail::Mailer,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl crate::audit::Journal for AppState {
    fn audit_store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn audit_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}
