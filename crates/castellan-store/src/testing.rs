//! Helpers for tests, in this crate and others: a fresh, empty PostgreSQL schema per test, so
//! that tests run in parallel against one database without seeing each other's rows.
//!
//! The schema is selected through the connection's `search_path`, set in the returned URL
//! (`options=-c search_path=<schema>`), so every pooled connection uses it and migrations
//! create their tables (and sqlx's `_sqlx_migrations`) there.

use crate::error::store_error;
use crate::{StoreError, StoreResult};
use sqlx::{Connection, Executor};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// A schema made for one test, and the URL whose connections use it.
#[derive(Debug, Clone)]
pub struct TestSchema {
    /// The schema's name.
    pub name: String,
    /// The database URL with this schema on the search path.
    pub url: String,
}

/// Creates an empty schema in the database at `base` (a `postgres://` URL) and answers a URL
/// whose connections use it. Panics when PostgreSQL cannot be reached: a test told to use a
/// database must fail, not skip.
pub async fn fresh_postgres_url(base: &str) -> String {
    match fresh_postgres_schema(base).await {
        Ok(s) => s.url,
        Err(e) => panic!("cannot create a test schema on PostgreSQL: {e}"),
    }
}

/// Like [`fresh_postgres_url`], answering the schema name too (for [`drop_postgres_schema`]).
pub async fn fresh_postgres_schema(base: &str) -> StoreResult<TestSchema> {
    let name = unique_schema_name();
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .map_err(store_error)?;
    conn.execute(format!("CREATE SCHEMA \"{name}\"").as_str())
        .await
        .map_err(store_error)?;
    conn.close().await.map_err(store_error)?;
    let mut url = url::Url::parse(base)
        .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("options", &format!("-c search_path={name}"));
    Ok(TestSchema {
        name,
        url: url.into(),
    })
}

/// Drops a schema made by [`fresh_postgres_schema`], with everything in it.
pub async fn drop_postgres_schema(base: &str, name: &str) -> StoreResult<()> {
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(StoreError::Unavailable(
            "not a schema name made by fresh_postgres_schema".to_owned(),
        ));
    }
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .map_err(store_error)?;
    conn.execute(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE").as_str())
        .await
        .map_err(store_error)?;
    conn.close().await.map_err(store_error)?;
    Ok(())
}

/// `castellan_test_<pid>_<n>_<random>`: unique within the process by the counter, across
/// processes and runs by the pid and the randomly keyed hash.
fn unique_schema_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    format!(
        "castellan_test_{}_{n}_{:016x}",
        std::process::id(),
        h.finish()
    )
}
