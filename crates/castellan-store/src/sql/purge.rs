//! Purges of expired rows in batches. Each batch is one short statement (its own transaction),
//! so a purge of millions of rows — after a long outage, a retention change or a burst of
//! short-lived tokens — never holds SQLite's write lock or PostgreSQL's row locks for longer
//! than one batch: requests are served between batches instead of waiting behind the purge.

use super::SqlStore;
use crate::error::store_error;
use crate::{Backend, StoreResult};

/// Rows deleted per statement.
pub(crate) const BATCH: i64 = 5_000;

impl SqlStore {
    /// Deletes the rows of `table` matching `condition` (its placeholders `$1`… bound to
    /// `binds` in order) at most `batch` at a time, until none is left; answers how many.
    /// `table` and `condition` are Castellan's own text, never a caller's.
    pub(crate) async fn purge_batched(
        &self,
        table: &'static str,
        condition: &'static str,
        binds: &[i64],
        batch: i64,
    ) -> StoreResult<u64> {
        // The physical row id: every table has one, whatever its key.
        let row = match self.backend {
            Backend::Sqlite => "rowid",
            Backend::Postgres => "ctid",
        };
        let limit = binds.len() + 1;
        let sql = format!(
            "DELETE FROM {table} WHERE {row} IN \
             (SELECT {row} FROM {table} WHERE ({condition}) LIMIT ${limit})"
        );
        let mut total = 0;
        loop {
            let mut q = sqlx::query(&sql);
            for b in binds {
                q = q.bind(*b);
            }
            let deleted = q
                .bind(batch)
                .execute(self.timed())
                .await
                .map_err(store_error)?
                .rows_affected();
            total += deleted;
            if deleted < u64::try_from(batch).unwrap_or(0) {
                return Ok(total);
            }
            // Let the requests waiting on this runtime go first.
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_purge_takes_every_matching_row_in_batches_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("purge.db").display());
        let store = crate::connect(&url).await.unwrap();
        for i in 0..23i64 {
            sqlx::query("INSERT INTO used_ids (key, expires_at) VALUES ($1, $2)")
                .bind(i.to_be_bytes().to_vec())
                .bind(if i < 17 { 10 } else { 1_000 })
                .execute(store.pool())
                .await
                .unwrap();
        }
        // 17 expired rows in batches of 4: four full batches, then one of 1.
        let deleted = store
            .purge_batched("used_ids", "expires_at <= $1", &[100], 4)
            .await
            .unwrap();
        assert_eq!(deleted, 17);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM used_ids")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(left, 6);
        let again = store
            .purge_batched("used_ids", "expires_at <= $1", &[100], 4)
            .await
            .unwrap();
        assert_eq!(again, 0);
    }
}
