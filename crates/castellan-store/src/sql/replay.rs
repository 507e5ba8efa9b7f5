//! One-time ids (replay protection): an atomic insert-if-absent by key.

use super::purge::BATCH;
use super::SqlStore;
use crate::error::store_error;
use crate::rows::millis;
use crate::{ReplayStore, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl ReplayStore for SqlStore {
    async fn first_use(
        &self,
        key: &[u8; 32],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // A row past its expiry (not yet purged) is taken over: the id may be used again.
        let inserted = sqlx::query(
            "INSERT INTO used_ids (key, expires_at) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE used_ids.expires_at <= $3",
        )
        .bind(&key[..])
        .bind(millis(expires_at))
        .bind(millis(now))
        .execute(self.timed())
        .await
        .map_err(store_error)?
        .rows_affected();
        Ok(inserted > 0)
    }

    async fn purge_used_ids(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.purge_batched("used_ids", "expires_at <= $1", &[millis(now)], BATCH)
            .await
    }
}
