//! Opening a store: the backend is chosen once, from the URL scheme, and the connection pool
//! is set up for it.
//!
//! - `sqlite:…` (`sqlite://castellan.db`, `sqlite:///abs/path.db`, `sqlite::memory:`) or a bare
//!   file path (`./castellan.db`): SQLite, the file created if missing (`mode=rwc`), every
//!   connection in WAL mode with foreign keys on and a 5 s busy timeout;
//! - `postgres://…` / `postgresql://…`: PostgreSQL.
//!
//! Each backend has its own migrations folder, embedded at build time and run on connect
//! unless [`ConnectOptions::migrate`] is off.

use crate::sql::SqlStore;
use crate::{Backend, Store, StoreError, StoreResult};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::Executor;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long SQLite waits for a lock held by another connection before answering busy.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5000;

/// How to open a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Apply pending migrations before answering (default `true`).
    pub migrate: bool,
    /// Largest number of pooled connections (default: 4 for SQLite, which has one writer
    /// anyway, 10 for PostgreSQL; always 1 for an in-memory SQLite database, which lives and
    /// dies with its connection).
    pub max_connections: Option<u32>,
    /// How long to wait for a free or new connection (default 10 s).
    pub acquire_timeout: Duration,
    /// Create a SQLite file that does not exist yet (default `true`). `false`: a missing file
    /// is an error, not a new empty database (an `?mode=` in the URL decides for itself).
    pub create: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            migrate: true,
            max_connections: None,
            acquire_timeout: Duration::from_secs(10),
            create: true,
        }
    }
}

/// Opens the store at `url` and applies pending migrations.
pub async fn connect(url: &str) -> StoreResult<Arc<SqlStore>> {
    connect_with(url, ConnectOptions::default()).await
}

/// Opens the store at `url` with explicit options.
pub async fn connect_with(url: &str, options: ConnectOptions) -> StoreResult<Arc<SqlStore>> {
    sqlx::any::install_default_drivers();
    let target = Target::resolve_with(url, options.create)?;
    let connect_options = AnyConnectOptions::from_str(&target.url).map_err(|e| {
        // sqlx quotes the URL in some parse errors; it may hold a password.
        StoreError::Unavailable(format!(
            "invalid {} database URL: {}",
            target.backend.as_str(),
            crate::error::store_error(e)
        ))
    })?;
    let pool = pool_options(&target, &options)
        .connect_with(connect_options)
        .await
        .map_err(crate::error::store_error)?;
    let store = SqlStore::new(pool, target.backend);
    if options.migrate {
        store.migrate().await?;
    }
    tracing::info!(
        backend = target.backend.as_str(),
        migrated = options.migrate,
        "store connected"
    );
    Ok(Arc::new(store))
}

/// Applies the pending migrations of the database at `url`, then closes the connections.
pub async fn migrate(url: &str) -> StoreResult<()> {
    let store = connect_with(url, ConnectOptions::default()).await?;
    store.close().await;
    Ok(())
}

impl SqlStore {
    /// Applies this backend's pending migrations.
    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend() {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(self.pool())
            .await
            .map_err(|e| crate::error::store_error(e.into()))
    }
}

fn pool_options(target: &Target, options: &ConnectOptions) -> AnyPoolOptions {
    let base = AnyPoolOptions::new().acquire_timeout(options.acquire_timeout);
    match target.backend {
        Backend::Postgres => base.max_connections(options.max_connections.unwrap_or(10)),
        Backend::Sqlite if target.in_memory => base
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn))),
        Backend::Sqlite => base
            .max_connections(options.max_connections.unwrap_or(4))
            .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn))),
    }
}

/// Per-connection SQLite settings: WAL lets readers run beside the writer, the busy timeout
/// makes a second writer wait instead of failing, and foreign keys are off by default. Reads
/// go through a memory map of up to 1 GiB (pages shared with the OS cache, not copied per
/// connection), so lookups in large tables (a million API keys) do not pay a `read(2)` per
/// page that falls out of SQLite's own small per-connection cache.
async fn sqlite_pragmas(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    conn.execute("PRAGMA mmap_size = 1073741824").await?;
    conn.execute(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}").as_str())
        .await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    Ok(())
}

/// A database URL resolved to its backend, in the form sqlx expects.
#[derive(PartialEq, Eq)]
pub(crate) struct Target {
    pub backend: Backend,
    pub url: String,
    pub in_memory: bool,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("backend", &self.backend)
            .field("url", &redacted_url(&self.url))
            .field("in_memory", &self.in_memory)
            .finish()
    }
}

/// A database URL fit for a log line or `Debug`: a password in its user part and its whole
/// query (PostgreSQL also reads `?password=`) are replaced by `[redacted]`; a bare path or a
/// URL without either is shown as is.
pub fn redacted_url(raw: &str) -> String {
    let Ok(mut u) = url::Url::parse(raw) else {
        return raw.to_owned();
    };
    let had_password = u.password().is_some();
    let had_query = u.query().is_some();
    if !had_password && !had_query {
        return raw.to_owned();
    }
    if had_password && u.set_password(Some("REDACTED")).is_err() {
        return "[redacted]".to_owned();
    }
    u.set_query(had_query.then_some("REDACTED"));
    u.as_str().replace("REDACTED", "[redacted]")
}

impl Target {
    #[cfg(test)]
    pub(crate) fn resolve(url: &str) -> StoreResult<Target> {
        Target::resolve_with(url, true)
    }

    /// [`Target::resolve`]; a SQLite URL naming no `mode` gets `rwc` when `create`, else `rw`.
    pub(crate) fn resolve_with(url: &str, create: bool) -> StoreResult<Target> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target {
                backend: Backend::Postgres,
                url: url.to_owned(),
                in_memory: false,
            });
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            return Ok(sqlite_target(rest, create));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(StoreError::Unavailable(format!(
                "unsupported database URL scheme `{scheme}`; use sqlite: or postgres://"
            )));
        }
        // A bare file path; percent-encode what sqlx would read as URL syntax.
        let mut encoded = String::with_capacity(url.len());
        for c in url.chars() {
            match c {
                '%' => encoded.push_str("%25"),
                '?' => encoded.push_str("%3F"),
                '#' => encoded.push_str("%23"),
                ' ' => encoded.push_str("%20"),
                c => encoded.push(c),
            }
        }
        Ok(sqlite_target(&encoded, create))
    }
}

/// `rest` is what follows `sqlite:`.
fn sqlite_target(rest: &str, create: bool) -> Target {
    let (database, params) = match rest.split_once('?') {
        Some((d, p)) => (d, Some(p)),
        None => (rest, None),
    };
    let database = database.strip_prefix("//").unwrap_or(database);
    let mode = params.and_then(|p| {
        url::form_urlencoded::parse(p.as_bytes())
            .find(|(k, _)| k == "mode")
            .map(|(_, v)| v.into_owned())
    });
    let in_memory = database == ":memory:" || mode.as_deref() == Some("memory");
    // `sqlite:<path>` rather than `sqlite://<path>`: the URL parser would read a relative path
    // (or `:memory:`) after `//` as a host name.
    let mut url = format!("sqlite:{database}");
    if let Some(p) = params {
        url.push('?');
        url.push_str(p);
    }
    if mode.is_none() && !in_memory {
        url.push(if params.is_some() { '&' } else { '?' });
        url.push_str(if create { "mode=rwc" } else { "mode=rw" });
    }
    Target {
        backend: Backend::Sqlite,
        url,
        in_memory,
    }
}

impl SqlStore {
    /// Closes every pooled connection (tests, shutdown).
    pub async fn close(&self) {
        self.pool().close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_redacted_url_hide_database_passwords() {
        let url =
            "postgres://app:hunter2@db.example:5432/castellan?sslmode=require&password=hunter3";
        let t = Target::resolve(url).unwrap();
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert!(shown.contains("db.example:5432/castellan"), "{shown}");
        assert_eq!(
            redacted_url("postgres://app:hunter2@db/c"),
            "postgres://app:[redacted]@db/c"
        );
        assert_eq!(redacted_url("postgres://app@db/c"), "postgres://app@db/c");
        assert_eq!(redacted_url("./castellan.db"), "./castellan.db");
    }

    fn sqlite(url: &str) -> (String, bool) {
        let t = Target::resolve(url).unwrap();
        assert_eq!(t.backend, Backend::Sqlite);
        (t.url, t.in_memory)
    }

    #[test]
    fn sqlite_urls_create_the_file_when_missing() {
        assert_eq!(
            sqlite("sqlite://castellan.db").0,
            "sqlite:castellan.db?mode=rwc"
        );
        assert_eq!(
            sqlite("sqlite:castellan.db").0,
            "sqlite:castellan.db?mode=rwc"
        );
        assert_eq!(sqlite("sqlite:///abs/c.db").0, "sqlite:/abs/c.db?mode=rwc");
        assert_eq!(
            sqlite("sqlite://c.db?cache=shared").0,
            "sqlite:c.db?cache=shared&mode=rwc"
        );
        assert_eq!(sqlite("sqlite://c.db?mode=ro").0, "sqlite:c.db?mode=ro");
    }

    #[test]
    fn without_create_a_missing_file_is_not_made() {
        let rw = |u: &str| Target::resolve_with(u, false).unwrap().url;
        assert_eq!(rw("sqlite://castellan.db"), "sqlite:castellan.db?mode=rw");
        assert_eq!(rw("./c.db"), "sqlite:./c.db?mode=rw");
        // A mode named in the URL decides for itself.
        assert_eq!(rw("sqlite://c.db?mode=rwc"), "sqlite:c.db?mode=rwc");
    }

    #[test]
    fn bare_paths_are_sqlite_files() {
        assert_eq!(sqlite("./castellan.db").0, "sqlite:./castellan.db?mode=rwc");
        assert_eq!(sqlite("/var/lib/c.db").0, "sqlite:/var/lib/c.db?mode=rwc");
        assert_eq!(sqlite("odd ?#%.db").0, "sqlite:odd%20%3F%23%25.db?mode=rwc");
    }

    #[test]
    fn memory_databases_are_recognised() {
        assert_eq!(
            sqlite("sqlite::memory:"),
            ("sqlite::memory:".to_owned(), true)
        );
        assert!(sqlite("sqlite://?mode=memory").1);
    }

    #[test]
    fn resolved_sqlite_urls_are_valid_urls() {
        for u in [
            "sqlite://castellan.db",
            "sqlite::memory:",
            "sqlite://?mode=memory",
            "./castellan.db",
            "castellan.db",
            "/var/lib/odd ?#%.db",
        ] {
            let t = Target::resolve(u).unwrap();
            assert!(
                AnyConnectOptions::from_str(&t.url).is_ok(),
                "{u} -> {}",
                t.url
            );
        }
    }

    #[test]
    fn postgres_and_unknown_schemes() {
        for u in [
            "postgres://u@h/db",
            "postgresql://u:p@h:5/db?sslmode=disable",
        ] {
            let t = Target::resolve(u).unwrap();
            assert_eq!(t.backend, Backend::Postgres);
            assert_eq!(t.url, u);
        }
        let err = Target::resolve("mysql://root:hunter2@h/db").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("mysql") && !msg.contains("hunter2"), "{msg}");
    }
}
