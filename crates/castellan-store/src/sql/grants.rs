//! Sessions, authorization codes, consents and refresh-token families (RFC 6749 §4.1.2
//! single-use codes; RFC 9700 §4.14.2 rotation with reuse detection).
//!
//! Every decision that must be atomic happens in one statement or one writing transaction:
//! a code is marked used by a conditional `UPDATE`, a refresh token is rotated (or its family
//! revoked) under the row's lock, so two concurrent presentations have exactly one winner.

use super::people::end_sessions_but;
use super::revocations::record_in;
use super::SqlStore;
use crate::error::{store_error, write_error_naming};
use crate::people::{
    AuthorizationCode, CodeRedemption, Consent, GrantStore, RefreshToken, RefreshUse, Session,
};
use crate::rows::millis;
use crate::rows::people::{
    code_from_row, consent_from_row, refresh_from_row, scope_union, session_from_row, CODE_COLUMNS,
    CONSENT_COLUMNS, REFRESH_COLUMNS, SESSION_COLUMNS,
};
use crate::{Backend, StoreResult};
use async_trait::async_trait;
use castellan_core::revocation::Revoked;
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};

const MISSING: &str = "the user, client, organization or consent does not exist";

impl SqlStore {
    /// Row lock for a read that decides a write (PostgreSQL); SQLite's `BEGIN IMMEDIATE`
    /// already holds the database's write lock.
    fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    async fn find_consent_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        consent: &Consent,
    ) -> StoreResult<Option<Consent>> {
        let sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE user_id = $1 AND client_id = $2 \
             AND COALESCE(organization_id, '') = $3{}",
            self.for_update()
        );
        let row = sqlx::query(&sql)
            .bind(consent.user_id.as_str())
            .bind(consent.client_id.as_str())
            .bind(consent.organization_id.as_deref().unwrap_or(""))
            .fetch_optional(&mut **tx)
            .await
            .map_err(store_error)?;
        row.as_ref().map(consent_from_row).transpose()
    }
}

/// The `(session id, user id, client id)` of taken `session_clients` rows.
fn session_client_rows(rows: &[sqlx::any::AnyRow]) -> StoreResult<Vec<(String, String, String)>> {
    rows.iter()
        .map(|row| {
            Ok((
                crate::rows::get(row, "session_id")?,
                crate::rows::get(row, "user_id")?,
                crate::rows::get(row, "client_id")?,
            ))
        })
        .collect()
}

async fn insert_refresh_in(
    tx: &mut Transaction<'static, Any>,
    t: &RefreshToken,
) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    );
    sqlx::query(&sql)
        .bind(&t.hash[..])
        .bind(t.family_id.as_str())
        .bind(t.consent_id.as_str())
        .bind(t.client_id.as_str())
        .bind(t.user_id.as_str())
        .bind(t.organization_id.as_deref())
        .bind(t.scope.as_str())
        .bind(millis(t.auth_time))
        .bind(millis(t.created_at))
        .bind(millis(t.expires_at))
        .bind(crate::rows::audience_text(t.audience.as_ref()))
        .bind(t.dpop_jkt.as_deref())
        .bind(t.delegation.as_ref().map(|d| d.act.to_string()))
        .bind(t.delegation.as_ref().map(|d| d.from_client.as_str()))
        .bind(t.amr.stored())
        .bind(t.session_id.as_deref())
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            write_error_naming(
                e,
                "a refresh token with this hash exists",
                "the family, client or user does not exist",
            )
        })?;
    Ok(())
}

/// Revokes a family and records it in the revocation feed (the last write of `tx`).
async fn revoke_family_in(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    family_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    // The family's row first (PostgreSQL: locked, waiting for a delegated family being started
    // from it to commit), then, in a statement of its own that sees such a family, the family
    // and every family delegated from it, however deep (token exchange).
    if backend == Backend::Postgres {
        sqlx::query("SELECT id FROM refresh_families WHERE id = $1 FOR UPDATE")
            .bind(family_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(store_error)?;
    }
    let rows = sqlx::query(
        "WITH RECURSIVE tree(id) AS (\
             SELECT id FROM refresh_families WHERE id = $1 \
             UNION SELECT f.id FROM refresh_families f JOIN tree t ON f.parent_id = t.id) \
         UPDATE refresh_families SET revoked_at = $2 \
         WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL RETURNING id",
    )
    .bind(family_id)
    .bind(millis(now))
    .fetch_all(&mut **tx)
    .await
    .map_err(store_error)?;
    let mut revoked = family_entries(&rows)?;
    if !revoked.is_empty() {
        // The family itself first, then its delegated families.
        revoked.sort_by_key(|r| *r != Revoked::Family(family_id.to_owned()));
        record_in(tx, backend, &revoked, now, None).await?;
    }
    Ok(())
}

/// Rows of `refresh_families` ids (column `id`) as revocation-feed entries.
pub(super) fn family_entries(rows: &[sqlx::any::AnyRow]) -> StoreResult<Vec<Revoked>> {
    rows.iter()
        .map(|r| {
            r.try_get::<String, _>("id")
                .map(Revoked::Family)
                .map_err(|e| crate::StoreError::Corrupt(format!("refresh_families.id: {e}")))
        })
        .collect()
}

/// The unrevoked families of a consent, as feed entries.
async fn live_families_in(
    tx: &mut Transaction<'static, Any>,
    consent_id: &str,
) -> StoreResult<Vec<Revoked>> {
    let rows =
        sqlx::query("SELECT id FROM refresh_families WHERE consent_id = $1 AND revoked_at IS NULL")
            .bind(consent_id)
            .fetch_all(&mut **tx)
            .await
            .map_err(store_error)?;
    family_entries(&rows)
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn insert_session(&self, s: &Session) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        sqlx::query(&sql)
            .bind(&s.hash[..])
            .bind(s.id.as_str())
            .bind(s.user_id.as_str())
            .bind(millis(s.auth_time))
            .bind(millis(s.expires_at))
            .bind(s.device.as_str())
            .bind(s.address.as_str())
            .bind(s.amr.stored())
            .execute(self.timed())
            .await
            .map_err(|e| write_error_naming(e, "a session with this hash or id exists", MISSING))?;
        Ok(())
    }

    async fn get_session(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Session>> {
        let sql =
            format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE hash = $1 AND expires_at > $2");
        let row = sqlx::query(&sql)
            .bind(&hash[..])
            .bind(millis(now))
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn delete_session(&self, hash: &[u8; 32]) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE hash = $1")
            .bind(&hash[..])
            .execute(self.timed())
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list_sessions(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND expires_at > $2 \
             ORDER BY auth_time DESC, id"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .bind(millis(now))
            .fetch_all(self.timed())
            .await
            .map_err(store_error)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn end_user_session(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(self.timed())
            .await
            .map_err(store_error)?
            .rows_affected();
        Ok(ended > 0)
    }

    async fn record_session_client(
        &self,
        session_id: &str,
        client_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO session_clients (session_id, client_id, user_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (session_id, client_id) DO NOTHING",
        )
        .bind(session_id)
        .bind(client_id)
        .bind(user_id)
        .bind(millis(now))
        .execute(self.timed())
        .await
        .map_err(|e| write_error_naming(e, "recorded already", MISSING))?;
        Ok(())
    }

    async fn take_ended_session_clients(
        &self,
        user_id: &str,
    ) -> StoreResult<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "DELETE FROM session_clients WHERE user_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM sessions s WHERE s.id = session_clients.session_id) \
             RETURNING session_id, user_id, client_id",
        )
        .bind(user_id)
        .fetch_all(self.timed())
        .await
        .map_err(store_error)?;
        session_client_rows(&rows)
    }

    async fn take_any_ended_session_clients(
        &self,
        limit: i64,
    ) -> StoreResult<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "DELETE FROM session_clients WHERE (session_id, client_id) IN \
             (SELECT c.session_id, c.client_id FROM session_clients c WHERE NOT EXISTS \
             (SELECT 1 FROM sessions s WHERE s.id = c.session_id) LIMIT $1) \
             RETURNING session_id, user_id, client_id",
        )
        .bind(limit)
        .fetch_all(self.timed())
        .await
        .map_err(store_error)?;
        session_client_rows(&rows)
    }

    async fn take_session_clients(
        &self,
        session_ids: &[String],
    ) -> StoreResult<Vec<(String, String, String)>> {
        let mut taken = Vec::new();
        for session_id in session_ids {
            let rows = sqlx::query(
                "DELETE FROM session_clients WHERE session_id = $1 \
                 RETURNING session_id, user_id, client_id",
            )
            .bind(session_id.as_str())
            .fetch_all(self.timed())
            .await
            .map_err(store_error)?;
            taken.extend(session_client_rows(&rows)?);
        }
        Ok(taken)
    }

    async fn end_user_sessions(&self, user_id: &str, keep: Option<&[u8; 32]>) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let ended = end_sessions_but(&mut tx, user_id, keep).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(ended)
    }

    async fn insert_code(&self, c: &AuthorizationCode) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO authorization_codes ({CODE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        sqlx::query(&sql)
            .bind(&c.hash[..])
            .bind(c.client_id.as_str())
            .bind(c.redirect_uri.as_str())
            .bind(c.code_challenge.as_deref())
            .bind(c.user_id.as_str())
            .bind(c.organization_id.as_deref())
            .bind(c.scope.as_str())
            .bind(c.nonce.as_deref())
            .bind(crate::rows::audience_text(c.resources.as_ref()))
            .bind(millis(c.auth_time))
            .bind(c.consent_id.as_str())
            .bind(c.family_id.as_str())
            .bind(millis(c.created_at))
            .bind(millis(c.expires_at))
            .bind(c.dpop_jkt.as_deref())
            .bind(c.amr.stored())
            .bind(c.session_id.as_deref())
            .execute(self.timed())
            .await
            .map_err(|e| write_error_naming(e, "a code with this hash exists", MISSING))?;
        Ok(())
    }

    async fn redeem_code(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<CodeRedemption> {
        let mut tx = self.begin_write().await?;
        // The conditional UPDATE is the single-use decision: of two concurrent redemptions,
        // only one finds `used_at` still NULL.
        let sql = format!(
            "UPDATE authorization_codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL \
             RETURNING {CODE_COLUMNS}"
        );
        let fresh = sqlx::query(&sql)
            .bind(&hash[..])
            .bind(millis(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let answer = if let Some(row) = fresh {
            let code = code_from_row(&row)?;
            sqlx::query(
                "INSERT INTO refresh_families (id, consent_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(code.family_id.as_str())
            .bind(code.consent_id.as_str())
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error_naming(e, "the family exists", MISSING))?;
            CodeRedemption::Fresh(code)
        } else {
            let sql = format!("SELECT {CODE_COLUMNS} FROM authorization_codes WHERE hash = $1");
            let row = sqlx::query(&sql)
                .bind(&hash[..])
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
            match row {
                Some(row) => CodeRedemption::Replayed(code_from_row(&row)?),
                None => CodeRedemption::Unknown,
            }
        };
        tx.commit().await.map_err(store_error)?;
        Ok(answer)
    }

    async fn find_code(&self, hash: &[u8; 32]) -> StoreResult<Option<AuthorizationCode>> {
        let sql = format!(
            "SELECT {CODE_COLUMNS} FROM authorization_codes WHERE hash = $1 AND used_at IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(&hash[..])
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(code_from_row).transpose()
    }

    async fn record_consent(&self, consent: &Consent) -> StoreResult<Consent> {
        let mut tx = self.begin_write().await?;
        // Inserting first (a no-op when the party has a consent) makes a concurrent first
        // approval wait on the unique index instead of creating a second consent.
        let sql = format!(
            "INSERT INTO consents ({CONSENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT DO NOTHING"
        );
        sqlx::query(&sql)
            .bind(consent.id.as_str())
            .bind(consent.user_id.as_str())
            .bind(consent.client_id.as_str())
            .bind(consent.organization_id.as_deref())
            .bind(consent.scope.as_str())
            .bind(millis(consent.created_at))
            .bind(millis(consent.updated_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error_naming(e, "a consent with this id exists", MISSING))?;
        let Some(mut stored) = self.find_consent_in(&mut tx, consent).await? else {
            // The id was taken by a consent of another party.
            return Err(crate::StoreError::Conflict("a consent with this id exists"));
        };
        let widened = scope_union(&stored.scope, &consent.scope);
        if widened != stored.scope {
            sqlx::query("UPDATE consents SET scope = $2, updated_at = $3 WHERE id = $1")
                .bind(stored.id.as_str())
                .bind(widened.as_str())
                .bind(millis(consent.updated_at))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            stored.scope = widened;
            stored.updated_at = consent.updated_at;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(stored)
    }

    async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
        organization_id: Option<&str>,
    ) -> StoreResult<Option<Consent>> {
        let sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE user_id = $1 AND client_id = $2 \
             AND COALESCE(organization_id, '') = $3"
        );
        let row = sqlx::query(&sql)
            .bind(user_id)
            .bind(client_id)
            .bind(organization_id.unwrap_or(""))
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(consent_from_row).transpose()
    }

    async fn get_consent(&self, id: &str) -> StoreResult<Option<Consent>> {
        let sql = format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(consent_from_row).transpose()
    }

    async fn consents_of_user(&self, user_id: &str) -> StoreResult<Vec<Consent>> {
        let sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .fetch_all(self.timed())
            .await
            .map_err(store_error)?;
        rows.iter().map(consent_from_row).collect()
    }

    async fn revoke_consent(
        &self,
        user_id: &str,
        consent_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT client_id FROM consents WHERE id = $1 AND user_id = $2{}",
            self.for_update()
        );
        let found = sqlx::query(&sql)
            .bind(consent_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let Some(found) = found else {
            return Ok(false);
        };
        let client_id: String = found
            .try_get("client_id")
            .map_err(|e| crate::StoreError::Corrupt(format!("consents.client_id: {e}")))?;
        let mut entries = live_families_in(&mut tx, consent_id).await?;
        entries.push(Revoked::ConnectedApp {
            client_id,
            user_id: user_id.to_owned(),
        });
        // Revoked first, then deleted with what hangs off the consent: a family that is no
        // longer stored counts as revoked. Explicit deletes keep this independent of the
        // connection's foreign-key setting.
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = $2 WHERE consent_id = $1 \
             AND revoked_at IS NULL",
        )
        .bind(consent_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        for sql in [
            "DELETE FROM refresh_tokens WHERE family_id IN \
             (SELECT id FROM refresh_families WHERE consent_id = $1)",
            "DELETE FROM refresh_families WHERE consent_id = $1",
            "DELETE FROM authorization_codes WHERE consent_id = $1",
            "DELETE FROM consents WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(consent_id)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        record_in(&mut tx, self.backend, &entries, now, None).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn is_consent_revoked(&self, consent_id: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM consents WHERE id = $1")
            .bind(consent_id)
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        Ok(row.is_none())
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_refresh_in(&mut tx, token).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        hash: &[u8; 32],
        new: &RefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshUse> {
        let mut tx = self.begin_write().await?;
        // Locking the presented row serialises concurrent presentations of one token: the
        // second reads it rotated and is treated as reuse.
        let sql = format!(
            "SELECT {REFRESH_COLUMNS}, rotated_at FROM refresh_tokens WHERE hash = $1{}",
            self.for_update()
        );
        let Some(row) = sqlx::query(&sql)
            .bind(&hash[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?
        else {
            return Ok(RefreshUse::Unknown);
        };
        let old = refresh_from_row(&row)?;
        let rotated: Option<i64> = row
            .try_get("rotated_at")
            .map_err(|e| crate::StoreError::Corrupt(format!("rotated_at: {e}")))?;
        let family = sqlx::query("SELECT revoked_at FROM refresh_families WHERE id = $1")
            .bind(old.family_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let family_live = match family {
            Some(f) => f
                .try_get::<Option<i64>, _>("revoked_at")
                .map_err(|e| crate::StoreError::Corrupt(format!("revoked_at: {e}")))?
                .is_none(),
            None => false,
        };
        let answer = if !family_live {
            RefreshUse::Dead
        } else if rotated.is_some() {
            revoke_family_in(&mut tx, self.backend, &old.family_id, now).await?;
            RefreshUse::Reused(old)
        } else if old.expires_at <= now {
            RefreshUse::Dead
        } else {
            sqlx::query("UPDATE refresh_tokens SET rotated_at = $2 WHERE hash = $1")
                .bind(&hash[..])
                .bind(millis(now))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            insert_refresh_in(&mut tx, new).await?;
            RefreshUse::Rotated(old)
        };
        tx.commit().await.map_err(store_error)?;
        Ok(answer)
    }

    async fn find_refresh_token(&self, hash: &[u8; 32]) -> StoreResult<Option<RefreshToken>> {
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE hash = $1");
        let row = sqlx::query(&sql)
            .bind(&hash[..])
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(refresh_from_row).transpose()
    }

    async fn find_current_refresh_token(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<RefreshToken>> {
        let sql = format!(
            "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE hash = $1 \
             AND rotated_at IS NULL AND expires_at > $2 AND family_id IN \
             (SELECT id FROM refresh_families WHERE revoked_at IS NULL)"
        );
        let row = sqlx::query(&sql)
            .bind(&hash[..])
            .bind(millis(now))
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(refresh_from_row).transpose()
    }

    async fn insert_family(
        &self,
        family_id: &str,
        consent_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_families (id, consent_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(family_id)
        .bind(consent_id)
        .bind(millis(now))
        .execute(self.timed())
        .await
        .map_err(|e| write_error_naming(e, "a family with this id exists", MISSING))?;
        Ok(())
    }

    async fn revoke_refresh_family(&self, family_id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        revoke_family_in(&mut tx, self.backend, family_id, now).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn revoke_families_of_session(
        &self,
        session_id: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let families: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT family_id FROM refresh_tokens \
             WHERE session_id = $1 AND client_id = $2",
        )
        .bind(session_id)
        .bind(client_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        for family in &families {
            revoke_family_in(&mut tx, self.backend, family, now).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(u64::try_from(families.len()).unwrap_or(u64::MAX))
    }

    async fn consent_of_live_family(&self, family_id: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar(
            "SELECT consent_id FROM refresh_families WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .fetch_optional(self.timed())
        .await
        .map_err(store_error)
    }

    async fn insert_child_family(
        &self,
        family_id: &str,
        parent_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // The parent's row is locked (PostgreSQL: shared) while the child is stored, so a
        // revocation of the parent either comes first (and no child is started) or waits and
        // then sees the child.
        let mut tx = self.begin_write().await?;
        let share = self.for_share();
        let live = sqlx::query(&format!(
            "SELECT consent_id FROM refresh_families WHERE id = $1 AND revoked_at IS NULL{share}"
        ))
        .bind(parent_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some(row) = live else {
            return Ok(false);
        };
        let consent: String = row.try_get("consent_id").map_err(store_error)?;
        sqlx::query(
            "INSERT INTO refresh_families (id, consent_id, parent_id, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(family_id)
        .bind(consent)
        .bind(parent_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error_naming(e, "a family with this id exists", MISSING))?;
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn is_family_revoked(&self, family_id: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT revoked_at FROM refresh_families WHERE id = $1")
            .bind(family_id)
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        match row {
            None => Ok(true),
            Some(r) => Ok(r
                .try_get::<Option<i64>, _>("revoked_at")
                .map_err(|e| crate::StoreError::Corrupt(format!("revoked_at: {e}")))?
                .is_some()),
        }
    }

    async fn revoke_families_of_consent(
        &self,
        consent_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let entries = live_families_in(&mut tx, consent_id).await?;
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = $2 WHERE consent_id = $1 \
             AND revoked_at IS NULL",
        )
        .bind(consent_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        record_in(&mut tx, self.backend, &entries, now, None).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }
}
