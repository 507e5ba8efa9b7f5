//! The one SQL implementation of the store traits, shared by SQLite and PostgreSQL.
//!
//! Statements use `$n` placeholders, which both sqlx drivers accept, so one text serves both
//! backends. The only dialect difference is how a writing transaction starts (see
//! [`SqlStore::begin_write`]). Each file holds the statements of one trait.

mod api_keys;
mod apps;
mod audit;
mod clients;
mod device;
mod factors;
mod grants;
mod keys;
mod links;
mod people;
mod purge;
mod pushed;
mod replay;
pub(crate) mod revocations;
pub mod timed;
mod tokens;

use crate::error::store_error;
use crate::predicate::Bind;
use crate::{Backend, Store, StoreResult};
use async_trait::async_trait;
use sqlx::any::AnyArguments;
use sqlx::{Any, AnyPool, Transaction};

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// The store over a pool of SQLite or PostgreSQL connections (see [`crate::connect`]).
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for SqlStore {
    // The pool's own Debug shows connect options, which may include a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend)
            .field("connections", &self.pool.size())
            .finish()
    }
}

impl SqlStore {
    pub(crate) fn new(pool: AnyPool, backend: Backend) -> Self {
        SqlStore { pool, backend }
    }

    /// The underlying pool, for tests and tooling that inspect what is stored.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Writes a consistent copy of the SQLite database to `path` while it is in use
    /// (`VACUUM INTO`: one self-contained file, a full backup; the file must not exist). A
    /// PostgreSQL deployment is copied with `pg_dump` instead: `Ok(false)`, nothing written.
    pub async fn backup_into(&self, path: &str) -> StoreResult<bool> {
        match self.backend {
            Backend::Postgres => Ok(false),
            Backend::Sqlite => {
                sqlx::query("VACUUM INTO $1")
                    .bind(path)
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                Ok(true)
            }
        }
    }

    /// The pool with every statement timed (see [`timed`]): what the store's own statements
    /// run on.
    pub(crate) fn timed(&self) -> timed::Timed<'_> {
        timed::Timed(&self.pool)
    }

    /// Starts a transaction that will write. SQLite's default `BEGIN` takes the write lock
    /// only at the first write, and a reader that then writes fails with "database is
    /// locked" instead of waiting; `BEGIN IMMEDIATE` takes it up front, so the busy timeout
    /// applies. PostgreSQL locks rows as it goes.
    /// Shared row lock for a read that must wait for a write in progress (PostgreSQL); SQLite
    /// runs one writer at a time.
    pub(crate) fn for_share(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR SHARE",
            Backend::Sqlite => "",
        }
    }

    pub(crate) async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        let _watch = timed::Stopwatch::start("begin");
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.map_err(store_error)
    }
}

/// Binds rendered predicate values in placeholder order.
pub(crate) fn bind_all<'q>(mut q: AnyQuery<'q>, binds: &'q [Bind]) -> AnyQuery<'q> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    fn backend(&self) -> Backend {
        self.backend
    }
}
