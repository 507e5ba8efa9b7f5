//! Email links: stored by hash, used once, each use and its effect in one transaction.

use super::people::end_sessions_but;
use super::purge::BATCH;
use super::SqlStore;
use crate::error::{store_error, write_error, write_error_naming};
use crate::links::{EmailLink, Joined, LinkPurpose, LinkStore};
use crate::rows::{from_millis, millis};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use castellan_core::user::{Role, User};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

const COLUMNS: &str = "hash, id, purpose, email, user_id, organization_id, role, created_by, \
    created_at, expires_at";

/// An invitation works only while the OWNER who made it is one, and not disabled: the
/// condition that keeps the others out of what is found and listed.
const LIVE_INVITER: &str = "(purpose <> 'invite' OR EXISTS (SELECT 1 FROM memberships m \
    JOIN users u ON u.id = m.user_id WHERE m.organization_id = email_links.organization_id \
    AND m.user_id = email_links.created_by AND m.role = 'OWNER' AND u.disabled_at IS NULL))";

fn corrupt(column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("email_links.{column}: {e}"))
}

fn link_from_row(row: &AnyRow) -> StoreResult<EmailLink> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(|e| corrupt(c, e));
    let optional = |c: &str| {
        row.try_get::<Option<String>, _>(c)
            .map_err(|e| corrupt(c, e))
    };
    let instant = |c: &str| {
        let ms: i64 = row.try_get(c).map_err(|e| corrupt(c, e))?;
        from_millis(ms, c)
    };
    let hash: Vec<u8> = row.try_get("hash").map_err(|e| corrupt("hash", e))?;
    let purpose = text("purpose")?;
    Ok(EmailLink {
        hash: <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| corrupt("hash", "not 32 bytes"))?,
        id: text("id")?,
        purpose: LinkPurpose::parse(&purpose).ok_or_else(|| corrupt("purpose", &purpose))?,
        email: text("email")?,
        user_id: optional("user_id")?,
        organization_id: optional("organization_id")?,
        role: optional("role")?
            .map(|r| Role::parse(&r).ok_or_else(|| corrupt("role", r)))
            .transpose()?,
        created_by: text("created_by")?,
        created_at: instant("created_at")?,
        expires_at: instant("expires_at")?,
    })
}

/// Uses up the link with this hash for `purpose` in `tx` when it is unused and unexpired at
/// `now`; answers it and whether it was delivered by mail.
async fn use_in(
    tx: &mut Transaction<'static, Any>,
    hash: &[u8; 32],
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> StoreResult<Option<(EmailLink, bool)>> {
    let sql = format!(
        "UPDATE email_links SET used_at = $1 WHERE hash = $2 AND purpose = $3 \
         AND used_at IS NULL AND expires_at > $1 RETURNING {COLUMNS}, delivered"
    );
    let row = sqlx::query(&sql)
        .bind(millis(now))
        .bind(&hash[..])
        .bind(purpose.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(store_error)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let delivered: i64 = row
        .try_get("delivered")
        .map_err(|e| corrupt("delivered", e))?;
    Ok(Some((link_from_row(&row)?, delivered == 1)))
}

/// Spends, in `tx`, every unused reset link of the person `user_id`.
pub(super) async fn spend_reset_links(
    tx: &mut Transaction<'static, Any>,
    user_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE email_links SET used_at = $1 WHERE user_id = $2 AND purpose = $3 \
         AND used_at IS NULL",
    )
    .bind(millis(now))
    .bind(user_id)
    .bind(LinkPurpose::ResetPassword.as_str())
    .execute(&mut **tx)
    .await
    .map_err(store_error)?;
    Ok(())
}

#[async_trait]
impl LinkStore for SqlStore {
    async fn insert_link(&self, l: &EmailLink) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO email_links ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        sqlx::query(&sql)
            .bind(&l.hash[..])
            .bind(l.id.as_str())
            .bind(l.purpose.as_str())
            .bind(l.email.as_str())
            .bind(l.user_id.as_deref())
            .bind(l.organization_id.as_deref())
            .bind(l.role.map(Role::as_str))
            .bind(l.created_by.as_str())
            .bind(millis(l.created_at))
            .bind(millis(l.expires_at))
            .execute(self.timed())
            .await
            .map_err(|e| {
                write_error_naming(
                    e,
                    "a link with this hash or id exists",
                    "the organization or the person does not exist",
                )
            })?;
        Ok(())
    }

    async fn mark_link_delivered(&self, hash: &[u8; 32]) -> StoreResult<()> {
        sqlx::query("UPDATE email_links SET delivered = 1 WHERE hash = $1")
            .bind(&hash[..])
            .execute(self.timed())
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn delete_link(&self, hash: &[u8; 32]) -> StoreResult<()> {
        sqlx::query("DELETE FROM email_links WHERE hash = $1")
            .bind(&hash[..])
            .execute(self.timed())
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn links_since(
        &self,
        purpose: LinkPurpose,
        email: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM email_links WHERE purpose = $1 AND email = $2 \
             AND created_at >= $3",
        )
        .bind(purpose.as_str())
        .bind(email)
        .bind(millis(since))
        .fetch_one(self.timed())
        .await
        .map_err(store_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn find_link(
        &self,
        hash: &[u8; 32],
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmailLink>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM email_links WHERE hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3 AND {LIVE_INVITER}"
        );
        let row = sqlx::query(&sql)
            .bind(&hash[..])
            .bind(purpose.as_str())
            .bind(millis(now))
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(link_from_row).transpose()
    }

    async fn pending_invitations(
        &self,
        organization_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<EmailLink>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM email_links WHERE organization_id = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3 AND {LIVE_INVITER} \
             ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(&sql)
            .bind(organization_id)
            .bind(LinkPurpose::Invite.as_str())
            .bind(millis(now))
            .fetch_all(self.timed())
            .await
            .map_err(store_error)?;
        rows.iter().map(link_from_row).collect()
    }

    async fn withdraw_invitation(&self, organization_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM email_links WHERE organization_id = $1 AND id = $2 AND purpose = $3 \
             AND used_at IS NULL",
        )
        .bind(organization_id)
        .bind(id)
        .bind(LinkPurpose::Invite.as_str())
        .execute(self.timed())
        .await
        .map_err(store_error)?
        .rows_affected();
        Ok(done > 0)
    }

    async fn accept_invitation(
        &self,
        hash: &[u8; 32],
        user_id: &str,
        new_user: Option<&User>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Joined>> {
        let mut tx = self.begin_write().await?;
        if let Some(u) = new_user {
            super::people::insert_user_in(&mut tx, u).await?;
        }
        let Some((link, delivered)) = use_in(&mut tx, hash, LinkPurpose::Invite, now).await? else {
            return Ok(None);
        };
        let (Some(organization_id), Some(invited)) = (link.organization_id, link.role) else {
            return Err(corrupt(
                "organization_id",
                "an invitation without organization or role",
            ));
        };
        let lock = match self.backend {
            crate::Backend::Postgres => " FOR UPDATE",
            crate::Backend::Sqlite => "",
        };
        // The OWNER who made it must still be one: a removed or demoted OWNER's invitations
        // give nothing.
        // A disabled OWNER (an account taken back by an operator) gives nothing either.
        let inviter: Option<String> = sqlx::query_scalar(&format!(
            "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.organization_id = $1 AND m.user_id = $2 AND u.disabled_at IS NULL{lock}"
        ))
        .bind(organization_id.as_str())
        .bind(link.created_by.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        if inviter.as_deref() != Some(Role::Owner.as_str()) {
            return Ok(None);
        }
        // The person's address must be the invitation's; it is verified only when the
        // invitation went out by mail (one handed on by its OWNER proves nothing).
        let matched = sqlx::query(
            "UPDATE users SET email_verified_at = CASE WHEN $1 = 1 \
             THEN COALESCE(email_verified_at, $2) ELSE email_verified_at END \
             WHERE id = $3 AND email = $4 AND disabled_at IS NULL",
        )
        .bind(i64::from(delivered))
        .bind(millis(now))
        .bind(user_id)
        .bind(link.email.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if matched == 0 {
            return Ok(None);
        }
        // The address's other invitations to the organization are spent with this one.
        sqlx::query(
            "UPDATE email_links SET used_at = $1 WHERE organization_id = $2 AND email = $3 \
             AND purpose = $4 AND used_at IS NULL",
        )
        .bind(millis(now))
        .bind(organization_id.as_str())
        .bind(link.email.as_str())
        .bind(LinkPurpose::Invite.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let before: Option<String> = sqlx::query_scalar(&format!(
            "SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2{lock}"
        ))
        .bind(organization_id.as_str())
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let before = before.and_then(|r| Role::parse(&r));
        // A member keeps the higher of their role and the invitation's: accepting never
        // demotes anyone (nor takes an organization's last OWNER away).
        let role = before.map_or(invited, |b| b.max(invited));
        sqlx::query(
            "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (organization_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(organization_id.as_str())
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error(e, "the membership exists"))?;
        tx.commit().await.map_err(store_error)?;
        Ok(Some(Joined {
            user_id: user_id.to_owned(),
            organization_id,
            role,
        }))
    }

    async fn verify_email(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin_write().await?;
        let Some((link, _)) = use_in(&mut tx, hash, LinkPurpose::VerifyEmail, now).await? else {
            return Ok(None);
        };
        let Some(user_id) = link.user_id else {
            return Ok(None);
        };
        let done =
            sqlx::query("UPDATE users SET email_verified_at = $1 WHERE id = $2 AND email = $3")
                .bind(millis(now))
                .bind(user_id.as_str())
                .bind(link.email.as_str())
                .execute(&mut *tx)
                .await
                .map_err(store_error)?
                .rows_affected();
        if done == 0 {
            return Ok(None);
        }
        tx.commit().await.map_err(store_error)?;
        Ok(Some(user_id))
    }

    async fn reset_password(
        &self,
        hash: &[u8; 32],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin_write().await?;
        let Some((link, _)) = use_in(&mut tx, hash, LinkPurpose::ResetPassword, now).await? else {
            return Ok(None);
        };
        let Some(user_id) = link.user_id else {
            return Ok(None);
        };
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, email_verified_at = COALESCE(email_verified_at, $2) \
             WHERE id = $3 AND email = $4 AND disabled_at IS NULL",
        )
        .bind(password_hash)
        .bind(millis(now))
        .bind(user_id.as_str())
        .bind(link.email.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if done == 0 {
            return Ok(None);
        }
        end_sessions_but(&mut tx, &user_id, None).await?;
        self.end_grants_in(&mut tx, &user_id, now).await?;
        spend_reset_links(&mut tx, &user_id, now).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Some(user_id))
    }

    async fn purge_links(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        // Links of the last hour stay, expired or not: the pauses between links count them.
        self.purge_batched(
            "email_links",
            "expires_at <= $1 AND created_at <= $2",
            &[millis(now), millis(now - chrono::Duration::hours(1))],
            BATCH,
        )
        .await
    }
}
