//! Signing keys: the current key of each algorithm, rotation, and the retired keys
//! still published in the JWKS.

use super::SqlStore;
use crate::error::{store_error, write_error};
use crate::rows::{key_from_row, millis, KEY_COLUMNS};
use crate::{SigningKeyStore, StoreResult, StoredKey};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

const KID_TAKEN: &str = "a signing key with this kid exists";

#[async_trait]
impl SigningKeyStore for SqlStore {
    async fn list_signing_keys(&self, now: DateTime<Utc>) -> StoreResult<Vec<StoredKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys WHERE expires_at IS NULL OR expires_at > $1 \
             ORDER BY created_at DESC, kid DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(millis(now))
            .fetch_all(self.timed())
            .await
            .map_err(store_error)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn insert_first_signing_key(&self, key: &StoredKey) -> StoreResult<bool> {
        // The NOT EXISTS answers the common case; the partial unique index on current keys
        // (`signing_keys_one_current_per_alg`) settles a race between replicas, the loser
        // inserting nothing.
        let sql = format!(
            "INSERT INTO signing_keys ({KEY_COLUMNS}) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS \
             (SELECT 1 FROM signing_keys WHERE alg = $2 AND retired_at IS NULL) \
             ON CONFLICT (alg) WHERE retired_at IS NULL DO NOTHING"
        );
        let inserted = sqlx::query(&sql)
            .bind(key.kid.as_str())
            .bind(key.alg.as_str())
            .bind(key.private_pkcs8.expose())
            .bind(millis(key.created_at))
            .bind(key.retired_at.map(millis))
            .bind(key.expires_at.map(millis))
            .execute(self.timed())
            .await
            .map_err(|e| write_error(e, KID_TAKEN))?
            .rows_affected();
        Ok(inserted > 0)
    }

    async fn rotate_signing_key(
        &self,
        key: &StoredKey,
        keep_until: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1, expires_at = $2 \
             WHERE alg = $3 AND retired_at IS NULL",
        )
        .bind(millis(key.created_at))
        .bind(millis(keep_until))
        .bind(key.alg.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let sql =
            format!("INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
        sqlx::query(&sql)
            .bind(key.kid.as_str())
            .bind(key.alg.as_str())
            .bind(key.private_pkcs8.expose())
            .bind(millis(key.created_at))
            .bind(key.retired_at.map(millis))
            .bind(key.expires_at.map(millis))
            .execute(&mut *tx)
            .await
            // A unique violation here is either the kid or a concurrent rotation that made
            // another key current first; either way this rotation did not happen.
            .map_err(|e| {
                write_error(
                    e,
                    "the signing key was rotated concurrently or its kid exists",
                )
            })?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn purge_signing_keys(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let deleted = sqlx::query("DELETE FROM signing_keys WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(self.timed())
            .await
            .map_err(store_error)?
            .rows_affected();
        Ok(deleted)
    }
}
