//! Storage latency, measured where every statement meets the database: a statement run on the
//! pool is timed from its start to its last row into the histogram
//! `castellan_storage_seconds{kind="statement"}`, and the start of a write transaction (the
//! wait for SQLite's write lock, or PostgreSQL's `BEGIN`) into `kind="begin"`. Statements
//! inside a transaction are part of the action that opened it and are not timed apart.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::{Any, AnyPool, Describe, Either, Execute, Executor};
use std::time::Instant;

/// The histogram of storage latency.
pub const STORAGE_SECONDS: &str = "castellan_storage_seconds";

/// Records the time since it was made when dropped.
pub(crate) struct Stopwatch {
    started: Instant,
    kind: &'static str,
}

impl Stopwatch {
    /// Starts timing something of `kind`.
    pub(crate) fn start(kind: &'static str) -> Stopwatch {
        Stopwatch {
            started: Instant::now(),
            kind,
        }
    }
}

impl Drop for Stopwatch {
    fn drop(&mut self) {
        metrics::histogram!(STORAGE_SECONDS, "kind" => self.kind)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// The pool, with every statement run on it timed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timed<'p>(pub(crate) &'p AnyPool);

impl<'p> Executor<'p> for Timed<'p> {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let watch = Stopwatch::start("statement");
        self.0
            .fetch_many(query)
            .map(move |item| {
                let _ = &watch;
                item
            })
            .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let watch = Stopwatch::start("statement");
        let answer = self.0.fetch_optional(query);
        async move {
            let row = answer.await;
            drop(watch);
            row
        }
        .boxed()
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.0.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.0.describe(sql)
    }
}
