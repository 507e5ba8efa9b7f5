//! SQLite WAL checkpoints off the request path.
//!
//! In WAL mode a commit appends pages to the write-ahead log; a checkpoint copies them back
//! into the database file and syncs it. By default SQLite runs that checkpoint in-line, in
//! whichever commit makes the log pass 1 000 pages, so one request in every few hundred writes
//! waits for a file sync (measured by `bench/soak.sh`: the slow requests came in step with the
//! checkpoints). A store on a SQLite file therefore runs its own checkpointer: a task with a
//! connection of its own that runs a `PASSIVE` checkpoint every [`CHECKPOINT_EVERY`] (it takes
//! no lock and never waits for readers or the writer). The connections that serve requests
//! keep an in-line checkpoint only as a safety net, at [`INLINE_CHECKPOINT_PAGES`], should the
//! task fall behind.
//!
//! The task lives as long as the store: it holds a weak reference and stops once the store is
//! dropped or its pool closed.

use crate::sql::SqlStore;
use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions, Connection, Executor};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the checkpointer runs.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The log size (in pages) at which a committing connection checkpoints in-line anyway: ten
/// times SQLite's default, reached only if the checkpointer falls behind.
pub(crate) const INLINE_CHECKPOINT_PAGES: u32 = 10_000;

/// The size a log file is truncated back to after a checkpoint that emptied it.
pub(crate) const JOURNAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Starts the checkpointer of `store`, which must be on a SQLite file.
pub(crate) fn spawn(store: &Arc<SqlStore>, options: AnyConnectOptions) {
    let store = Arc::downgrade(store);
    tokio::spawn(run(store, options));
}

async fn run(store: Weak<SqlStore>, options: AnyConnectOptions) {
    let mut conn: Option<AnyConnection> = None;
    let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match store.upgrade() {
            Some(s) if !s.pool().is_closed() => {}
            _ => break,
        }
        if conn.is_none() {
            match options.connect().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %crate::error::store_error(e), "checkpointer cannot connect");
                    continue;
                }
            }
        }
        if let Some(c) = conn.as_mut() {
            if let Err(e) = c.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(error = %crate::error::store_error(e), "checkpoint failed");
                conn = None;
            }
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}
