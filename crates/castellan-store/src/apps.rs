//! An organization's OAuth apps: clients registered on the OAuth apps page belong to the
//! organization they were registered in (a client belongs to at most one), so its members see
//! them and its OWNERs and MANAGERs manage them.

use crate::StoreResult;
use async_trait::async_trait;
use castellan_core::client::Client;

/// Clients that belong to organizations.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// Stores `client` as an app of `organization_id` registered by `created_by`, in one
    /// transaction. `Conflict` when the client id is taken or the organization does not
    /// exist (the message says which).
    async fn insert_organization_client(
        &self,
        client: &Client,
        organization_id: &str,
        created_by: &str,
    ) -> StoreResult<()>;
    /// The organization's apps, newest first.
    async fn organization_clients(&self, organization_id: &str) -> StoreResult<Vec<Client>>;
    /// The organization the client belongs to, if any.
    async fn organization_of_client(&self, client_id: &str) -> StoreResult<Option<String>>;
}
