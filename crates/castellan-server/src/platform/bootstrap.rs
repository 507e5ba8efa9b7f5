//! The bootstrap admin client: created once, on the first start of an empty
//! deployment, with the administrative scopes; its secret is returned to be printed once.

use crate::management::clients::{build_client, ClientDraft};
use crate::platform::config::Config;
use castellan_core::Secret;
use castellan_store::{Store, StoreError};
use chrono::{DateTime, Utc};

/// Scopes of the bootstrap admin client.
pub const ADMIN_SCOPE: &str = "manage_api_clients view_api_clients manage_api_keys view_api_keys \
    register_clients introspect manage_organizations view_audit_log";

/// Why the bootstrap admin client could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The client's settings are invalid.
    #[error("bootstrap client: {0}")]
    Invalid(#[from] castellan_core::client::FieldError),
}

/// Creates the bootstrap admin client unless one was created before. Answers its id and
/// secret the one time it is created.
pub async fn ensure_bootstrap_client(
    store: &dyn Store,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Option<(String, Secret)>, BootstrapError> {
    let (client, secret) = admin_client("bootstrap-admin", config, now)?;
    if store.claim_bootstrap_client(&client).await? {
        Ok(secret.map(|s| (client.id, s)))
    } else {
        Ok(None)
    }
}

/// A new confidential client with the administrative scopes.
pub fn admin_client(
    name: &str,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<(castellan_core::client::Client, Option<Secret>), castellan_core::client::FieldError> {
    build_client(
        ClientDraft {
            name: name.to_owned(),
            scope: ADMIN_SCOPE.to_owned(),
            ..ClientDraft::default()
        },
        config,
        now,
    )
}
