//! Pushed authorization requests (RFC 9126), by the hash of their `request_uri`.

use super::purge::BATCH;
use super::SqlStore;
use crate::error::{store_error, write_error};
use crate::pushed::{PushedRequest, PushedRequestStore};
use crate::rows::{from_millis, millis};
use crate::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

#[async_trait]
impl PushedRequestStore for SqlStore {
    async fn insert_pushed_request(&self, r: &PushedRequest) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO pushed_requests (hash, client_id, parameters, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&r.hash[..])
        .bind(r.client_id.as_str())
        .bind(r.parameters.as_str())
        .bind(millis(r.created_at))
        .bind(millis(r.expires_at))
        .execute(self.timed())
        .await
        .map_err(|e| write_error(e, "a pushed request with this hash exists"))?;
        Ok(())
    }

    async fn get_pushed_request(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PushedRequest>> {
        let row = sqlx::query(
            "SELECT client_id, parameters, created_at, expires_at FROM pushed_requests \
             WHERE hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(&hash[..])
        .bind(millis(now))
        .fetch_optional(self.timed())
        .await
        .map_err(store_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let get = |c: &str| -> StoreResult<i64> {
            row.try_get(c)
                .map_err(|e| crate::StoreError::Corrupt(format!("{c}: {e}")))
        };
        Ok(Some(PushedRequest {
            hash: *hash,
            client_id: row
                .try_get("client_id")
                .map_err(|e| crate::StoreError::Corrupt(format!("client_id: {e}")))?,
            parameters: row
                .try_get("parameters")
                .map_err(|e| crate::StoreError::Corrupt(format!("parameters: {e}")))?,
            created_at: from_millis(get("created_at")?, "created_at")?,
            expires_at: from_millis(get("expires_at")?, "expires_at")?,
        }))
    }

    async fn use_pushed_request(
        &self,
        hash: &[u8; 32],
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // The conditional UPDATE is the single-use decision: of two concurrent uses, only one
        // finds `used_at` still NULL.
        let used = sqlx::query(
            "UPDATE pushed_requests SET used_at = $3 \
             WHERE hash = $1 AND client_id = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(&hash[..])
        .bind(client_id)
        .bind(millis(now))
        .execute(self.timed())
        .await
        .map_err(store_error)?
        .rows_affected();
        Ok(used == 1)
    }

    async fn purge_pushed_requests(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.purge_batched("pushed_requests", "expires_at <= $1", &[millis(now)], BATCH)
            .await
    }
}
