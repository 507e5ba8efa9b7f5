//! Clients identified by a client ID metadata document
//! (draft-ietf-oauth-client-id-metadata-document): a `client_id` that is an https URL
//! ([`castellan_core::metadata_document::document_url`]) is resolved by fetching the document
//! at it with the SSRF-safe [`crate::platform::fetch::Fetcher`] (`[client_metadata]`: size,
//! time, no redirect), under the operator's host policy, and checking it
//! ([`castellan_core::metadata_document::check_document`]). The client is kept in storage
//! under its URL (so consents, codes and refresh tokens refer to it like to any client, and the
//! connected-apps page and revocation work unchanged) and in a cache for the document's
//! `Cache-Control` lifetime within the configured bounds: a cached document costs no fetch.

pub mod config;

use crate::platform::config::ADMIN_SCOPE_NAMES;
use crate::platform::fetch::FetchError;
use crate::platform::state::AppState;
use castellan_core::client::{Client, TokenFormat};
use castellan_core::metadata_document::{check_document, document_url, DocumentRefusal};
use castellan_core::outbound::host_allowed;
use castellan_core::registration::MetadataRules;
use castellan_store::StoreError;
use moka::sync::Cache;
use moka::Expiry;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Why a metadata-document client could not be had. Shown on the authorize error page as is:
/// each names the rule, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The deployment does not resolve metadata documents.
    #[error("this server does not accept client ID metadata documents")]
    Disabled,
    /// The host is not trusted by the operator's policy.
    #[error("this server does not trust client metadata documents from {0}")]
    HostNotAllowed(String),
    /// The fetch failed.
    #[error("the client's metadata document could not be fetched: {0}")]
    Fetch(FetchError),
    /// The document broke a rule.
    #[error(transparent)]
    Refused(DocumentRefusal),
    /// Storage failed.
    #[error("storage failed")]
    Store(#[from] StoreError),
}

#[derive(Clone)]
struct Entry {
    client: Arc<Client>,
    ttl: Duration,
}

struct ByTtl;

impl Expiry<String, Entry> for ByTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Resolved metadata-document clients, by URL; cheap to clone.
#[derive(Clone)]
pub struct DocumentClients {
    cache: Cache<String, Entry>,
}

impl DocumentClients {
    /// A cache of at most `capacity` clients.
    pub fn new(capacity: u64) -> Self {
        DocumentClients {
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(ByTtl)
                .build(),
        }
    }
}

/// The URL `client_id` names, when it is a metadata document's (and not a stored client's).
pub fn url_of(state: &AppState, client_id: &str) -> Option<Url> {
    document_url(client_id, state.config.environment)
}

/// The client the document at `url` describes: from the cache, or fetched, checked and stored.
pub async fn resolve(state: &AppState, url: &Url) -> Result<Arc<Client>, DocumentError> {
    let settings = &state.config.client_metadata;
    if !settings.enabled {
        return Err(DocumentError::Disabled);
    }
    let host = url.host_str().unwrap_or_default();
    let allow = settings.allowed_hosts(state.config.environment);
    if !host_allowed(host, &allow, &settings.deny_hosts) {
        return Err(DocumentError::HostNotAllowed(host.to_owned()));
    }
    if let Some(hit) = state.document_clients.cache.get(url.as_str()) {
        return Ok(hit.client);
    }
    let fetched = state
        .fetcher
        .get_json(url, settings.document_limits())
        .await
        .map_err(DocumentError::Fetch)?;
    let open = crate::oauth::registration::open_scopes(state);
    let rules = MetadataRules {
        environment: state.config.environment,
        open_scopes: &open,
        admin_scope_names: &ADMIN_SCOPE_NAMES,
    };
    let meta = check_document(&fetched.json, url, &rules).map_err(DocumentError::Refused)?;
    let now = state.clock.now();
    let existing = state.store.get_client(url.as_str()).await?;
    let kind = meta.kind();
    let client = Client {
        id: url.as_str().to_owned(),
        name: meta.client_name.clone().unwrap_or_else(|| host.to_owned()),
        kind,
        secret_hash: None,
        previous_secret: None,
        scope: meta.scope.unwrap_or(open),
        default_scope: None,
        grant_types: meta.grant_types,
        redirect_uris: meta.redirect_uris,
        auth_method: meta.auth_method,
        token_format: TokenFormat::Jwt,
        public_client_credentials: false,
        access_token_validity_seconds: None,
        refresh_token_validity_seconds: None,
        created_at: existing.as_ref().map_or(now, |c| c.created_at),
        last_used_at: existing.as_ref().and_then(|c| c.last_used_at),
        delete_at: None,
        registration: None,
        metadata: meta.extra,
        tier: None,
        tenants: Vec::new(),
    };
    if existing.is_none() {
        // A concurrent resolution may have stored it first: then update.
        if state.store.insert_client(&client).await.is_err() {
            state.store.update_client(&client).await?;
        }
    } else if existing.as_ref() != Some(&client) {
        state.store.update_client(&client).await?;
    }
    state.clients.invalidate(&client.id);
    let client = Arc::new(client);
    state.document_clients.cache.insert(
        url.as_str().to_owned(),
        Entry {
            client: Arc::clone(&client),
            ttl: fetched.cache_for,
        },
    );
    Ok(client)
}
