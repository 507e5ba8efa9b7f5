//! API keys: found by hash, listed by owner, status changes and atomic rotation.

use super::SqlStore;
use crate::api_keys::{ApiKey, ApiKeyOwner, ApiKeyStatus, ApiKeyStore};
use crate::error::{store_error, write_error};
use crate::rows::{days, from_days, from_millis, millis};
use crate::{Page, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

const COLUMNS: &str = "id, hash, visible_prefix, last_four, name, scope, organization_id, tier, \
    created_at, created_by, last_used_at, expires_at, status, rotated_from";

fn corrupt(column: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("api_keys.{column}: {what}"))
}

fn get<'r, T>(row: &'r AnyRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(column).map_err(|e| corrupt(column, e))
}

fn from_row(row: &AnyRow) -> StoreResult<ApiKey> {
    let hash: Vec<u8> = get(row, "hash")?;
    let status: String = get(row, "status")?;
    Ok(ApiKey {
        id: get(row, "id")?,
        hash: <[u8; 32]>::try_from(hash.as_slice())
            .map_err(|_| corrupt("hash", "expected 32 bytes"))?,
        visible_prefix: get(row, "visible_prefix")?,
        last_four: get(row, "last_four")?,
        name: get(row, "name")?,
        scope: get(row, "scope")?,
        organization_id: get(row, "organization_id")?,
        tier: get(row, "tier")?,
        created_at: from_millis(get(row, "created_at")?, "created_at")?,
        created_by: get(row, "created_by")?,
        last_used_at: get::<Option<i64>>(row, "last_used_at")?
            .map(|d| from_days(d, "last_used_at"))
            .transpose()?,
        expires_at: get::<Option<i64>>(row, "expires_at")?
            .map(|t| from_millis(t, "expires_at"))
            .transpose()?,
        status: status
            .parse()
            .map_err(|()| corrupt("status", "unknown status"))?,
        rotated_from: get(row, "rotated_from")?,
    })
}

async fn insert<'e, E>(executor: E, key: &ApiKey) -> StoreResult<()>
where
    E: Executor<'e, Database = Any>,
{
    let sql = format!(
        "INSERT INTO api_keys ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    );
    sqlx::query(&sql)
        .bind(key.id.as_str())
        .bind(&key.hash[..])
        .bind(key.visible_prefix.as_str())
        .bind(key.last_four.as_str())
        .bind(key.name.as_str())
        .bind(key.scope.as_str())
        .bind(key.organization_id.as_deref())
        .bind(key.tier.as_str())
        .bind(millis(key.created_at))
        .bind(key.created_by.as_str())
        .bind(key.last_used_at.map(days))
        .bind(key.expires_at.map(millis))
        .bind(key.status.as_str())
        .bind(key.rotated_from.as_deref())
        .execute(executor)
        .await
        .map_err(|e| write_error(e, "an API key with this id or hash exists"))?;
    Ok(())
}

#[async_trait]
impl ApiKeyStore for SqlStore {
    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        insert(self.timed(), key).await
    }

    async fn find_api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE hash = $1");
        let row = sqlx::query(&sql)
            .bind(&hash[..])
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKey>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.timed())
            .await
            .map_err(store_error)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn list_api_keys(
        &self,
        owner: &ApiKeyOwner,
        limit: u32,
        offset: u32,
        with_total: bool,
    ) -> StoreResult<Page<ApiKey>> {
        let (filter, value) = match owner {
            ApiKeyOwner::Organization(o) => ("organization_id = $1", Some(o.as_str())),
            ApiKeyOwner::Creator(c) => ("created_by = $1", Some(c.as_str())),
            ApiKeyOwner::All => ("1 = 1", None),
        };
        let n = if value.is_some() { 2 } else { 1 };
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys WHERE {filter} ORDER BY created_at, id \
             LIMIT ${n} OFFSET ${}",
            n + 1
        );
        let mut q = sqlx::query(&sql);
        if let Some(v) = value {
            q = q.bind(v);
        }
        let rows = q
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(self.timed())
            .await
            .map_err(store_error)?;
        let results = rows.iter().map(from_row).collect::<StoreResult<_>>()?;
        if !with_total {
            return Ok(Page {
                results,
                total: None,
            });
        }
        let count_sql = format!("SELECT COUNT(*) AS n FROM api_keys WHERE {filter}");
        let mut c = sqlx::query(&count_sql);
        if let Some(v) = value {
            c = c.bind(v);
        }
        let total: i64 = c
            .fetch_one(self.timed())
            .await
            .map_err(store_error)?
            .try_get("n")
            .map_err(|e| corrupt("count", e))?;
        Ok(Page {
            results,
            total: Some(u64::try_from(total).unwrap_or(0)),
        })
    }

    async fn set_api_key_status(&self, id: &str, status: ApiKeyStatus) -> StoreResult<bool> {
        let updated =
            sqlx::query("UPDATE api_keys SET status = $2 WHERE id = $1 AND status <> 'revoked'")
                .bind(id)
                .bind(status.as_str())
                .execute(self.timed())
                .await
                .map_err(store_error)?
                .rows_affected();
        Ok(updated > 0)
    }

    async fn rotate_api_key(&self, old_id: &str, new: &ApiKey) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let revoked = sqlx::query(
            "UPDATE api_keys SET status = 'revoked' WHERE id = $1 AND status <> 'revoked'",
        )
        .bind(old_id)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if revoked == 0 {
            tx.rollback().await.map_err(store_error)?;
            return Ok(false);
        }
        insert(&mut *tx, new).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn record_api_key_use(&self, id: &str, day: NaiveDate) -> StoreResult<()> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 \
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(id)
        .bind(days(day))
        .execute(self.timed())
        .await
        .map_err(store_error)?;
        Ok(())
    }
}
