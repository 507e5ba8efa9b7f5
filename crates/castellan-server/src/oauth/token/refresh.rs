//! The refresh-token grant (RFC 6749 §6, RFC 9700 §4.14.2): every use rotates the
//! token (the answer carries a new one, the old one is dead); presenting a rotated-out token
//! again revokes its whole family, the newest token and the family's access tokens with it.
//! The scope may be narrowed for the new access token, never widened (`invalid_scope`); the
//! new refresh token keeps the family's scope (RFC 6749 §6), less any administrative scope
//! when the person has no admin flag. The person must still exist and belong to the
//! grant's organization, checked before the token rotates. A refresh token from a token
//! exchange renews the delegation only while it stands ([`delegated_scope`]), and never
//! answers an ID token.

use crate::audit::{self, Caller, Kind};
use crate::error::OAuthFailure;
use crate::oauth::token::exchange::renewal::delegated_scope;
use crate::oauth::token::grant_tokens::{
    answer_user_grant, grant_user, mint_refresh_token, RefreshSeed, UserGrant, MAX_PRESENTED_LEN,
};
use crate::oauth::token::request::RefreshRequest;
use crate::oauth::token::IssuedTokens;
use crate::platform::state::AppState;
use castellan_core::client::Client;
use castellan_core::grant::for_person;
use castellan_core::{OAuthError, ScopeSet};
use castellan_crypto::refresh_token_key;
use castellan_store::people::RefreshUse;
use chrono::{DateTime, Utc};
use std::net::IpAddr;

fn invalid_grant(d: &'static str) -> OAuthFailure {
    OAuthError::invalid_grant(d).into()
}

/// Rotates the refresh token of `asked` and issues `client` the grant's new tokens.
pub async fn refresh_tokens(
    state: &AppState,
    client: &Client,
    asked: &RefreshRequest,
    jkt: Option<&str>,
    now: DateTime<Utc>,
    ip: IpAddr,
) -> Result<IssuedTokens, OAuthFailure> {
    let presented = asked.refresh_token.expose();
    if presented.is_empty() || presented.len() > MAX_PRESENTED_LEN {
        return Err(invalid_grant("the refresh token is unknown"));
    }
    let hash = refresh_token_key(presented);
    let Some(current) = state.store.find_refresh_token(&hash).await? else {
        return Err(invalid_grant("the refresh token is unknown"));
    };
    if current.client_id != client.id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    // RFC 9449 §5: a refresh token bound to a key is used only with a proof of that key; the
    // token stays unused when it is not.
    if let Some(bound) = current.dpop_jkt.as_deref() {
        match jkt {
            Some(proved) if proved == bound => {}
            Some(_) => {
                tracing::warn!(
                    client_id = %client.id,
                    "a DPoP-bound refresh token was presented with a proof of another key"
                );
                return Err(invalid_grant(
                    "the DPoP proof is not made with the key the refresh token is bound to",
                ));
            }
            None => {
                tracing::warn!(
                    client_id = %client.id,
                    "a DPoP-bound refresh token was presented without a proof"
                );
                return Err(invalid_grant(
                    "the refresh token is bound to a DPoP key: send a DPoP proof made with it",
                ));
            }
        }
    }
    let organization = current.organization_id.as_deref();
    let user = grant_user(state, &current.user_id, organization).await?;
    // A person without the admin flag never holds an administrative scope, even
    // from a grant stored before the rule or before the flag was cleared.
    let family_scope = for_person(
        &user,
        &ScopeSet::parse(&current.scope).map_err(|_| {
            OAuthFailure::from(OAuthError::server_error("the stored scope is unreadable"))
        })?,
    );
    // A token exchange's grant renews a delegation only while the delegation stands.
    let family_scope = match &current.delegation {
        Some(d) => delegated_scope(state, client, d, family_scope).await?,
        None => family_scope,
    };
    let family_text = family_scope.to_string();
    let scope = match asked.scope.clone() {
        Some(req) if !req.is_empty() => {
            if !req.is_subset_of(&family_scope) {
                return Err(OAuthError::invalid_scope(
                    "a refresh may narrow the scope, never widen it",
                )
                .into());
            }
            req
        }
        _ => family_scope,
    };
    // The family keeps every resource it was granted; this token may be for fewer, and the
    // next refresh may ask for all of them again (RFC 8707 §2.2).
    let granted = crate::oauth::resources::granted(state, current.audience.as_ref());
    let audience = crate::oauth::resources::narrowed(&granted, &asked.resources)?;
    let (secret, next) = mint_refresh_token(
        state,
        client,
        &RefreshSeed {
            family_id: &current.family_id,
            consent_id: &current.consent_id,
            user_id: &current.user_id,
            organization_id: current.organization_id.as_deref(),
            scope: &family_text,
            auth_time: current.auth_time,
            amr: current.amr,
            sid: current.session_id.as_deref(),
            audience: &granted,
            dpop_jkt: current.dpop_jkt.as_deref(),
            delegation: current.delegation.as_ref(),
        },
        now,
    );
    match state.store.use_refresh_token(&hash, &next, now).await? {
        RefreshUse::Rotated(_) => {}
        RefreshUse::Reused(_) => {
            // Storage revoked the family while answering.
            state.token_checks.revoked_here();
            tracing::warn!(
                client_id = %client.id,
                "a rotated-out refresh token was presented again; its family is revoked"
            );
            audit::record(
                state,
                Caller::of_token(None, &client.id, Some(ip))
                    .did(Kind::RefreshReuseDetected)
                    .organization(current.organization_id.as_deref())
                    .target(&current.family_id)
                    .detail(format!(
                        "every token of the grant of person {} is revoked",
                        current.user_id
                    )),
            )
            .await;
            return Err(invalid_grant(
                "the refresh token was already used; every token of its grant is revoked",
            ));
        }
        RefreshUse::Dead => {
            return Err(invalid_grant(
                "the refresh token has expired or was revoked",
            ))
        }
        RefreshUse::Unknown => return Err(invalid_grant("the refresh token is unknown")),
    }
    answer_user_grant(
        state,
        &UserGrant {
            client,
            user: &user,
            organization,
            scope: &scope,
            audience: &audience,
            family_id: &current.family_id,
            auth_time: current.auth_time,
            amr: current.amr,
            sid: current.session_id.as_deref(),
            nonce: None,
            jkt,
            act: current.delegation.as_ref().map(|d| &d.act),
            id_token: state.config.token.id_token_on_refresh,
        },
        Some(secret),
        now,
    )
    .await
}
