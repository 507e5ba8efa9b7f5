//! How database errors become [`StoreError`]s: key violations are conflicts, unreadable rows
//! are corruption, everything else means the database is unavailable. Messages name what
//! failed, never the values involved or the connection URL (which may hold a password).

use crate::StoreError;
use sqlx::error::ErrorKind;

/// Maps an error of a write whose unique key may be taken: a unique violation becomes
/// `Conflict(taken)`, a missing referenced client `Conflict("the client does not exist")`.
pub(crate) fn write_error(e: sqlx::Error, taken: &'static str) -> StoreError {
    write_error_naming(e, taken, "the client does not exist")
}

/// Like [`write_error`], naming what a foreign-key violation means for this write.
pub(crate) fn write_error_naming(
    e: sqlx::Error,
    taken: &'static str,
    missing: &'static str,
) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        match db.kind() {
            ErrorKind::UniqueViolation => return StoreError::Conflict(taken),
            ErrorKind::ForeignKeyViolation => return StoreError::Conflict(missing),
            _ => {}
        }
    }
    store_error(e)
}

/// Maps any other database error.
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match &e {
        E::ColumnDecode { .. }
        | E::ColumnNotFound(_)
        | E::ColumnIndexOutOfBounds { .. }
        | E::Decode(_)
        | E::TypeNotFound { .. } => StoreError::Corrupt(e.to_string()),
        // Driver messages carry the failing statement's problem (`no such table: clients`,
        // `duplicate key value violates unique constraint "…"`); offending values are only in
        // the PostgreSQL detail, which is not included.
        E::Database(db) => StoreError::Unavailable(match db.code() {
            Some(code) => format!("database error {code}: {}", db.message()),
            None => format!("database error: {}", db.message()),
        }),
        E::Io(io) => StoreError::Unavailable(format!("cannot reach the database: {io}")),
        E::Tls(_) => StoreError::Unavailable("TLS error talking to the database".to_owned()),
        E::PoolTimedOut => {
            StoreError::Unavailable("timed out waiting for a database connection".to_owned())
        }
        E::PoolClosed => StoreError::Unavailable("the connection pool is closed".to_owned()),
        E::Migrate(m) => StoreError::Unavailable(format!("migration failed: {m}")),
        E::Configuration(c) => {
            StoreError::Unavailable(format!("invalid database configuration: {c}"))
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}
