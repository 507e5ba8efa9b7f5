//! Row ↔ domain mapping of people and grants (migration `0002_people`): users,
//! organizations, roles, sessions, codes, consents and refresh tokens. Same representation as
//! the parent module: Unix milliseconds, raw 32-byte hashes, space-separated scopes.

use super::{audience, corrupt, flag, from_millis, get, hash32};
use crate::people::{AuthorizationCode, Consent, Delegation, RefreshToken, Session};
use crate::StoreResult;
use castellan_core::user::{Organization, Role, User};
use sqlx::any::AnyRow;

pub(crate) const USER_COLUMNS: &str =
    "id, email, name, password_hash, created_at, is_admin, disabled_at, email_verified_at";
pub(crate) const ORG_COLUMNS: &str = "id, name, created_at";
pub(crate) const SESSION_COLUMNS: &str =
    "hash, id, user_id, auth_time, expires_at, device, address, amr";
pub(crate) const CODE_COLUMNS: &str = "hash, client_id, redirect_uri, code_challenge, user_id, \
    organization_id, scope, nonce, resources, auth_time, consent_id, family_id, created_at, \
    expires_at, dpop_jkt, amr, session_id";
pub(crate) const CONSENT_COLUMNS: &str =
    "id, user_id, client_id, organization_id, scope, created_at, updated_at";
pub(crate) const REFRESH_COLUMNS: &str = "hash, family_id, consent_id, client_id, user_id, \
    organization_id, scope, auth_time, created_at, expires_at, audience, dpop_jkt, act, delegated_from, amr, session_id";

/// The `amr` column: the methods' names, space-separated.
pub(crate) fn amr(row: &AnyRow) -> StoreResult<castellan_core::authn::Amr> {
    let stored: String = get(row, "amr")?;
    castellan_core::authn::Amr::parse(&stored).ok_or_else(|| corrupt("amr", "unknown method"))
}

fn instant(row: &AnyRow, column: &str) -> StoreResult<chrono::DateTime<chrono::Utc>> {
    from_millis(get(row, column)?, column)
}

pub(crate) fn user_from_row(row: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: get(row, "id")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        password_hash: get(row, "password_hash")?,
        created_at: instant(row, "created_at")?,
        is_admin: flag(get(row, "is_admin")?, "is_admin")?,
        disabled_at: get::<Option<i64>>(row, "disabled_at")?
            .map(|t| from_millis(t, "disabled_at"))
            .transpose()?,
        email_verified_at: get::<Option<i64>>(row, "email_verified_at")?
            .map(|t| from_millis(t, "email_verified_at"))
            .transpose()?,
    })
}

pub(crate) fn org_from_row(row: &AnyRow) -> StoreResult<Organization> {
    Ok(Organization {
        id: get(row, "id")?,
        name: get(row, "name")?,
        created_at: instant(row, "created_at")?,
    })
}

pub(crate) fn role_from_row(row: &AnyRow) -> StoreResult<Role> {
    let role: String = get(row, "role")?;
    Role::parse(&role).ok_or_else(|| corrupt("role", "unknown role"))
}

pub(crate) fn session_from_row(row: &AnyRow) -> StoreResult<Session> {
    Ok(Session {
        hash: hash32(get(row, "hash")?, "hash")?,
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        auth_time: instant(row, "auth_time")?,
        amr: amr(row)?,
        expires_at: instant(row, "expires_at")?,
        device: get(row, "device")?,
        address: get(row, "address")?,
    })
}

pub(crate) fn code_from_row(row: &AnyRow) -> StoreResult<AuthorizationCode> {
    Ok(AuthorizationCode {
        hash: hash32(get(row, "hash")?, "hash")?,
        client_id: get(row, "client_id")?,
        redirect_uri: get(row, "redirect_uri")?,
        code_challenge: get(row, "code_challenge")?,
        user_id: get(row, "user_id")?,
        organization_id: get(row, "organization_id")?,
        scope: get(row, "scope")?,
        nonce: get(row, "nonce")?,
        resources: audience(row, "resources")?,
        auth_time: instant(row, "auth_time")?,
        amr: amr(row)?,
        session_id: get(row, "session_id")?,
        consent_id: get(row, "consent_id")?,
        family_id: get(row, "family_id")?,
        created_at: instant(row, "created_at")?,
        expires_at: instant(row, "expires_at")?,
        dpop_jkt: get(row, "dpop_jkt")?,
    })
}

pub(crate) fn consent_from_row(row: &AnyRow) -> StoreResult<Consent> {
    Ok(Consent {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        client_id: get(row, "client_id")?,
        organization_id: get(row, "organization_id")?,
        scope: get(row, "scope")?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
    })
}

pub(crate) fn refresh_from_row(row: &AnyRow) -> StoreResult<RefreshToken> {
    Ok(RefreshToken {
        hash: hash32(get(row, "hash")?, "hash")?,
        family_id: get(row, "family_id")?,
        consent_id: get(row, "consent_id")?,
        client_id: get(row, "client_id")?,
        user_id: get(row, "user_id")?,
        organization_id: get(row, "organization_id")?,
        scope: get(row, "scope")?,
        auth_time: instant(row, "auth_time")?,
        amr: amr(row)?,
        session_id: get(row, "session_id")?,
        created_at: instant(row, "created_at")?,
        expires_at: instant(row, "expires_at")?,
        audience: audience(row, "audience")?,
        dpop_jkt: get(row, "dpop_jkt")?,
        delegation: delegation(row)?,
    })
}

/// The `act` (JSON text) and `delegated_from` columns: both set, or both NULL.
fn delegation(row: &AnyRow) -> StoreResult<Option<Delegation>> {
    let act: Option<String> = get(row, "act")?;
    let from: Option<String> = get(row, "delegated_from")?;
    match (act, from) {
        (None, None) => Ok(None),
        (Some(act), Some(from_client)) => Ok(Some(Delegation {
            act: serde_json::from_str(&act).map_err(|e| corrupt("act", e.to_string()))?,
            from_client,
        })),
        _ => Err(corrupt("act", "act and delegated_from go together")),
    }
}

/// The union of two space-separated scope strings: `held` in its order, then what `added`
/// brings that is new, in its order (a consent only ever widens).
pub(crate) fn scope_union(held: &str, added: &str) -> String {
    let mut out: Vec<&str> = held.split(' ').filter(|s| !s.is_empty()).collect();
    for s in added.split(' ').filter(|s| !s.is_empty()) {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::scope_union;

    #[test]
    fn union_keeps_the_held_order_and_appends() {
        assert_eq!(scope_union("a b", "c a d"), "a b c d");
        assert_eq!(scope_union("", "x  y"), "x y");
        assert_eq!(scope_union("a", ""), "a");
    }
}
