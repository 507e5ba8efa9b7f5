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

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub keys: KeyManager,
    pub clients: ClientCache,
    /// Verified JWTs and revocation statuses of presented access tokens.
    pub token_checks: TokenCheckCache,
    pub usage: UsageRecorder,
    pub clock: Arc<dyn Clock>,
    /// Algorithm of access tokens (from `token.access_token_algorithm`).
    pub access_alg: Algorithm,
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
    /// The first token answer's headers, copied by later ones
    /// (`oauth::http::token_answer`).
    pub token_answer_headers: crate::error::rate_limit::KeptHeaders,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}
