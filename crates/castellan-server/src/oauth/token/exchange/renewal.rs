//! Refreshing a token exchange's grant: the refresh token (it carries `act`) renews a
//! delegation, so at each use the delegation must still stand as it does at an exchange: the
//! client is still given token exchange, a delegation rule still lets it act for the people of
//! the client whose token was exchanged (still active), and the renewed scope is cut to that
//! rule's scopes and the client's registered ones, which must still hold `offline_access`.

use crate::error::OAuthFailure;
use crate::oauth::token::grant_tokens::OFFLINE_ACCESS;
use crate::platform::state::AppState;
use castellan_core::client::{Client, GrantType};
use castellan_core::exchange::{permission, Permission, Subject};
use castellan_core::scope::allowed_by;
use castellan_core::{OAuthError, ScopeSet};
use castellan_store::people::Delegation;

/// `family_scope` cut to what `delegation` still gives `client`;
/// `invalid_grant` when it gives nothing any more.
pub(crate) async fn delegated_scope(
    state: &AppState,
    client: &Client,
    delegation: &Delegation,
    family_scope: ScopeSet,
) -> Result<ScopeSet, OAuthFailure> {
    let ended = |why: &'static str| OAuthFailure::from(OAuthError::invalid_grant(why));
    if !client.allows_grant(GrantType::TokenExchange) {
        return Err(ended("the client is no longer given token exchange"));
    }
    let allowed = permission(
        &client.id,
        None,
        &Subject {
            client_id: &delegation.from_client,
            audiences: &[],
            may_act: None,
            person: true,
        },
        &state.config.token_exchange.rules(),
    );
    let Ok(Permission::Delegated(cap, _)) = allowed else {
        return Err(ended(
            "no delegation rule lets this client act for this grant any more",
        ));
    };
    match state
        .clients
        .get(state.store.as_ref(), &delegation.from_client)
        .await?
    {
        Some(c) if c.is_active(state.clock.now()) => {}
        _ => return Err(ended("the client whose token was exchanged is gone")),
    }
    let kept: ScopeSet = family_scope
        .iter()
        .filter(|s| cap.contains(s) && allowed_by(&client.scope, s))
        .cloned()
        .collect();
    if !kept.contains_str(OFFLINE_ACCESS) {
        return Err(ended(
            "the delegation rule or the client no longer gives offline_access",
        ));
    }
    Ok(kept)
}
