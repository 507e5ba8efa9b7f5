//! The device code grant (RFC 8628 §3.4–§3.5): a device polls with its device code. Until
//! the person decides: `authorization_pending` (or `slow_down`, the interval 5 s longer, when
//! it polls sooner than its interval); after a denial `access_denied`; past its life
//! `expired_token`; once approved, the person's tokens, once (the redemption is atomic: a
//! second poll is `invalid_grant`). While the person has not decided, a poll is a cache
//! lookup ([`crate::oauth::device_polls::Polls`]) after the first; nothing is written until
//! the approval is redeemed. The tokens are the person's, as after the code flow: in the grant the
//! approval started (`gid`), a refresh token with `offline_access`, an ID token with `openid`.

use crate::error::OAuthFailure;
use crate::oauth::token::grant_tokens::{
    answer_user_grant, grant_user, refresh_binding, store_refresh_token, RefreshSeed, UserGrant,
    MAX_PRESENTED_LEN,
};
use crate::oauth::token::request::DeviceCodeRequest;
use crate::oauth::token::IssuedTokens;
use crate::platform::state::AppState;
use castellan_core::client::Client;
use castellan_core::grant::for_person;
use castellan_core::{OAuthError, OAuthErrorCode, ScopeSet};
use castellan_crypto::hash_secret;
use castellan_store::device::DeviceStatus;
use chrono::{DateTime, Utc};
use std::sync::Arc;

fn error(code: OAuthErrorCode, d: &'static str) -> OAuthFailure {
    OAuthError::new(code, d).into()
}

/// Answers the device's poll.
pub async fn device_code(
    state: &AppState,
    client: &Client,
    asked: &DeviceCodeRequest,
    jkt: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, OAuthFailure> {
    let unknown = || error(OAuthErrorCode::InvalidGrant, "the device code is unknown");
    let presented = asked.device_code.expose();
    if presented.is_empty() || presented.len() > MAX_PRESENTED_LEN {
        return Err(unknown());
    }
    let hash = hash_secret(presented).0;
    // While the person has not decided, a poll finds the authorization in the cache.
    let d = match state.device_polls.pending(&hash) {
        Some(d) => d,
        None => {
            let d = Arc::new(state.store.get_device(&hash).await?.ok_or_else(unknown)?);
            if d.status == DeviceStatus::Pending {
                state.device_polls.remember_pending(Arc::clone(&d));
            }
            d
        }
    };
    if d.client_id != client.id {
        return Err(error(
            OAuthErrorCode::InvalidGrant,
            "the device code was issued to another client",
        ));
    }
    if d.expires_at <= now {
        return Err(error(
            OAuthErrorCode::ExpiredToken,
            "the device code has expired: start again",
        ));
    }
    match d.status {
        DeviceStatus::Pending => {
            if state
                .device_polls
                .poll(&hash, now.timestamp_millis())
                .is_err()
            {
                return Err(error(
                    OAuthErrorCode::SlowDown,
                    "polling too often: wait 5 seconds more between polls",
                ));
            }
            Err(error(
                OAuthErrorCode::AuthorizationPending,
                "the person has not decided yet",
            ))
        }
        DeviceStatus::Denied => Err(error(
            OAuthErrorCode::DeviceAccessDenied,
            "the person denied the request",
        )),
        DeviceStatus::Used => Err(error(
            OAuthErrorCode::InvalidGrant,
            "the device code was already used",
        )),
        DeviceStatus::Approved => {
            let Some(approval) = d.approval.clone() else {
                return Err(unknown());
            };
            // Of two polls at once, one redeems the approval.
            if !state.store.redeem_device(&hash, now).await? {
                return Err(error(
                    OAuthErrorCode::InvalidGrant,
                    "the device code was already used",
                ));
            }
            // The person may have revoked the access since (Connected apps): then nothing.
            if state.store.is_consent_revoked(&approval.consent_id).await?
                || state.store.is_family_revoked(&approval.family_id).await?
            {
                return Err(error(
                    OAuthErrorCode::DeviceAccessDenied,
                    "the person has revoked this device's access",
                ));
            }
            let organization = approval.organization_id.as_deref();
            let user = grant_user(state, &approval.user_id, organization).await?;
            // Within what the client may still hold, and what the person may.
            let asked = ScopeSet::parse(&d.scope).unwrap_or_default();
            let still: ScopeSet = asked
                .iter()
                .filter(|s| castellan_core::scope::allowed_by(&client.scope, s))
                .cloned()
                .collect();
            let scope = for_person(&user, &still);
            let audience = crate::oauth::resources::granted(state, d.resources.as_ref());
            let scope_text = scope.to_string();
            let refresh = store_refresh_token(
                state,
                client,
                &scope,
                &RefreshSeed {
                    family_id: &approval.family_id,
                    consent_id: &approval.consent_id,
                    user_id: &user.id,
                    organization_id: organization,
                    scope: &scope_text,
                    auth_time: approval.auth_time,
                    amr: approval.amr,
                    sid: None,
                    audience: &audience,
                    dpop_jkt: refresh_binding(client, jkt),
                    delegation: None,
                },
                now,
            )
            .await?;
            answer_user_grant(
                state,
                &UserGrant {
                    client,
                    user: &user,
                    organization,
                    scope: &scope,
                    audience: &audience,
                    family_id: &approval.family_id,
                    auth_time: approval.auth_time,
                    amr: approval.amr,
                    sid: None,
                    nonce: None,
                    jkt,
                    act: None,
                    id_token: true,
                },
                refresh,
                now,
            )
            .await
        }
    }
}
