//! The API-key lifecycle: creation (the key is shown once, stored only as SHA-256), listing,
//! disable / enable / revoke and rotation, within what the creator may give. The check of a
//! presented key is the gateway's ([`crate::gateway::api_keys`]).

use crate::audit::{self, Caller, Kind};
use crate::oauth::consent::is_write_scope;
use crate::platform::config::{is_admin_scope_name, Config};
use crate::platform::state::AppState;
use castellan_core::api_key;
use castellan_core::ids::alphanumeric_id;
use castellan_core::scope::allowed_by;
use castellan_core::user::Role;
use castellan_core::{Scope, ScopeSet, Secret};
use castellan_crypto::{hash_secret, random_bytes};
use castellan_store::api_keys::{ApiKey, ApiKeyOwner, ApiKeyStatus};
use castellan_store::{Page, StoreError};
use chrono::{DateTime, Duration, Utc};

/// Longest lifetime a key may be given (ten years).
pub const MAX_EXPIRES_IN_DAYS: u32 = 3650;
/// Longest key name.
pub const MAX_NAME_LEN: usize = 200;
/// What a caller asks for.
#[derive(Debug, Clone)]
pub struct KeyDraft {
    /// The key's display name.
    pub name: String,
    /// The space-separated scopes the key carries.
    pub scope: String,
    /// The organization the key acts for, if any.
    pub organization_id: Option<String>,
    /// The rate-limit tier; `api_keys.default_tier` when unset.
    pub tier: Option<String>,
    /// When the key expires, given as an instant.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key expires, given as days from now.
    pub expires_in_days: Option<u32>,
}

/// Who creates the key, and what they may give it.
pub struct Creator<'a> {
    /// The creator's id (a person or a client).
    pub id: &'a str,
    /// The scopes the creator holds (its bearer token's).
    pub held: &'a ScopeSet,
    /// For a client, the patterns it is allowed (an admin client creating keys for others).
    pub allowed: &'a [castellan_core::ScopePattern],
}

/// Why a key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The draft is invalid (the message says why).
    #[error("{0}")]
    Invalid(String),
    /// The scope the creator does not hold.
    #[error("the scope `{0}` exceeds the creator's scopes: a key carries at most its creator's")]
    ScopeNotHeld(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A created key: the stored row and the key itself, shown once.
pub struct CreatedKey {
    /// The key's stored row.
    pub stored: ApiKey,
    /// The key itself; only its hash is stored.
    pub key: Secret,
}

fn new_key(state: &AppState) -> Result<Secret, CreateError> {
    api_key::generate(
        &state.config.api_keys.prefix,
        state.config.environment,
        &random_bytes::<32>(),
    )
    .map(Secret::new)
    .ok_or_else(|| CreateError::Invalid("the configured API-key prefix is invalid".into()))
}

fn new_id() -> String {
    let id = alphanumeric_id(&random_bytes::<48>(), 20).unwrap_or_else(|| {
        random_bytes::<10>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    });
    format!("key_{id}")
}

fn row_for(key: &Secret, template: &ApiKey) -> ApiKey {
    let text = key.expose();
    let visible = api_key::parse_any(text)
        .map(|p| p.visible_prefix())
        .unwrap_or_default();
    ApiKey {
        id: new_id(),
        hash: hash_secret(text).0,
        visible_prefix: visible,
        last_four: api_key::last_four(text).to_owned(),
        ..template.clone()
    }
}

/// Validates `draft` against the creator's scopes and stores a new key.
pub async fn create_api_key(
    state: &AppState,
    draft: KeyDraft,
    creator: &Creator<'_>,
    now: DateTime<Utc>,
    by: &Caller,
) -> Result<CreatedKey, CreateError> {
    let name = draft.name.trim();
    let plain = |field: &str, v: Option<&str>| {
        v.map_or(Ok(()), castellan_core::text::check).map_err(|_| {
            CreateError::Invalid(format!("{field} must not contain control characters"))
        })
    };
    plain("name", Some(name))?;
    plain("organizationId", draft.organization_id.as_deref())?;
    plain("tier", draft.tier.as_deref())?;
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(CreateError::Invalid(format!(
            "name must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    let scopes =
        ScopeSet::parse(&draft.scope).map_err(|e| CreateError::Invalid(format!("scope: {e}")))?;
    for s in scopes.iter() {
        if !held_by(creator, s) {
            return Err(CreateError::ScopeNotHeld(s.as_str().to_owned()));
        }
    }
    let tier = draft
        .tier
        .unwrap_or_else(|| state.config.api_keys.default_tier.clone());
    if !state.rate_limiting.limits.tier_exists(&tier) {
        return Err(CreateError::Invalid(format!(
            "tier `{tier}` is not configured (see rate_limit.tiers)"
        )));
    }
    let expires_at = match (draft.expires_at, draft.expires_in_days) {
        (Some(_), Some(_)) => {
            return Err(CreateError::Invalid(
                "send expiresAt or expiresInDays, not both".into(),
            ))
        }
        (Some(at), None) if at <= now => {
            return Err(CreateError::Invalid(
                "expiresAt must be in the future".into(),
            ))
        }
        (Some(at), None) => Some(at),
        (None, Some(d)) if d == 0 || d > MAX_EXPIRES_IN_DAYS => {
            return Err(CreateError::Invalid(format!(
                "expiresInDays must be between 1 and {MAX_EXPIRES_IN_DAYS}"
            )))
        }
        (None, Some(d)) => Some(now + Duration::days(i64::from(d))),
        (None, None) => None,
    };
    if let Some(org) = &draft.organization_id {
        if org.is_empty() || org.len() > 255 {
            return Err(CreateError::Invalid(
                "organizationId must be 1 to 255 characters".into(),
            ));
        }
        // A key for an organization that does not exist would be forwarded by the gateway
        // with that organization as the caller's.
        if state.store.get_organization(org).await?.is_none() {
            return Err(CreateError::Invalid(format!(
                "organizationId `{}` names no organization",
                castellan_core::query::truncate_for_message(org)
            )));
        }
    }
    let key = new_key(state)?;
    let template = ApiKey {
        id: String::new(),
        hash: [0; 32],
        visible_prefix: String::new(),
        last_four: String::new(),
        name: name.to_owned(),
        scope: scopes.to_string(),
        organization_id: draft.organization_id,
        tier,
        created_at: now,
        created_by: creator.id.to_owned(),
        last_used_at: None,
        expires_at,
        status: ApiKeyStatus::Active,
        rotated_from: None,
    };
    let stored = row_for(&key, &template);
    state.store.insert_api_key(&stored).await?;
    tracing::info!(api_key_id = %stored.id, by = %creator.id, "API key created");
    audit::record(
        state,
        by.did(Kind::ApiKeyCreated)
            .organization(stored.organization_id.as_deref())
            .target(&stored.id)
            .detail(format!("scope {}", stored.scope)),
    )
    .await;
    Ok(CreatedKey { stored, key })
}

/// What a person may give a key of an organization where they hold `role` (a key carries
/// at most its creator's scopes): the scope catalogue (`[[scopes]]`) without
/// administrative scopes; a VIEWER only scopes that cannot change data (no `…:write`).
pub fn scopes_a_member_may_give(config: &Config, role: Role) -> ScopeSet {
    config
        .scopes
        .iter()
        .map(|e| e.name.as_str())
        .filter(|name| {
            let first = name.split(':').next().unwrap_or_default();
            !is_admin_scope_name(first)
        })
        .filter(|name| role.satisfies(Role::Manager) || !is_write_scope(name))
        .filter_map(|name| Scope::parse(name).ok())
        .collect()
}

fn held_by(creator: &Creator<'_>, scope: &Scope) -> bool {
    creator.held.contains(scope) || allowed_by(creator.allowed, scope)
}

/// One page of the keys `owner` owns.
pub async fn list_api_keys(
    state: &AppState,
    owner: &ApiKeyOwner,
    limit: u32,
    offset: u32,
    with_total: bool,
) -> Result<Page<ApiKey>, StoreError> {
    state
        .store
        .list_api_keys(owner, limit, offset, with_total)
        .await
}

/// Sets a key's status; `None` when there is no such key, `Some(false)` when it is revoked
/// (a revoked key stays revoked).
pub async fn set_status(
    state: &AppState,
    id: &str,
    status: ApiKeyStatus,
    by: &Caller,
) -> Result<Option<ApiKey>, StoreError> {
    let Some(key) = state.store.get_api_key(id).await? else {
        return Ok(None);
    };
    state.store.set_api_key_status(id, status).await?;
    state.api_keys.forget(&key.hash).await;
    tracing::info!(api_key_id = %id, status = %status, "API key status changed");
    let after = state.store.get_api_key(id).await?;
    let changed = after
        .as_ref()
        .is_some_and(|k| k.status == status && key.status != status);
    if changed {
        let kind = match status {
            ApiKeyStatus::Active => Kind::ApiKeyEnabled,
            ApiKeyStatus::Disabled => Kind::ApiKeyDisabled,
            ApiKeyStatus::Revoked => Kind::ApiKeyRevoked,
        };
        audit::record(
            state,
            by.did(kind)
                .organization(key.organization_id.as_deref())
                .target(id),
        )
        .await;
    }
    Ok(after)
}

/// Why a key could not be rotated.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// No such key.
    #[error("no such API key")]
    NotFound,
    /// The key is revoked, so there is nothing to rotate.
    #[error("a revoked API key cannot be rotated")]
    Revoked,
    /// The new key could not be created.
    #[error(transparent)]
    Create(#[from] CreateError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Replaces a key by a new one with the same settings, atomically revoking the old.
pub async fn rotate_api_key(
    state: &AppState,
    id: &str,
    now: DateTime<Utc>,
    by: &Caller,
) -> Result<CreatedKey, RotateError> {
    let old = state
        .store
        .get_api_key(id)
        .await?
        .ok_or(RotateError::NotFound)?;
    if old.status == ApiKeyStatus::Revoked {
        return Err(RotateError::Revoked);
    }
    let key = new_key(state)?;
    let template = ApiKey {
        created_at: now,
        last_used_at: None,
        status: ApiKeyStatus::Active,
        rotated_from: Some(old.id.clone()),
        ..old.clone()
    };
    let stored = row_for(&key, &template);
    if !state.store.rotate_api_key(&old.id, &stored).await? {
        return Err(RotateError::Revoked);
    }
    state.api_keys.forget(&old.hash).await;
    tracing::info!(api_key_id = %old.id, new_id = %stored.id, "API key rotated");
    audit::record(
        state,
        by.did(Kind::ApiKeyRotated)
            .organization(old.organization_id.as_deref())
            .target(&old.id)
            .detail(format!("replaced by {}", stored.id)),
    )
    .await;
    Ok(CreatedKey { stored, key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::config::ScopeEntry;

    #[test]
    fn a_viewer_may_give_only_scopes_that_cannot_change_data() {
        let mut config = Config::default();
        for name in [
            "products:read",
            "products:write",
            "manage_api_keys",
            "view_api_keys",
        ] {
            config.scopes.push(ScopeEntry {
                name: name.into(),
                description: String::new(),
            });
        }
        let names = |r| scopes_a_member_may_give(&config, r).to_string();
        assert_eq!(names(Role::Viewer), "products:read");
        assert_eq!(names(Role::Manager), "products:read products:write");
        assert_eq!(names(Role::Owner), "products:read products:write");
    }
}
