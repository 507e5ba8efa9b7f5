//! The check of a presented API key, at the gateway and at introspection (its lifecycle is the
//! management API's: [`crate::management::api_keys`]).
//!
//! The check refuses a malformed key (core's format rule: shape, checksum, prefix,
//! environment) before any lookup, then finds the key by its hash through a bounded cache
//! (`api_keys.cache_seconds`, default 10 s). A replica forgets a key it changes at once;
//! other replicas see a disable or revoke within `cache_seconds` — the documented bound.

use crate::gateway::key_cache::KnownKey;
use crate::platform::state::AppState;
use castellan_core::api_key::{self, KeyFormatError};
use castellan_crypto::hash_secret;
use castellan_store::api_keys::ApiKeyStatus;
use castellan_store::StoreError;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Why a presented key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// Refused before any lookup.
    Format(KeyFormatError),
    /// No stored key has this key's hash.
    Unknown,
    /// The key is disabled (it can be enabled again).
    Disabled,
    /// The key is revoked for good.
    Revoked,
    /// The key is past its expiry.
    Expired,
}

impl KeyRefusal {
    /// The RFC 7662 extension `status` of an inactive key, when it has one.
    pub fn status(self) -> Option<&'static str> {
        match self {
            KeyRefusal::Disabled => Some("disabled"),
            KeyRefusal::Revoked => Some("revoked"),
            KeyRefusal::Expired => Some("expired"),
            KeyRefusal::Format(_) | KeyRefusal::Unknown => None,
        }
    }
}

/// Checks a presented key at `now`: format first (no lookup for a malformed key), then the
/// stored row by hash, its status and expiry. Records the day of use.
pub async fn check_api_key(
    state: &AppState,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Result<Arc<KnownKey>, KeyRefusal>, StoreError> {
    if let Err(e) = api_key::parse(key, &state.config.api_keys.prefix, state.config.environment) {
        return Ok(Err(KeyRefusal::Format(e)));
    }
    let Some(found) = state
        .api_keys
        .find(&state.store, hash_secret(key).0)
        .await?
    else {
        return Ok(Err(KeyRefusal::Unknown));
    };
    match found.status {
        ApiKeyStatus::Disabled => return Ok(Err(KeyRefusal::Disabled)),
        ApiKeyStatus::Revoked => return Ok(Err(KeyRefusal::Revoked)),
        ApiKeyStatus::Active => {}
    }
    if found.expires_at.is_some_and(|exp| exp <= now) {
        return Ok(Err(KeyRefusal::Expired));
    }
    state
        .api_keys
        .record_use(&state.store, &found.id, now.date_naive());
    Ok(Ok(found))
}

/// Whether an introspection request is about an API key: hinted `api_key`, or shaped like
/// one (it starts with the configured prefix and an underscore).
pub fn is_api_key_request(state: &AppState, token: &str, hint: Option<&str>) -> bool {
    hint == Some("api_key")
        || token
            .strip_prefix(state.config.api_keys.prefix.as_str())
            .is_some_and(|rest| rest.starts_with('_'))
}

/// The RFC 7662 answer for an API key (an extension): active with `scope`, `sub` (the key
/// id), `org`, `tier`, `env`, `exp`, `token_type: "api_key"`; or inactive with `status`
/// (`disabled`, `revoked`, `expired`) or `reason: "wrong_environment"`, so that a gateway can
/// answer 403 "API key disabled" rather than 401.
pub async fn introspect_api_key(
    state: &AppState,
    key: &str,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, StoreError> {
    use serde_json::json;
    Ok(match check_api_key(state, key, now).await? {
        Ok(k) => {
            let mut v = json!({
                "active": true,
                "scope": k.scope,
                "sub": k.id,
                "tier": k.tier,
                "env": state.config.environment.as_str(),
                "iss": state.config.issuer,
                "iat": k.created_at.timestamp(),
                "token_type": "api_key",
            });
            if let Some(obj) = v.as_object_mut() {
                if let Some(org) = &k.organization_id {
                    obj.insert("org".into(), org.clone().into());
                }
                if let Some(exp) = k.expires_at {
                    obj.insert("exp".into(), exp.timestamp().into());
                }
            }
            v
        }
        Err(KeyRefusal::Format(KeyFormatError::WrongEnvironment)) => {
            json!({"active": false, "reason": "wrong_environment"})
        }
        Err(r) => match r.status() {
            Some(status) => json!({"active": false, "status": status}),
            None => json!({"active": false}),
        },
    })
}
