//! Device authorization (RFC 8628), free of HTTP: a device (a CLI, a TV, an agent without a
//! browser) asks for a device code and a user code ([`start`]); a person signs in on another
//! screen, types the user code and approves or denies ([`decide`]); meanwhile the device
//! polls the token endpoint (`oauth/token/device_code.rs`), paced by
//! [`crate::oauth::device_polls::Polls`].
//!
//! Both codes are stored only as SHA-256 hashes. A poll reads the authorization once and
//! writes nothing until the person decides; how often a device polls is kept in this
//! process, so a device polling two replicas alternately is paced by each.

use crate::audit::{self, Caller, Kind};
use crate::error::OAuthFailure;
use crate::oauth::token::password::start_person_grant;
use crate::platform::state::AppState;
use castellan_core::client::{Client, GrantType};
use castellan_core::device::{display, user_code};
use castellan_core::grant::person_scopes;
use castellan_core::user::User;
use castellan_core::{OAuthError, ScopeSet, Secret};
use castellan_crypto::{generate_secret, hash_secret, random_bytes};
use castellan_store::device::{DeviceApproval, DeviceAuthorization, DeviceStatus};
use castellan_store::people::Session;
use castellan_store::StoreError;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;

/// A device authorization started: what the device shows and keeps.
#[derive(Debug)]
pub struct Started {
    /// The device code, for the device's token requests.
    pub device_code: Secret,
    /// The user code, as shown (`XXXX-XXXX`).
    pub user_code: String,
    /// How long both codes live, in seconds.
    pub expires_in: u32,
    /// How long the device waits between polls, in seconds.
    pub interval: u32,
}

/// The stored hash of a user code (its normalised form): an HMAC keyed with `secret`, so
/// that reading the database does not give away live codes (a plain hash of so few codes
/// would be reversed by trying them all).
fn user_code_hash_with(secret: &[u8; 32], code: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(b"user-code\0");
    mac.update(code.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The pending, unexpired authorization whose user code is `code` (normalised). The hash is
/// keyed with the secret derived from the signing keys, and the one before it, so a code
/// given out just before that secret changed is still found.
pub async fn pending_by_code(
    state: &AppState,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<DeviceAuthorization>, StoreError> {
    let (secret, previous) = state.keys.derived_secrets();
    for secret in std::iter::once(secret).chain(previous) {
        let found = state
            .store
            .pending_device(&user_code_hash_with(&secret, code), now)
            .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Starts a device authorization for `client`: the scopes asked (a person's scopes of the
/// client; its default when none) and the resources (RFC 8707).
pub async fn start(
    state: &AppState,
    client: &Client,
    scope: Option<&ScopeSet>,
    resources: &[String],
    now: DateTime<Utc>,
) -> Result<Started, OAuthFailure> {
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::unauthorized_client(
            "the client is not allowed the device code grant",
        )
        .into());
    }
    let scope = person_scopes(client, scope)?;
    let resources = crate::oauth::resources::requested(state, resources)?;
    let c = &state.config.device;
    // A user code is short: should a fresh one collide with a pending one, draw again.
    for attempt in 0..3 {
        let device_code = generate_secret();
        let code = user_code(random_bytes::<8>());
        let stored = DeviceAuthorization {
            device_hash: hash_secret(device_code.expose()).0,
            user_code_hash: user_code_hash_with(&state.keys.derived_secret(), &code),
            client_id: client.id.clone(),
            scope: scope.to_string(),
            resources: resources.clone(),
            status: DeviceStatus::Pending,
            approval: None,
            created_at: now,
            expires_at: now + Duration::seconds(i64::from(c.code_seconds)),
        };
        match state.store.insert_device(&stored).await {
            Ok(()) => {
                return Ok(Started {
                    device_code,
                    user_code: display(&code),
                    expires_in: c.code_seconds,
                    interval: c.interval_seconds,
                })
            }
            // A collision: draw again.
            Err(StoreError::Conflict(_)) if attempt < 2 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(OAuthError::temporarily_unavailable("no free user code; retry").into())
}

/// What a person decides about a device.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Approve, for the organization chosen (if the person belongs to any).
    Approve(Option<String>),
    /// Deny.
    Deny,
}

/// Records `person`'s decision on the pending authorization `pending` (found by its user
/// code): an approval records their consent and starts the grant the device's tokens will
/// belong to, with when and how they signed in (the `auth_time` and `amr` of `session`).
/// `false` when it was decided meanwhile, expired, or its client may no longer use the grant.
pub async fn decide(
    state: &AppState,
    person: &User,
    session: &Session,
    pending: &DeviceAuthorization,
    decision: Decision,
    now: DateTime<Utc>,
    address: IpAddr,
) -> Result<bool, StoreError> {
    let approval = match decision {
        Decision::Deny => None,
        Decision::Approve(organization) => {
            // A client deleted, or no longer given the grant, meanwhile: nothing to approve.
            let Some(client) = state
                .clients
                .get(state.store.as_ref(), &pending.client_id)
                .await?
                .filter(|c| c.allows_grant(GrantType::DeviceCode))
            else {
                return Ok(false);
            };
            let scope = ScopeSet::parse(&pending.scope).unwrap_or_default();
            let (consent, family) = start_person_grant(
                state,
                &client,
                &person.id,
                organization.as_deref(),
                &scope,
                now,
            )
            .await?;
            Some(DeviceApproval {
                user_id: person.id.clone(),
                organization_id: organization,
                consent_id: consent.id,
                family_id: family,
                auth_time: session.auth_time,
                amr: session.amr,
            })
        }
    };
    let decided = state
        .store
        .decide_device(&pending.user_code_hash, approval.as_ref(), now)
        .await?;
    state.device_polls.decided(&pending.device_hash);
    if let (true, Some(a)) = (decided, &approval) {
        audit::record(
            state,
            Caller::person(&person.id, Some(address))
                .did(Kind::ConsentGiven)
                .organization(a.organization_id.as_deref())
                .target(&a.consent_id)
                .detail(format!(
                    "client {} on a device, scope {}",
                    pending.client_id, pending.scope
                )),
        )
        .await;
    }
    Ok(decided)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_codes_hash_needs_the_servers_secret() {
        let a = user_code_hash_with(&[1; 32], "BCDFGHJK");
        assert_eq!(a, user_code_hash_with(&[1; 32], "BCDFGHJK"));
        assert_ne!(a, user_code_hash_with(&[2; 32], "BCDFGHJK"));
        assert_ne!(a, user_code_hash_with(&[1; 32], "BCDFGHJL"));
        assert_ne!(a, hash_secret("user-code:BCDFGHJK").0);
    }
}
