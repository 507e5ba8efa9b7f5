//! Connected apps: the clients a user consented to, and revoking one. Revoking
//! deletes the consent and ends every token family issued under it, so its refresh tokens are
//! dead and its access tokens introspect inactive. Used by the JSON API
//! (`/account/connected-apps`, bearer token of the user) and by the account pages.

use crate::audit::{self, Caller, Kind};
use crate::platform::state::AppState;
use castellan_store::StoreResult;
use serde::Serialize;

/// One connected app as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectedApp {
    /// The consent id (what `DELETE /account/connected-apps/{id}` takes).
    pub id: String,
    /// The client's id.
    pub client_id: String,
    /// The client's name, or its id when the client is gone.
    pub client_name: String,
    /// The organization the consent is bound to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// That organization's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    /// Space-separated scopes consented to.
    pub scope: String,
    /// RFC 3339.
    pub created_at: String,
    /// When the consent last changed (RFC 3339).
    pub updated_at: String,
}

/// The user's connected apps, newest first.
pub async fn list_connected_apps(
    state: &AppState,
    user_id: &str,
) -> StoreResult<Vec<ConnectedApp>> {
    let mut out = Vec::new();
    for c in state.store.consents_of_user(user_id).await? {
        let client_name = state
            .clients
            .get(state.store.as_ref(), &c.client_id)
            .await?
            .map_or_else(|| c.client_id.clone(), |cl| cl.name.clone());
        let organization_name = match &c.organization_id {
            Some(id) => state.store.get_organization(id).await?.map(|o| o.name),
            None => None,
        };
        out.push(ConnectedApp {
            id: c.id,
            client_id: c.client_id,
            client_name,
            organization_id: c.organization_id,
            organization_name,
            scope: c.scope,
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
        });
    }
    Ok(out)
}

/// Revokes one of the user's connected apps; `false` when the user has no such consent.
pub async fn revoke_connected_app(
    state: &AppState,
    user_id: &str,
    consent_id: &str,
    by: &Caller,
) -> StoreResult<bool> {
    let consent = state.store.get_consent(consent_id).await?;
    let revoked = state
        .store
        .revoke_consent(user_id, consent_id, state.clock.now())
        .await?;
    if revoked {
        state.token_checks.revoked_here();
        tracing::info!(user_id, consent_id, "connected app revoked");
        let (organization, client) = consent
            .map(|c| (c.organization_id, c.client_id))
            .unwrap_or_default();
        audit::record(
            state,
            by.did(Kind::ConsentRevoked)
                .organization(organization.as_deref())
                .target(consent_id)
                .detail(format!("client {client}")),
        )
        .await;
    }
    Ok(revoked)
}
