//! Users, organizations and memberships.

use super::SqlStore;
use crate::error::{store_error, write_error_naming};
use crate::people::{UserStore, LAST_OWNER};
use crate::rows::millis;
use crate::rows::people::{org_from_row, role_from_row, user_from_row, ORG_COLUMNS, USER_COLUMNS};
use crate::{Backend, StoreError, StoreResult};
use async_trait::async_trait;
use castellan_core::user::{Membership, Organization, Role, User};
use chrono::{DateTime, Utc};
use sqlx::{Any, Transaction};

/// Disables the active API keys `user_id` created in `organization_id`, inside the
/// transaction that removed the member or lowered their role.
async fn disable_members_keys(
    tx: &mut Transaction<'static, Any>,
    organization_id: &str,
    user_id: &str,
) -> StoreResult<u64> {
    Ok(sqlx::query(
        "UPDATE api_keys SET status = 'disabled' \
         WHERE organization_id = $1 AND created_by = $2 AND status = 'active'",
    )
    .bind(organization_id)
    .bind(user_id)
    .execute(&mut **tx)
    .await
    .map_err(store_error)?
    .rows_affected())
}

/// Refuses, inside `tx`, a change that would take away the organization's last OWNER: the
/// member `user_id` is an OWNER and no other member is. On PostgreSQL the organization's row
/// is locked first, so two OWNERs demoting each other at once cannot both succeed (SQLite's
/// write transaction already runs alone).
async fn keep_an_owner(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    organization_id: &str,
    user_id: &str,
) -> StoreResult<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
            .bind(organization_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(store_error)?;
    }
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT user_id FROM memberships WHERE organization_id = $1 AND role = 'OWNER'",
    )
    .bind(organization_id)
    .fetch_all(&mut **tx)
    .await
    .map_err(store_error)?;
    if owners.iter().any(|o| o == user_id) && owners.len() == 1 {
        return Err(StoreError::Conflict(LAST_OWNER));
    }
    Ok(())
}

#[async_trait]
impl UserStore for SqlStore {
    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_user_in(&mut tx, user).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        let row = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn set_user_admin(&self, id: &str, is_admin: bool) -> StoreResult<bool> {
        let changed = sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
            .bind(i16::from(is_admin))
            .bind(id)
            .execute(self.timed())
            .await
            .map_err(store_error)?
            .rows_affected();
        Ok(changed > 0)
    }

    async fn set_user_password(
        &self,
        id: &str,
        password_hash: &str,
        keep: Option<&[u8; 32]>,
        end_grants_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        end_sessions_but(&mut tx, id, keep).await?;
        if let (Some(now), 1) = (end_grants_at, changed) {
            self.end_grants_in(&mut tx, id, now).await?;
        }
        // A reset link sent before the change no longer sets a password.
        super::links::spend_reset_links(&mut tx, id, end_grants_at.unwrap_or_else(Utc::now))
            .await?;
        tx.commit().await.map_err(store_error)?;
        Ok(changed > 0)
    }

    async fn set_user_disabled(
        &self,
        id: &str,
        disabled_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // Disabling again keeps the first time it was disabled (and ends anything new).
        let changed = sqlx::query(
            "UPDATE users SET disabled_at = CASE WHEN $1 IS NULL THEN NULL \
             ELSE COALESCE(disabled_at, $1) END WHERE id = $2",
        )
        .bind(disabled_at.map(millis))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if let (Some(now), 1) = (disabled_at, changed) {
            end_sessions_but(&mut tx, id, None).await?;
            self.end_grants_in(&mut tx, id, now).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(changed > 0)
    }

    async fn is_user_disabled_now(&self, id: &str) -> StoreResult<bool> {
        let lock = self.for_share();
        let row: Option<Option<i64>> = sqlx::query_scalar(&format!(
            "SELECT disabled_at FROM users WHERE id = $1{lock}"
        ))
        .bind(id)
        .fetch_optional(self.timed())
        .await
        .map_err(store_error)?;
        Ok(!matches!(row, Some(None)))
    }

    async fn list_users(&self, limit: u32, offset: u32) -> StoreResult<(Vec<User>, u64)> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY email LIMIT $1 OFFSET $2");
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(self.timed())
            .await
            .map_err(store_error)?;
        let users = rows.iter().map(user_from_row).collect::<StoreResult<_>>()?;
        Ok((users, self.count("users").await?))
    }

    async fn list_organizations(
        &self,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<Organization>, u64)> {
        let sql =
            format!("SELECT {ORG_COLUMNS} FROM organizations ORDER BY name, id LIMIT $1 OFFSET $2");
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(self.timed())
            .await
            .map_err(store_error)?;
        let orgs = rows.iter().map(org_from_row).collect::<StoreResult<_>>()?;
        Ok((orgs, self.count("organizations").await?))
    }

    async fn insert_organization(&self, org: &Organization) -> StoreResult<()> {
        let sql = format!("INSERT INTO organizations ({ORG_COLUMNS}) VALUES ($1, $2, $3)");
        sqlx::query(&sql)
            .bind(org.id.as_str())
            .bind(org.name.as_str())
            .bind(millis(org.created_at))
            .execute(self.timed())
            .await
            .map_err(|e| {
                write_error_naming(
                    e,
                    "an organization with this id exists",
                    "a referenced row does not exist",
                )
            })?;
        Ok(())
    }

    async fn get_organization(&self, id: &str) -> StoreResult<Option<Organization>> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(org_from_row).transpose()
    }

    async fn upsert_membership(&self, m: &Membership) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if m.role != Role::Owner {
            keep_an_owner(&mut tx, self.backend, &m.organization_id, &m.user_id).await?;
        }
        let before =
            sqlx::query("SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2")
                .bind(m.organization_id.as_str())
                .bind(m.user_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?
                .as_ref()
                .map(role_from_row)
                .transpose()?;
        sqlx::query(
            "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (organization_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(m.organization_id.as_str())
        .bind(m.user_id.as_str())
        .bind(m.role.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            write_error_naming(
                e,
                "the membership exists",
                "the organization or the user does not exist",
            )
        })?;
        // A lowered role disables every key the member created in the organization: a key
        // carries at most what its creator may give, and what they may give shrank.
        if before.is_some_and(|old| m.role < old) {
            disable_members_keys(&mut tx, &m.organization_id, &m.user_id).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn remove_membership(&self, organization_id: &str, user_id: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        keep_an_owner(&mut tx, self.backend, organization_id, user_id).await?;
        let deleted =
            sqlx::query("DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2")
                .bind(organization_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?
                .rows_affected();
        if deleted > 0 {
            disable_members_keys(&mut tx, organization_id, user_id).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(deleted > 0)
    }

    async fn organizations_of_user(&self, user_id: &str) -> StoreResult<Vec<(Organization, Role)>> {
        let rows = sqlx::query(
            "SELECT o.id, o.name, o.created_at, m.role FROM memberships m \
             JOIN organizations o ON o.id = m.organization_id \
             WHERE m.user_id = $1 ORDER BY o.name, o.id",
        )
        .bind(user_id)
        .fetch_all(self.timed())
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|r| Ok((org_from_row(r)?, role_from_row(r)?)))
            .collect()
    }

    async fn role_in(&self, organization_id: &str, user_id: &str) -> StoreResult<Option<Role>> {
        let row =
            sqlx::query("SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2")
                .bind(organization_id)
                .bind(user_id)
                .fetch_optional(self.timed())
                .await
                .map_err(store_error)?;
        row.as_ref().map(role_from_row).transpose()
    }

    async fn members_of(&self, organization_id: &str) -> StoreResult<Vec<(User, Role)>> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.name, u.password_hash, u.created_at, u.is_admin, \
             u.disabled_at, u.email_verified_at, m.role \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.organization_id = $1 ORDER BY u.email",
        )
        .bind(organization_id)
        .fetch_all(self.timed())
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|r| Ok((user_from_row(r)?, role_from_row(r)?)))
            .collect()
    }
}

impl SqlStore {
    /// How many rows `table` (a name written in this file, never input) holds.
    /// Ends, in `tx`, everything the person `id` holds besides sessions: the API keys they
    /// created (disabled, as when they leave an organization) and every grant (the live
    /// families of their consents, revoked at `now` and recorded in the revocation feed so
    /// that guards learn of them too).
    pub(super) async fn end_grants_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE api_keys SET status = 'disabled' WHERE created_by = $1 AND status = 'active'",
        )
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
        let rows = sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1 WHERE revoked_at IS NULL AND \
             consent_id IN (SELECT id FROM consents WHERE user_id = $2) RETURNING id",
        )
        .bind(millis(now))
        .bind(id)
        .fetch_all(&mut **tx)
        .await
        .map_err(store_error)?;
        let families = super::grants::family_entries(&rows)?;
        if !families.is_empty() {
            super::revocations::record_in(tx, self.backend, &families, now, None).await?;
        }
        Ok(())
    }

    async fn count(&self, table: &'static str) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(self.timed())
            .await
            .map_err(store_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Ends every session of `user_id` but `keep` (when given), in `tx`; answers how many ended.
pub(super) async fn end_sessions_but(
    tx: &mut Transaction<'static, Any>,
    user_id: &str,
    keep: Option<&[u8; 32]>,
) -> StoreResult<u64> {
    let query = match keep {
        Some(hash) => sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND hash <> $2")
            .bind(user_id)
            .bind(&hash[..]),
        None => sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id),
    };
    Ok(query
        .execute(&mut **tx)
        .await
        .map_err(store_error)?
        .rows_affected())
}

/// Stores a new user in `tx`. `Conflict` when the email (normalised) or id is taken.
pub(super) async fn insert_user_in(
    tx: &mut Transaction<'static, Any>,
    user: &User,
) -> StoreResult<()> {
    let sql = format!("INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    sqlx::query(&sql)
        .bind(user.id.as_str())
        .bind(user.email.as_str())
        .bind(user.name.as_str())
        .bind(user.password_hash.as_str())
        .bind(millis(user.created_at))
        .bind(i16::from(user.is_admin))
        .bind(user.disabled_at.map(millis))
        .bind(user.email_verified_at.map(millis))
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            write_error_naming(
                e,
                "a user with this email or id exists",
                "a referenced row does not exist",
            )
        })?;
    Ok(())
}
