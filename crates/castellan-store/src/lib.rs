//! Castellan's storage: what the server needs to keep, as use-case operations, and one SQL
//! implementation that runs on SQLite (the embedded default) and PostgreSQL.
//!
//! The traits are shaped by use case (atomic operations such as "claim the bootstrap client" or
//! "rotate the signing key"), not by table. The backend is chosen once, from the URL scheme, by
//! [`connect`]. Both backends share the SQL in `sql/` and pass the same conformance suite
//! (`tests/it/conformance.rs`); each has its own append-only `migrations/` folder.
#![warn(missing_docs)]

pub mod api_keys;
pub mod apps;
pub mod audit;
mod connect;
pub mod device;
mod error;
pub mod factors;
pub mod links;
pub mod people;
mod predicate;
pub mod pushed;
mod rows;
mod sql;
pub mod testing;
mod types;

pub use connect::{connect, connect_with, migrate, redacted_url, ConnectOptions};
pub use sql::timed::STORAGE_SECONDS;
pub use sql::SqlStore;
pub use types::*;

use async_trait::async_trait;
use castellan_core::client::{Client, PreviousSecret, SecretHash};
use castellan_core::query::{ClientQuery, Predicate};
use chrono::{DateTime, NaiveDate, Utc};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same key exists.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database could not be reached or answered with an error. The message is for the
    /// operator's log and never contains secrets.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be read back (a bug or a hand-edited database).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The result of a storage operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Clients and their registrations.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a new client. `Conflict` when the id is taken.
    async fn insert_client(&self, client: &Client) -> StoreResult<()>;
    /// The client with id `id`.
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>>;
    /// One page of clients; `total` only when `query.with_total`.
    async fn query_clients(&self, query: &ClientQuery) -> StoreResult<Page<Client>>;
    /// Whether any client matches (all clients when `predicate` is `None`).
    async fn client_exists(&self, predicate: Option<&Predicate>) -> StoreResult<bool>;
    /// Deletes a client and everything issued to it; answers the deleted client.
    async fn delete_client(&self, id: &str) -> StoreResult<Option<Client>>;
    /// Replaces the mutable parts of a client (name, secret, redirect URIs, grant types,
    /// metadata, registration, tenants) — never `id`, `scope` or `createdAt`. `false` when absent.
    async fn update_client(&self, client: &Client) -> StoreResult<bool>;
    /// [`ClientStore::update_client`], only if the stored secret is still `secret_read` (the
    /// one read before the change; `None`: none): an update cannot undo a rotation that came
    /// in between. `false` when absent or when the secret changed.
    async fn update_client_if_secret(
        &self,
        client: &Client,
        secret_read: Option<&SecretHash>,
    ) -> StoreResult<bool>;
    /// Replaces the secret of client `id` by `new` if it is still `current` (a rotation that
    /// raced another one changes nothing), keeping `previous` as the one still accepted for a
    /// while (`None`: the old secret ends at once). `false` when the client is absent or its
    /// secret is no longer `current`.
    async fn rotate_client_secret(
        &self,
        id: &str,
        current: &SecretHash,
        new: &SecretHash,
        previous: Option<&PreviousSecret>,
    ) -> StoreResult<bool>;
    /// Raises `lastUsedAt` to `day` if it is earlier (never lowers it).
    async fn record_client_use(&self, id: &str, day: NaiveDate) -> StoreResult<()>;
    /// Deletes clients whose `deleteAt` is at or before `now`; answers how many.
    async fn purge_deleted_clients(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// The client registered with `software_id` by `registered_by`, if any.
    async fn find_registered_client(
        &self,
        software_id: &str,
        registered_by: &str,
    ) -> StoreResult<Option<Client>>;
    /// Stores `client` as the bootstrap admin client unless one was created before, atomically
    /// (several replicas may start at once). `true` when this call created it.
    async fn claim_bootstrap_client(&self, client: &Client) -> StoreResult<bool>;
}

/// Signing keys: the ones that sign now and the retired ones still published to verify
/// unexpired tokens.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every key not yet past `expires_at`, newest first.
    async fn list_signing_keys(&self, now: DateTime<Utc>) -> StoreResult<Vec<StoredKey>>;
    /// Inserts `key` as the current key of its algorithm if that algorithm has none,
    /// atomically. `true` when inserted.
    async fn insert_first_signing_key(&self, key: &StoredKey) -> StoreResult<bool>;
    /// Makes `key` the current key of its algorithm: the previous current keys of that
    /// algorithm stop signing at `key.created_at` and stay published until `keep_until`.
    async fn rotate_signing_key(
        &self,
        key: &StoredKey,
        keep_until: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Deletes keys whose `expires_at` is at or before `now`.
    async fn purge_signing_keys(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// Revocation lists and opaque (reference) access tokens.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Records a JWT access token as revoked until it would have expired. Idempotent.
    async fn revoke_jwt(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Whether the JWT with id `jti` was revoked.
    async fn is_jwt_revoked(&self, jti: &str) -> StoreResult<bool>;
    /// Stores an opaque access token (its hash).
    async fn insert_opaque_token(&self, token: &OpaqueToken) -> StoreResult<()>;
    /// The opaque token whose SHA-256 is `hash`, revoked or not.
    async fn get_opaque_token(&self, hash: &[u8; 32]) -> StoreResult<Option<OpaqueToken>>;
    /// Marks an opaque token revoked; `false` when no token of `client_id` has that hash.
    async fn revoke_opaque_token(&self, hash: &[u8; 32], client_id: &str) -> StoreResult<bool>;
    /// Deletes revocation entries, opaque tokens, sign-in sessions and WebAuthn ceremonies past
    /// their expiry.
    async fn purge_expired_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// The revocation feed: what resource servers that check JWTs locally (the
/// guard) must learn was revoked. Entries are written in the transaction that revokes (JWT
/// revocation, family revocation on reuse or replay, consent revocation, client deletion).
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Up to `limit` entries after `cursor` (0: from the start), oldest first.
    async fn revocations_since(&self, cursor: i64, limit: u32) -> StoreResult<Vec<Revocation>>;
    /// Records entries revoked at `now` outside the store's own revocations.
    async fn record_revocations(
        &self,
        entries: &[castellan_core::revocation::Revoked],
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;
    /// Deletes entries past their `expires_at` at `now`, and entries created at or before
    /// `created_before` (the oldest instant a still-valid token can have been issued at).
    async fn purge_revocations(
        &self,
        now: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> StoreResult<u64>;
}

/// One-time ids seen before (a DPoP proof's `jti`, a client assertion's `jti`): replay
/// protection shared by every replica that uses the same database.
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Records `key` (a SHA-256 of a namespace and an id) as used until `expires_at`; `true`
    /// when it was not already recorded (or its record had expired by `now`), `false` when
    /// this is a replay. Atomic: of concurrent calls with one key, exactly one answers `true`.
    async fn first_use(
        &self,
        key: &[u8; 32],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deletes records past their `expires_at` at `now`.
    async fn purge_used_ids(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// Everything the server stores, behind one object.
#[async_trait]
pub trait Store:
    ClientStore
    + SigningKeyStore
    + TokenStore
    + RevocationStore
    + ReplayStore
    + people::UserStore
    + people::GrantStore
    + api_keys::ApiKeyStore
    + pushed::PushedRequestStore
    + device::DeviceStore
    + audit::AuditStore
    + apps::AppStore
    + links::LinkStore
    + factors::FactorStore
{
    /// Whether the database answers (`/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// Which backend this is (`sqlite` or `postgres`), for logs and metrics.
    fn backend(&self) -> Backend;
}
