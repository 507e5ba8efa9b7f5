//! Opening stores from URLs: the SQLite URL forms and per-connection settings, and failures
//! that must be clear (and free of secrets) when the database cannot be used.

// Helpers outside `#[test]` functions are test code too: a panic is a failed assertion.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_store::{
    connect, connect_with, migrate, Backend, ClientStore, ConnectOptions, Store, StoreError,
};
use sqlx::Row;

async fn pragma_int(store: &castellan_store::SqlStore, name: &str) -> i64 {
    let row = sqlx::query(&format!("PRAGMA {name}"))
        .fetch_one(store.pool())
        .await
        .unwrap();
    row.get::<i64, _>(0)
}

#[tokio::test]
async fn sqlite_url_creates_the_file_with_wal_foreign_keys_and_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let store = connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists());
    assert_eq!(store.backend(), Backend::Sqlite);

    let row = sqlx::query("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0).to_lowercase(), "wal");
    assert_eq!(pragma_int(&store, "foreign_keys").await, 1);
    assert_eq!(pragma_int(&store, "busy_timeout").await, 5000);
    // Migrated on connect.
    assert!(!store.client_exists(None).await.unwrap());
}

#[tokio::test]
async fn a_bare_path_is_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("with space ?#%.db");
    let store = connect(path.to_str().unwrap()).await.unwrap();
    assert!(path.exists());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_memory_keeps_its_data_across_calls() {
    let store = connect("sqlite::memory:").await.unwrap();
    store.ping().await.unwrap();
    assert!(!store.client_exists(None).await.unwrap());
}

#[tokio::test]
async fn migrate_then_connect_without_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    migrate(&url).await.unwrap();
    let options = ConnectOptions {
        migrate: false,
        ..ConnectOptions::default()
    };
    let store = connect_with(&url, options).await.unwrap();
    assert!(!store.client_exists(None).await.unwrap());
}

#[tokio::test]
async fn without_migrations_the_store_answers_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("empty.db").display());
    let options = ConnectOptions {
        migrate: false,
        ..ConnectOptions::default()
    };
    let store = connect_with(&url, options).await.unwrap();
    let err = store.get_client("x").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable_without_the_password() {
    let options = ConnectOptions {
        acquire_timeout: std::time::Duration::from_secs(3),
        ..ConnectOptions::default()
    };
    let err = connect_with("postgres://castellan:hunter2@127.0.0.1:1/db", options)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Unavailable(_)), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[tokio::test]
async fn unknown_schemes_are_refused() {
    let err = connect("mysql://root:hunter2@localhost/db")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("mysql") && !msg.contains("hunter2"), "{msg}");
}

/// The helper other crates use: a URL whose connections live in a fresh schema.
#[tokio::test]
async fn fresh_postgres_urls_are_isolated() {
    let Some(base) = std::env::var("CASTELLAN_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    use castellan_store::testing;
    let a = testing::fresh_postgres_url(&base).await;
    let b = testing::fresh_postgres_schema(&base).await.unwrap();
    assert_ne!(a, b.url);
    let sa = connect(&a).await.unwrap();
    let sb = connect(&b.url).await.unwrap();
    assert_eq!(sa.backend(), Backend::Postgres);
    let mut c = sa_client();
    c.id = "only-in-a".into();
    sa.insert_client(&c).await.unwrap();
    assert!(sa.get_client("only-in-a").await.unwrap().is_some());
    assert!(sb.get_client("only-in-a").await.unwrap().is_none());
    sb.close().await;
    testing::drop_postgres_schema(&base, &b.name).await.unwrap();
    let err = sb.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)));
    sa.close().await;
    // `a` came from `fresh_postgres_url`, which does not answer the name; find it in the URL.
    let name = a.rsplit("search_path%3D").next().unwrap();
    testing::drop_postgres_schema(&base, name).await.unwrap();
}

fn sa_client() -> castellan_core::client::Client {
    use castellan_core::client::*;
    Client {
        id: String::new(),
        name: "n".into(),
        kind: ClientKind::Confidential,
        secret_hash: None,
        previous_secret: None,
        scope: Vec::new(),
        default_scope: None,
        grant_types: Vec::new(),
        redirect_uris: Vec::new(),
        auth_method: AuthMethod::ClientSecretBasic,
        token_format: TokenFormat::Jwt,
        public_client_credentials: false,
        access_token_validity_seconds: None,
        refresh_token_validity_seconds: None,
        created_at: chrono::DateTime::from_timestamp_millis(0).unwrap(),
        last_used_at: None,
        delete_at: None,
        registration: None,
        metadata: serde_json::Map::new(),
        tier: None,
        tenants: Vec::new(),
    }
}

/// The store at `url` as a database was before migration `version`: every migration of
/// `folder` (`sqlite` or `postgres`) older than it applied, none after. `migrate()` then
/// applies the rest, as an upgrade would.
async fn migrated_before(
    url: &str,
    folder: &str,
    version: i64,
) -> std::sync::Arc<castellan_store::SqlStore> {
    let store = connect_with(
        url,
        ConnectOptions {
            migrate: false,
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    let mut before = sqlx::migrate::Migrator::new(dir).await.unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(store.pool()).await.unwrap();
    store
}

/// Migration `20260101000013`: registrations recorded under a client's party before the party
/// included the person are set aside, so the client's own token no longer matches them; a
/// person's party is kept. Run on SQLite, and on PostgreSQL when configured.
#[tokio::test]
async fn registrations_recorded_under_a_client_alone_are_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("legacy.db").display());
    legacy_registrations_are_set_aside(&sqlite, "sqlite").await;
    if let Some(base) = std::env::var("CASTELLAN_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        let schema = castellan_store::testing::fresh_postgres_schema(&base)
            .await
            .unwrap();
        legacy_registrations_are_set_aside(&schema.url, "postgres").await;
        castellan_store::testing::drop_postgres_schema(&base, &schema.name)
            .await
            .unwrap();
    }
}

#[expect(
    clippy::unreadable_literal,
    reason = "a migration version, written as in its file name"
)]
async fn legacy_registrations_are_set_aside(url: &str, folder: &str) {
    let store = migrated_before(url, folder, 20260101000013).await;
    // Written as that schema has it: today's insert names columns added since.
    for (id, party) in [
        ("by-the-portal", "client:portal"),
        ("by-a-person", "client:portal:user:usr_1"),
    ] {
        sqlx::query(
            "INSERT INTO clients (id, name, kind, scope, grant_types, redirect_uris, \
             auth_method, token_format, public_client_credentials, created_at, software_id, \
             registered_by, registration_token_hash, metadata) \
             VALUES ($1, 'n', 'confidential', '', '', '[]', 'client_secret_basic', 'jwt', 0, 0, \
             'agent', $2, $3, '{}')",
        )
        .bind(id)
        .bind(party)
        .bind(&[7u8; 32][..])
        .execute(store.pool())
        .await
        .unwrap();
    }
    store.migrate().await.unwrap();
    let party = |c: Option<castellan_core::client::Client>| {
        c.unwrap().registration.unwrap().registered_by.unwrap()
    };
    assert_eq!(
        party(store.get_client("by-the-portal").await.unwrap()),
        "legacy:client:portal"
    );
    assert_eq!(
        party(store.get_client("by-a-person").await.unwrap()),
        "client:portal:user:usr_1"
    );
    store.close().await;
}

/// Migration `20260101000008`: a JWT revoked before the revocation feed existed (and not yet
/// expired) is carried into the feed; one already expired is not. SQLite, and PostgreSQL when
/// configured.
#[tokio::test]
async fn jwts_revoked_before_the_feed_are_carried_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("feed.db").display());
    revoked_jwts_are_carried_over(&sqlite, "sqlite").await;
    if let Some(base) = std::env::var("CASTELLAN_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        let schema = castellan_store::testing::fresh_postgres_schema(&base)
            .await
            .unwrap();
        revoked_jwts_are_carried_over(&schema.url, "postgres").await;
        castellan_store::testing::drop_postgres_schema(&base, &schema.name)
            .await
            .unwrap();
    }
}

#[expect(
    clippy::unreadable_literal,
    reason = "a migration version, written as in its file name"
)]
async fn revoked_jwts_are_carried_over(url: &str, folder: &str) {
    use castellan_store::RevocationStore;
    let store = migrated_before(url, folder, 20260101000008).await;
    let now = chrono::Utc::now().timestamp_millis();
    for (jti, expires) in [("live-jti", now + 3_600_000), ("dead-jti", now - 1_000)] {
        sqlx::query("INSERT INTO revoked_jwts (jti, client_id, expires_at) VALUES ($1, $2, $3)")
            .bind(jti)
            .bind("cli")
            .bind(expires)
            .execute(store.pool())
            .await
            .unwrap();
    }
    store.migrate().await.unwrap();
    let feed = store.revocations_since(0, 100).await.unwrap();
    let values: Vec<String> = feed.iter().map(|r| format!("{r:?}")).collect();
    assert_eq!(feed.len(), 1, "{values:?}");
    assert!(values[0].contains("live-jti"), "{values:?}");
    store.close().await;
}
