//! The grant an exchanged token belongs to, and its refresh token where configured.
//!
//! An exchanged person's token joins the subject token's grant (`gid`): revoking that grant
//! ends it too, and it never outlives the subject token. Where `[token_exchange]
//! refresh_tokens` is set, an exchange under a delegation rule whose scope holds
//! `offline_access`, by a client allowed the refresh_token grant, of a person's access token
//! that no one acts in yet (the first link of a chain: each refresh checks that one rule
//! again; later links join their subject's family and end with it; an ID token names a grant
//! whose scope is not stored, so it gives none), starts a family of its own delegated from
//! the subject's grant (under the same consent, revoked whenever that grant is, however deep)
//! and answers a refresh token in it. The refresh token is the
//! client's, rotates like any other, is bound to the request's DPoP key when there is one
//! (whatever the client's kind: the exchanged token was), and renews the exchanged token as
//! it was: the same person, organization, audience and `act`, within the delegation rule as
//! it stands at each refresh.

use super::subject::Held;
use crate::error::OAuthFailure;
use crate::oauth::token::grant_tokens::{mint_refresh_token, wants_refresh, RefreshSeed};
use crate::oauth::token::password::new_grant_id;
use crate::platform::state::AppState;
use castellan_core::client::Client;
use castellan_core::exchange::Permission;
use castellan_core::resource::Audience;
use castellan_core::{OAuthError, ScopeSet, Secret};
use castellan_store::people::Delegation;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The family of the exchanged token, and the consent of its refresh token when it gets one.
pub(super) struct Family {
    /// The `gid` of the exchanged token (`None`: not a person's token).
    pub gid: Option<String>,
    /// The consent of a delegated family of its own, whose refresh token is issued.
    refresh_under: Option<String>,
}

/// Decides the family of an exchange of `subject` for `client` with `scope`, starting a
/// delegated one where a refresh token is issued (see the module's text).
pub(super) async fn family(
    state: &AppState,
    client: &Client,
    subject: &Held,
    allowed: &Permission,
    scope: &ScopeSet,
    now: DateTime<Utc>,
) -> Result<Family, OAuthFailure> {
    let parent = match &subject.gid {
        Some(gid)
            if state.config.token_exchange.refresh_tokens
                && matches!(allowed, Permission::Delegated(..))
                && subject.act.is_none()
                && !subject.id_token
                && wants_refresh(client, scope) =>
        {
            gid
        }
        _ => {
            return Ok(Family {
                gid: subject.gid.clone(),
                refresh_under: None,
            })
        }
    };
    let revoked = || {
        OAuthFailure::from(OAuthError::invalid_grant(
            "the subject token's grant was revoked",
        ))
    };
    let consent = state
        .store
        .consent_of_live_family(parent)
        .await?
        .ok_or_else(revoked)?;
    let gid = new_grant_id();
    if !state.store.insert_child_family(&gid, parent, now).await? {
        return Err(revoked());
    }
    Ok(Family {
        gid: Some(gid),
        refresh_under: Some(consent),
    })
}

/// What the exchanged token's refresh token renews.
pub(super) struct Renewed<'a> {
    pub subject: &'a Held,
    pub scope: &'a ScopeSet,
    pub audience: &'a Audience,
    pub act: Option<&'a Value>,
    pub jkt: Option<&'a str>,
}

/// Stores the refresh token of `family` when it gets one: the secret, shown once.
pub(super) async fn refresh_token(
    state: &AppState,
    client: &Client,
    family: &Family,
    renewed: &Renewed<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Secret>, OAuthFailure> {
    let (Some(consent), Some(gid), Some(act)) = (&family.refresh_under, &family.gid, renewed.act)
    else {
        return Ok(None);
    };
    let delegation = Delegation {
        act: act.clone(),
        from_client: renewed.subject.client_id.clone(),
    };
    let scope = renewed.scope.to_string();
    let (secret, stored) = mint_refresh_token(
        state,
        client,
        &RefreshSeed {
            family_id: gid,
            consent_id: consent,
            user_id: &renewed.subject.sub,
            organization_id: renewed.subject.org.as_deref(),
            scope: &scope,
            auth_time: renewed.subject.signed_in_by,
            // Tokens of an exchange are a client's acting for the person, not a sign-in.
            amr: castellan_core::authn::Amr::NONE,
            sid: None,
            audience: renewed.audience,
            dpop_jkt: renewed.jkt,
            delegation: Some(&delegation),
        },
        now,
    );
    state.store.insert_refresh_token(&stored).await?;
    Ok(Some(secret))
}
