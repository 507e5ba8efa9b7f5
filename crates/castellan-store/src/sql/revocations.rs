//! The revocation feed: entries written in the transaction that revokes, read
//! by cursor.
//!
//! The cursor is the entry's id, so ids must become visible in increasing order: otherwise a
//! reader could see id 11 committed, move its cursor past it, and never see id 10 committed a
//! moment later. SQLite has one writer at a time. On PostgreSQL a writer locks the table
//! (`EXCLUSIVE`: readers go on, writers of entries wait) before taking ids and keeps the lock
//! until it commits. Entries are the last thing a transaction writes, so a transaction holding
//! that lock never waits for another lock and the lock cannot take part in a deadlock.

use super::purge::BATCH;
use super::SqlStore;
use crate::error::store_error;
use crate::rows::{from_millis, millis};
use crate::{Backend, Revocation, RevocationStore, StoreResult};
use async_trait::async_trait;
use castellan_core::revocation::Revoked;
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};

/// Writes `entries` in `tx` (call it last in the transaction, see the module's doc).
pub(crate) async fn record_in(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    entries: &[Revoked],
    now: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if backend == Backend::Postgres {
        sqlx::query("LOCK TABLE revocations IN EXCLUSIVE MODE")
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
    }
    for entry in entries {
        sqlx::query(
            "INSERT INTO revocations (kind, value, subject, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(entry.kind())
        .bind(entry.value())
        .bind(entry.subject())
        .bind(millis(now))
        .bind(expires_at.map(millis))
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

#[async_trait]
impl RevocationStore for SqlStore {
    async fn revocations_since(&self, cursor: i64, limit: u32) -> StoreResult<Vec<Revocation>> {
        let rows = sqlx::query(
            "SELECT id, kind, value, subject, created_at, expires_at FROM revocations \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(cursor)
        .bind(i64::from(limit))
        .fetch_all(self.timed())
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                let get_text = |c: &str| -> StoreResult<String> {
                    row.try_get::<String, _>(c)
                        .map_err(|e| crate::StoreError::Corrupt(format!("revocations.{c}: {e}")))
                };
                let id: i64 = row
                    .try_get("id")
                    .map_err(|e| crate::StoreError::Corrupt(format!("revocations.id: {e}")))?;
                let subject: Option<String> = row
                    .try_get("subject")
                    .map_err(|e| crate::StoreError::Corrupt(format!("revocations.subject: {e}")))?;
                let kind = get_text("kind")?;
                let revoked = Revoked::from_parts(&kind, &get_text("value")?, subject.as_deref())
                    .ok_or_else(|| {
                    crate::StoreError::Corrupt(format!("revocations.kind {kind:?}"))
                })?;
                let created: i64 = row.try_get("created_at").map_err(|e| {
                    crate::StoreError::Corrupt(format!("revocations.created_at: {e}"))
                })?;
                let expires: Option<i64> = row.try_get("expires_at").map_err(|e| {
                    crate::StoreError::Corrupt(format!("revocations.expires_at: {e}"))
                })?;
                Ok(Revocation {
                    cursor: id,
                    revoked,
                    created_at: from_millis(created, "revocations.created_at")?,
                    expires_at: expires
                        .map(|e| from_millis(e, "revocations.expires_at"))
                        .transpose()?,
                })
            })
            .collect()
    }

    async fn record_revocations(
        &self,
        entries: &[Revoked],
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        record_in(&mut tx, self.backend, entries, now, expires_at).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn purge_revocations(
        &self,
        now: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> StoreResult<u64> {
        // Ids are never handed out again once deleted (SQLite AUTOINCREMENT, a PostgreSQL
        // sequence), so a reader's cursor stays meaningful.
        self.purge_batched(
            "revocations",
            "expires_at <= $1 OR created_at <= $2",
            &[millis(now), millis(created_before)],
            BATCH,
        )
        .await
    }
}
