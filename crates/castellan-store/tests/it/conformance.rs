//! The store's behaviour, written once and run against every backend: SQLite (a temporary
//! file) always, PostgreSQL (a fresh schema per test) when `CASTELLAN_TEST_POSTGRES_URL` is
//! set — and then an unreachable server fails the test rather than skipping it.

// Helpers outside `#[test]` functions are test code too: a panic is a failed assertion.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_core::authn::{Amr, SecondFactorPolicy};
use castellan_core::client::{
    AuthMethod, Client, ClientKind, GrantType, Registration, SecretHash, TokenFormat,
};
use castellan_core::query::{ClientQuery, CmpOp, Direction, Field, Predicate, Sort, Value};
use castellan_core::revocation::Revoked;
use castellan_core::scope::{parse_patterns, ScopeSet};
use castellan_core::tenant::TenantGrant;
use castellan_core::user::{Membership, Organization, Role, User};
use castellan_core::Secret;
use castellan_store::api_keys::{ApiKey, ApiKeyOwner, ApiKeyStatus, ApiKeyStore};
use castellan_store::apps::AppStore;
use castellan_store::audit::{ActorKind, AuditEvent, AuditQuery, AuditStore, Outcome};
use castellan_store::factors::{Ceremony, CeremonyKind, FactorStore, StoredPasskey};
use castellan_store::links::{EmailLink, Joined, LinkPurpose, LinkStore};
use castellan_store::people::{
    AuthorizationCode, CodeRedemption, Consent, GrantStore, RefreshToken, RefreshUse, Session,
    UserStore,
};
use castellan_store::{
    connect_with, testing, ClientStore, ConnectOptions, OpaqueToken, ReplayStore, RevocationStore,
    SigningKeyStore, SqlStore, Store, StoreError, StoredKey, TokenStore,
};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Harness: one store per test, on a backend of its own.

struct Harness {
    store: Arc<SqlStore>,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(
        #[expect(
            dead_code,
            reason = "held only so the directory lives as long as the store"
        )]
        tempfile::TempDir,
    ),
    Postgres {
        base: String,
        schema: String,
    },
}

async fn sqlite_harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("castellan.db").display());
    let store = connect_with(&url, ConnectOptions::default()).await.unwrap();
    Harness {
        store,
        cleanup: Cleanup::Sqlite(dir),
    }
}

async fn postgres_harness() -> Option<Harness> {
    let base = std::env::var("CASTELLAN_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let schema = testing::fresh_postgres_schema(&base)
        .await
        .unwrap_or_else(|e| panic!("CASTELLAN_TEST_POSTGRES_URL is set but unusable: {e}"));
    let options = ConnectOptions {
        max_connections: Some(4),
        ..ConnectOptions::default()
    };
    let store = connect_with(&schema.url, options).await.unwrap();
    Some(Harness {
        store,
        cleanup: Cleanup::Postgres {
            base,
            schema: schema.name,
        },
    })
}

impl Harness {
    async fn finish(self) {
        self.store.close().await;
        if let Cleanup::Postgres { base, schema } = &self.cleanup {
            testing::drop_postgres_schema(base, schema).await.unwrap();
        }
    }
}

/// One `#[tokio::test]` per behaviour per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = super::sqlite_harness().await;
                    super::$name(&h.store).await;
                    h.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(h) = super::postgres_harness().await else {
                        return;
                    };
                    super::$name(&h.store).await;
                    h.finish().await;
                }
            )*
        }
    };
}

conformance!(
    second_factors_are_confirmed_used_once_and_removed,
    passkeys_and_their_ceremonies,
    passkey_policies_are_the_strongest_that_applies,
    sign_in_methods_round_trip_on_sessions,
    the_admin_flag_is_stored_set_and_cleared,
    member_changes_disable_the_members_keys,
    placeholders_are_numbered_and_reusable,
    ping_and_backend,
    migrations_are_idempotent,
    client_round_trips_every_field,
    missing_client_is_none,
    a_secret_rotates_only_from_the_secret_read,
    duplicate_client_id_conflicts,
    default_order_is_created_at_then_id_and_pages_are_stable,
    comparison_operators,
    in_and_not_in,
    defined_and_not_defined,
    and_or_not,
    sort_asc_desc_with_undefined_last,
    limit_offset_and_total,
    exists_answers_whether_any_client_matches,
    literal_values_are_never_sql,
    mismatched_value_type_is_an_error_not_a_panic,
    delete_returns_the_client_and_removes_its_tokens,
    update_keeps_id_scope_created_at_and_last_used,
    tenants_default_to_none_and_are_replaced_by_update,
    last_used_only_rises,
    purge_deleted_clients_at_or_before_now,
    find_registered_client_matches_both_keys,
    bootstrap_claim_happens_once,
    concurrent_bootstrap_claims_have_one_winner,
    first_signing_key_only_when_none_is_current,
    concurrent_first_signing_keys_have_one_winner,
    rotation_retires_the_current_keys_of_that_algorithm,
    list_and_purge_signing_keys_by_expiry,
    jwt_revocation_is_idempotent,
    opaque_token_round_trip,
    opaque_token_revocation_needs_the_owning_client,
    opaque_token_for_unknown_client_conflicts,
    purge_expired_tokens_removes_both_kinds,
    used_codes_stay_a_day_past_expiry_then_are_purged,
    users_round_trip_and_emails_are_unique,
    people_and_organizations_are_listed_and_a_new_password_ends_sessions,
    disabling_a_person_ends_their_sessions_and_grants,
    an_organization_keeps_an_owner,
    organizations_and_memberships,
    sessions_expire_and_are_deleted,
    a_person_lists_and_ends_their_sessions,
    codes_redeem_once_and_record_their_family,
    concurrent_code_redemptions_have_one_winner,
    pushed_requests_are_used_once_by_their_client_before_expiry,
    concurrent_pushed_request_uses_have_one_winner,
    device_authorizations_are_decided_once_and_redeemed_once,
    consents_widen_to_the_union_and_keep_their_id,
    consents_are_listed_newest_first_and_revoked_with_their_families,
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    expired_or_revoked_refresh_tokens_are_dead,
    only_current_refresh_tokens_are_found_as_current,
    concurrent_refresh_uses_have_one_rotation,
    families_are_revoked_alone_or_by_consent,
    deleting_a_client_removes_its_grants,
    revocation_feed_records_every_kind_in_order,
    revocation_feed_is_purged_by_expiry_and_age,
    api_keys_round_trip_and_are_found_by_hash,
    api_key_hashes_and_ids_are_unique,
    api_keys_are_listed_by_owner_in_pages,
    api_key_status_changes_and_revoked_is_final,
    api_key_rotation_is_atomic,
    api_key_last_used_only_rises,
    one_time_ids_are_accepted_once_until_they_expire,
    concurrent_first_uses_have_one_winner,
    purge_removes_expired_one_time_ids,
    audit_events_are_filtered_paged_and_purged,
    organization_apps_are_linked_listed_and_deleted,
    invitations_are_accepted_once_by_their_address,
    verification_and_reset_links_work_once_for_their_address,
);

// ---------------------------------------------------------------------------------------------
// Fixtures.

/// 2026-01-01T00:00:00Z in Unix milliseconds.
const T0: i64 = 1_767_225_600_000;

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

fn day(d: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(d)
}

fn client(id: &str, name: &str, created_ms: i64) -> Client {
    Client {
        id: id.to_owned(),
        name: name.to_owned(),
        kind: ClientKind::Confidential,
        secret_hash: Some(SecretHash([7; 32])),
        previous_secret: None,
        scope: parse_patterns("manage_project:p1 view_products:p1").unwrap(),
        default_scope: None,
        grant_types: vec![GrantType::ClientCredentials],
        redirect_uris: Vec::new(),
        auth_method: AuthMethod::ClientSecretBasic,
        token_format: TokenFormat::Jwt,
        public_client_credentials: false,
        access_token_validity_seconds: None,
        refresh_token_validity_seconds: None,
        created_at: at(created_ms),
        last_used_at: None,
        delete_at: None,
        registration: None,
        metadata: serde_json::Map::new(),
        tier: None,
        tenants: Vec::new(),
    }
}

fn full_client(id: &str) -> Client {
    let mut metadata = serde_json::Map::new();
    metadata.insert("client_uri".into(), "https://app.example/".into());
    metadata.insert("contacts".into(), serde_json::json!(["ops@example.com"]));
    Client {
        id: id.to_owned(),
        name: "Full « client » ü".to_owned(),
        kind: ClientKind::Public,
        secret_hash: None,
        previous_secret: None,
        scope: parse_patterns("market:id:* view_orders:p1").unwrap(),
        default_scope: Some(ScopeSet::parse("view_orders:p1").unwrap()),
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::TokenExchange,
        ],
        redirect_uris: vec![
            "https://app.example/cb".to_owned(),
            "http://127.0.0.1:8080/cb?x=a b".to_owned(),
        ],
        auth_method: AuthMethod::None,
        token_format: TokenFormat::Opaque,
        public_client_credentials: true,
        access_token_validity_seconds: Some(7200),
        refresh_token_validity_seconds: Some(86_400),
        created_at: at(T0 + 123),
        last_used_at: Some(day(20_454)),
        delete_at: Some(at(T0 + 86_400_000)),
        registration: Some(Registration {
            software_id: Some("sw-1".to_owned()),
            registered_by: Some("client:admin".to_owned()),
            access_token_hash: SecretHash([9; 32]),
        }),
        metadata,
        tier: Some("gold".to_owned()),
        tenants: vec![
            TenantGrant {
                brand: "openapitest".to_owned(),
                venues: vec!["1".to_owned(), "2".to_owned()],
            },
            TenantGrant {
                brand: "other brand".to_owned(),
                venues: vec!["x".to_owned()],
            },
        ],
    }
}

/// a: alpha, created T0+1000, used day 100, no deleteAt
/// b: beta,  created T0+2000, never used,   deleteAt T0+10000
/// c: gamma, created T0+3000, used day 200, deleteAt T0+20000
/// d: Delta, created T0+3000, never used,   no deleteAt
async fn seed(store: &SqlStore) {
    let mut a = client("a", "alpha", T0 + 1000);
    a.last_used_at = Some(day(100));
    let mut b = client("b", "beta", T0 + 2000);
    b.delete_at = Some(at(T0 + 10_000));
    let mut c = client("c", "gamma", T0 + 3000);
    c.last_used_at = Some(day(200));
    c.delete_at = Some(at(T0 + 20_000));
    let d = client("d", "Delta", T0 + 3000);
    // Inserted out of order so that insertion order cannot pass for the sort.
    for cl in [&d, &b, &c, &a] {
        store.insert_client(cl).await.unwrap();
    }
}

fn cmp(field: Field, op: CmpOp, value: Value) -> Predicate {
    Predicate::Cmp { field, op, value }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn and(a: Predicate, b: Predicate) -> Predicate {
    Predicate::And(Box::new(a), Box::new(b))
}

fn or(a: Predicate, b: Predicate) -> Predicate {
    Predicate::Or(Box::new(a), Box::new(b))
}

fn not(a: Predicate) -> Predicate {
    Predicate::Not(Box::new(a))
}

fn query(predicate: Option<Predicate>, sort: Vec<Sort>) -> ClientQuery {
    ClientQuery {
        predicate,
        sort,
        limit: 500,
        offset: 0,
        with_total: false,
    }
}

async fn ids(store: &SqlStore, q: ClientQuery) -> Vec<String> {
    let page = store.query_clients(&q).await.unwrap();
    page.results.into_iter().map(|c| c.id).collect()
}

async fn matching(store: &SqlStore, p: Predicate) -> Vec<String> {
    ids(store, query(Some(p), Vec::new())).await
}

fn sort(field: Field, direction: Direction) -> Sort {
    Sort { field, direction }
}

fn key(kid: &str, alg: &str, created_ms: i64) -> StoredKey {
    StoredKey {
        kid: kid.to_owned(),
        alg: alg.to_owned(),
        private_pkcs8: Secret::new(format!("pkcs8-of-{kid}")),
        created_at: at(created_ms),
        retired_at: None,
        expires_at: None,
    }
}

fn token(hash_byte: u8, client_id: &str, expires_ms: i64) -> OpaqueToken {
    let mut claims = serde_json::Map::new();
    claims.insert("org".into(), "acme".into());
    claims.insert("env".into(), serde_json::json!({"tier": 2}));
    OpaqueToken {
        hash: [hash_byte; 32],
        client_id: client_id.to_owned(),
        subject: format!("client:{client_id}"),
        scope: "view_products:p1".to_owned(),
        audience: Some("https://api.example".into()),
        claims,
        issued_at: at(T0),
        expires_at: at(expires_ms),
        revoked: false,
    }
}

fn vs(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// Behaviours.

async fn placeholders_are_numbered_and_reusable(store: &SqlStore) {
    let row = sqlx::query("SELECT $2 AS second, $1 AS first, $1 AS again")
        .bind("one")
        .bind("two")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("second"), "two");
    assert_eq!(row.get::<String, _>("first"), "one");
    assert_eq!(row.get::<String, _>("again"), "one");

    store
        .insert_client(&client("same", "same", T0))
        .await
        .unwrap();
    let row = sqlx::query("SELECT COUNT(*) AS n FROM clients WHERE id = $1 AND name = $1")
        .bind("same")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>("n"), 1);
}

async fn ping_and_backend(store: &Arc<SqlStore>) {
    // The server holds the store as a trait object.
    let store: Arc<dyn Store> = Arc::<SqlStore>::clone(store);
    store.ping().await.unwrap();
    let name = store.backend().as_str();
    assert!(name == "sqlite" || name == "postgres");
}

async fn migrations_are_idempotent(store: &SqlStore) {
    store
        .insert_client(&client("kept", "kept", T0))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.get_client("kept").await.unwrap().is_some());
}

async fn client_round_trips_every_field(store: &SqlStore) {
    let full = full_client("full");
    store.insert_client(&full).await.unwrap();
    assert_eq!(store.get_client("full").await.unwrap(), Some(full));

    let mut minimal = client("minimal", "m", T0);
    minimal.secret_hash = None;
    minimal.grant_types = Vec::new();
    minimal.default_scope = Some(ScopeSet::new());
    store.insert_client(&minimal).await.unwrap();
    assert_eq!(store.get_client("minimal").await.unwrap(), Some(minimal));
}

async fn missing_client_is_none(store: &SqlStore) {
    assert_eq!(store.get_client("nobody").await.unwrap(), None);
}

async fn duplicate_client_id_conflicts(store: &SqlStore) {
    store
        .insert_client(&client("x", "first", T0))
        .await
        .unwrap();
    let err = store
        .insert_client(&client("x", "second", T0 + 1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.get_client("x").await.unwrap().unwrap().name, "first");
}

async fn default_order_is_created_at_then_id_and_pages_are_stable(store: &SqlStore) {
    seed(store).await;
    for (id, created) in [("e", T0 + 3000), ("0", T0 + 3000), ("z", T0)] {
        store.insert_client(&client(id, id, created)).await.unwrap();
    }
    let all = ids(store, query(None, Vec::new())).await;
    assert_eq!(all, vs(&["z", "a", "b", "0", "c", "d", "e"]));

    let mut paged = Vec::new();
    for offset in (0..8).step_by(2) {
        let q = ClientQuery {
            limit: 2,
            offset,
            ..query(None, Vec::new())
        };
        paged.extend(ids(store, q).await);
    }
    assert_eq!(paged, all);
}

async fn comparison_operators(store: &SqlStore) {
    seed(store).await;
    use CmpOp::*;
    use Field::*;
    let cases: Vec<(Predicate, &[&str])> = vec![
        (cmp(Id, Eq, text("b")), &["b"]),
        (cmp(Name, Ne, text("beta")), &["a", "c", "d"]),
        // Bytewise: "Delta" < "alpha" < "beta" < "gamma".
        (cmp(Name, Lt, text("beta")), &["a", "d"]),
        (cmp(Name, Le, text("beta")), &["a", "b", "d"]),
        (cmp(Name, Gt, text("beta")), &["c"]),
        (cmp(Name, Ge, text("beta")), &["b", "c"]),
        (cmp(CreatedAt, Lt, Value::Int(T0 + 3000)), &["a", "b"]),
        (cmp(CreatedAt, Le, Value::Int(T0 + 2000)), &["a", "b"]),
        (cmp(CreatedAt, Gt, Value::Int(T0 + 2000)), &["c", "d"]),
        (cmp(CreatedAt, Ge, Value::Int(T0 + 3000)), &["c", "d"]),
        (cmp(CreatedAt, Eq, Value::Int(T0 + 1000)), &["a"]),
        (cmp(CreatedAt, Ne, Value::Int(T0 + 1000)), &["b", "c", "d"]),
        // Comparisons on a field a client lacks are false, `!=` included.
        (cmp(LastUsedAt, Gt, Value::Int(100)), &["c"]),
        (cmp(LastUsedAt, Ge, Value::Int(100)), &["a", "c"]),
        (cmp(LastUsedAt, Ne, Value::Int(100)), &["c"]),
        (cmp(LastUsedAt, Lt, Value::Int(1000)), &["a", "c"]),
        (cmp(DeleteAt, Le, Value::Int(T0 + 10_000)), &["b"]),
        (cmp(DeleteAt, Ne, Value::Int(T0 + 10_000)), &["c"]),
    ];
    for (p, expected) in cases {
        assert_eq!(matching(store, p.clone()).await, vs(expected), "{p:?}");
    }
}

async fn in_and_not_in(store: &SqlStore) {
    seed(store).await;
    let ins = |field, values: Vec<Value>, negated| Predicate::In {
        field,
        values,
        negated,
    };
    let cases: Vec<(Predicate, &[&str])> = vec![
        (
            ins(Field::Id, vec![text("a"), text("c"), text("zz")], false),
            &["a", "c"],
        ),
        (ins(Field::Id, vec![text("a")], true), &["b", "c", "d"]),
        (
            ins(Field::Name, vec![text("Delta"), text("delta")], false),
            &["d"],
        ),
        (
            ins(
                Field::DeleteAt,
                vec![Value::Int(T0 + 10_000), Value::Int(T0 + 20_000)],
                false,
            ),
            &["b", "c"],
        ),
        (ins(Field::LastUsedAt, vec![Value::Int(100)], true), &["c"]),
        (ins(Field::Id, Vec::new(), false), &[]),
        (ins(Field::Id, Vec::new(), true), &["a", "b", "c", "d"]),
    ];
    for (p, expected) in cases {
        assert_eq!(matching(store, p.clone()).await, vs(expected), "{p:?}");
    }
}

async fn defined_and_not_defined(store: &SqlStore) {
    seed(store).await;
    let def = |field, defined| Predicate::Defined { field, defined };
    assert_eq!(
        matching(store, def(Field::DeleteAt, true)).await,
        vs(&["b", "c"])
    );
    assert_eq!(
        matching(store, def(Field::DeleteAt, false)).await,
        vs(&["a", "d"])
    );
    assert_eq!(
        matching(store, def(Field::LastUsedAt, true)).await,
        vs(&["a", "c"])
    );
    assert_eq!(
        matching(store, def(Field::LastUsedAt, false)).await,
        vs(&["b", "d"])
    );
    assert_eq!(
        matching(store, def(Field::Name, true)).await,
        vs(&["a", "b", "c", "d"])
    );
    assert!(matching(store, def(Field::Id, false)).await.is_empty());
}

async fn and_or_not(store: &SqlStore) {
    seed(store).await;
    let defined = Predicate::Defined {
        field: Field::DeleteAt,
        defined: true,
    };
    let cases: Vec<(Predicate, &[&str])> = vec![
        (
            and(
                cmp(Field::CreatedAt, CmpOp::Ge, Value::Int(T0 + 2000)),
                defined.clone(),
            ),
            &["b", "c"],
        ),
        (
            or(
                cmp(Field::Id, CmpOp::Eq, text("a")),
                cmp(Field::Name, CmpOp::Eq, text("Delta")),
            ),
            &["a", "d"],
        ),
        // `not` is the exact complement, clients without the field included.
        (
            not(cmp(Field::DeleteAt, CmpOp::Eq, Value::Int(T0 + 10_000))),
            &["a", "c", "d"],
        ),
        (
            not(cmp(Field::LastUsedAt, CmpOp::Ne, Value::Int(100))),
            &["a", "b", "d"],
        ),
        (
            not(Predicate::In {
                field: Field::Id,
                values: vec![text("a"), text("b")],
                negated: false,
            }),
            &["c", "d"],
        ),
        // a or (b and c) versus (a or b) and c: the tree decides, not the rendering.
        (
            or(
                cmp(Field::Id, CmpOp::Eq, text("a")),
                and(cmp(Field::Id, CmpOp::Eq, text("b")), defined.clone()),
            ),
            &["a", "b"],
        ),
        (
            and(
                or(
                    cmp(Field::Id, CmpOp::Eq, text("a")),
                    cmp(Field::Id, CmpOp::Eq, text("b")),
                ),
                defined.clone(),
            ),
            &["b"],
        ),
        (not(not(defined.clone())), &["b", "c"]),
    ];
    for (p, expected) in cases {
        assert_eq!(matching(store, p.clone()).await, vs(expected), "{p:?}");
    }
}

async fn sort_asc_desc_with_undefined_last(store: &SqlStore) {
    seed(store).await;
    use Direction::*;
    let cases: Vec<(Vec<Sort>, &[&str])> = vec![
        (vec![sort(Field::Name, Asc)], &["d", "a", "b", "c"]),
        (vec![sort(Field::Name, Desc)], &["c", "b", "a", "d"]),
        (vec![sort(Field::Id, Desc)], &["d", "c", "b", "a"]),
        // Ties (c and d) fall back to createdAt asc, id asc.
        (vec![sort(Field::CreatedAt, Desc)], &["c", "d", "b", "a"]),
        (
            vec![sort(Field::CreatedAt, Desc), sort(Field::Id, Desc)],
            &["d", "c", "b", "a"],
        ),
        (vec![sort(Field::LastUsedAt, Asc)], &["a", "c", "b", "d"]),
        (vec![sort(Field::LastUsedAt, Desc)], &["c", "a", "b", "d"]),
        (vec![sort(Field::DeleteAt, Asc)], &["b", "c", "a", "d"]),
        (vec![sort(Field::DeleteAt, Desc)], &["c", "b", "a", "d"]),
        (
            vec![sort(Field::DeleteAt, Desc), sort(Field::Name, Asc)],
            &["c", "b", "d", "a"],
        ),
    ];
    for (s, expected) in cases {
        assert_eq!(
            ids(store, query(None, s.clone())).await,
            vs(expected),
            "{s:?}"
        );
    }
}

async fn limit_offset_and_total(store: &SqlStore) {
    seed(store).await;
    let page = store
        .query_clients(&ClientQuery {
            limit: 2,
            offset: 1,
            ..ClientQuery::default()
        })
        .await
        .unwrap();
    let got: Vec<_> = page.results.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(got, ["b", "c"]);
    assert_eq!(page.total, Some(4));

    let page = store
        .query_clients(&ClientQuery {
            limit: 2,
            offset: 1,
            with_total: false,
            ..ClientQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.results.len(), 2);
    assert_eq!(page.total, None);

    let page = store
        .query_clients(&ClientQuery {
            predicate: Some(Predicate::Defined {
                field: Field::DeleteAt,
                defined: true,
            }),
            limit: 1,
            ..ClientQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.results.len(), 1);
    assert_eq!(page.results[0].id, "b");
    assert_eq!(page.total, Some(2));

    let page = store
        .query_clients(&ClientQuery {
            offset: 10,
            ..ClientQuery::default()
        })
        .await
        .unwrap();
    assert!(page.results.is_empty());
    assert_eq!(page.total, Some(4));

    let page = store
        .query_clients(&ClientQuery {
            limit: 0,
            ..ClientQuery::default()
        })
        .await
        .unwrap();
    assert!(page.results.is_empty());
    assert_eq!(page.total, Some(4));
}

async fn exists_answers_whether_any_client_matches(store: &SqlStore) {
    assert!(!store.client_exists(None).await.unwrap());
    seed(store).await;
    assert!(store.client_exists(None).await.unwrap());
    let p = cmp(Field::Name, CmpOp::Eq, text("gamma"));
    assert!(store.client_exists(Some(&p)).await.unwrap());
    let p = cmp(Field::Name, CmpOp::Eq, text("epsilon"));
    assert!(!store.client_exists(Some(&p)).await.unwrap());
}

async fn literal_values_are_never_sql(store: &SqlStore) {
    seed(store).await;
    let nasty = "x' OR '1'='1\"; DROP TABLE clients; --";
    store
        .insert_client(&client("nasty", nasty, T0 + 5000))
        .await
        .unwrap();
    let p = cmp(Field::Name, CmpOp::Eq, text("x' OR '1'='1"));
    assert!(matching(store, p).await.is_empty());
    let p = cmp(Field::Name, CmpOp::Eq, text(nasty));
    assert_eq!(matching(store, p).await, vs(&["nasty"]));
    assert_eq!(ids(store, query(None, Vec::new())).await.len(), 5);
}

async fn mismatched_value_type_is_an_error_not_a_panic(store: &SqlStore) {
    seed(store).await;
    let p = cmp(Field::CreatedAt, CmpOp::Eq, text("yesterday"));
    assert!(store
        .query_clients(&query(Some(p.clone()), Vec::new()))
        .await
        .is_err());
    assert!(store.client_exists(Some(&p)).await.is_err());
}

async fn delete_returns_the_client_and_removes_its_tokens(store: &SqlStore) {
    let full = full_client("gone");
    store.insert_client(&full).await.unwrap();
    store
        .insert_client(&client("stays", "s", T0))
        .await
        .unwrap();
    store
        .insert_opaque_token(&token(1, "gone", T0 + 60_000))
        .await
        .unwrap();
    store
        .insert_opaque_token(&token(2, "stays", T0 + 60_000))
        .await
        .unwrap();
    store
        .revoke_jwt("jti-gone", "gone", at(T0 + 60_000))
        .await
        .unwrap();
    store
        .revoke_jwt("jti-stays", "stays", at(T0 + 60_000))
        .await
        .unwrap();

    assert_eq!(store.delete_client("gone").await.unwrap(), Some(full));
    assert_eq!(store.get_client("gone").await.unwrap(), None);
    assert_eq!(store.get_opaque_token(&[1; 32]).await.unwrap(), None);
    assert!(!store.is_jwt_revoked("jti-gone").await.unwrap());

    assert!(store.get_opaque_token(&[2; 32]).await.unwrap().is_some());
    assert!(store.is_jwt_revoked("jti-stays").await.unwrap());
    assert_eq!(store.delete_client("gone").await.unwrap(), None);
}

async fn a_secret_rotates_only_from_the_secret_read(store: &SqlStore) {
    use castellan_core::client::PreviousSecret;
    store.insert_client(&client("c1", "C", T0)).await.unwrap();
    let previous = PreviousSecret {
        hash: SecretHash([7; 32]),
        expires_at: at(T0 + 60_000),
    };
    assert!(store
        .rotate_client_secret(
            "c1",
            &SecretHash([7; 32]),
            &SecretHash([8; 32]),
            Some(&previous)
        )
        .await
        .unwrap());
    let c = store.get_client("c1").await.unwrap().unwrap();
    assert_eq!(c.secret_hash, Some(SecretHash([8; 32])));
    assert_eq!(c.previous_secret, Some(previous));
    // A rotation that read the old secret loses: nothing changes.
    assert!(!store
        .rotate_client_secret("c1", &SecretHash([7; 32]), &SecretHash([9; 32]), None)
        .await
        .unwrap());
    assert!(!store
        .rotate_client_secret("absent", &SecretHash([7; 32]), &SecretHash([9; 32]), None)
        .await
        .unwrap());
    assert_eq!(store.get_client("c1").await.unwrap().unwrap(), c);
    // Without an overlap the previous secret ends with the rotation.
    assert!(store
        .rotate_client_secret("c1", &SecretHash([8; 32]), &SecretHash([9; 32]), None)
        .await
        .unwrap());
    let c = store.get_client("c1").await.unwrap().unwrap();
    assert_eq!(c.secret_hash, Some(SecretHash([9; 32])));
    assert_eq!(c.previous_secret, None);
    // An update keeps what it is given, the previous secret included.
    let mut updated = c.clone();
    updated.previous_secret = Some(PreviousSecret {
        hash: SecretHash([3; 32]),
        expires_at: at(T0 + 5),
    });
    assert!(store.update_client(&updated).await.unwrap());
    assert_eq!(store.get_client("c1").await.unwrap().unwrap(), updated);
    // An update that read an older secret loses to the rotation in between; one that read
    // the current secret (or none, for a client without one) wins.
    let mut stale = updated.clone();
    stale.name = "stale".into();
    stale.secret_hash = Some(SecretHash([7; 32]));
    assert!(!store
        .update_client_if_secret(&stale, Some(&SecretHash([7; 32])))
        .await
        .unwrap());
    assert_eq!(store.get_client("c1").await.unwrap().unwrap(), updated);
    let mut fresh = updated.clone();
    fresh.name = "fresh".into();
    assert!(store
        .update_client_if_secret(&fresh, Some(&SecretHash([9; 32])))
        .await
        .unwrap());
    assert_eq!(store.get_client("c1").await.unwrap().unwrap(), fresh);
    let mut secretless = fresh.clone();
    secretless.secret_hash = None;
    secretless.previous_secret = None;
    assert!(store.update_client(&secretless).await.unwrap());
    secretless.name = "none".into();
    assert!(store
        .update_client_if_secret(&secretless, None)
        .await
        .unwrap());
    assert!(!store
        .update_client_if_secret(&secretless, Some(&SecretHash([9; 32])))
        .await
        .unwrap());
    assert_eq!(store.get_client("c1").await.unwrap().unwrap(), secretless);
}

async fn update_keeps_id_scope_created_at_and_last_used(store: &SqlStore) {
    let mut original = client("u", "before", T0);
    original.last_used_at = Some(day(300));
    store.insert_client(&original).await.unwrap();

    let mut changed = full_client("u");
    changed.last_used_at = Some(day(1));
    assert!(store.update_client(&changed).await.unwrap());

    let stored = store.get_client("u").await.unwrap().unwrap();
    let mut expected = changed.clone();
    expected.scope = original.scope.clone();
    expected.created_at = original.created_at;
    expected.last_used_at = original.last_used_at;
    assert_eq!(stored, expected);

    assert!(!store
        .update_client(&client("absent", "a", T0))
        .await
        .unwrap());
    assert_eq!(store.get_client("absent").await.unwrap(), None);
}

async fn tenants_default_to_none_and_are_replaced_by_update(store: &SqlStore) {
    // A row written without the column (as by a Castellan before tenants existed) reads back
    // with no brands or venues: such a client gets no tenant token.
    sqlx::query(
        "INSERT INTO clients (id, name, kind, scope, grant_types, redirect_uris, auth_method, \
         token_format, public_client_credentials, created_at, metadata) \
         VALUES ('old', 'old', 'confidential', '', 'client_credentials', '[]', \
         'client_secret_basic', 'jwt', 0, $1, '{}')",
    )
    .bind(T0)
    .execute(store.pool())
    .await
    .unwrap();
    let old = store.get_client("old").await.unwrap().unwrap();
    assert!(old.tenants.is_empty());
    assert!(!old.allows_tenant("openapitest", "1"));

    let mut given = old.clone();
    given.tenants = full_client("x").tenants;
    assert!(store.update_client(&given).await.unwrap());
    let stored = store.get_client("old").await.unwrap().unwrap();
    assert_eq!(stored.tenants, given.tenants);
    assert!(stored.allows_tenant("openapitest", "2"));
    assert!(!stored.allows_tenant("openapitest", "x"));

    given.tenants.clear();
    assert!(store.update_client(&given).await.unwrap());
    assert!(store
        .get_client("old")
        .await
        .unwrap()
        .unwrap()
        .tenants
        .is_empty());
}

async fn last_used_only_rises(store: &SqlStore) {
    store.insert_client(&client("l", "l", T0)).await.unwrap();
    let last = || async { store.get_client("l").await.unwrap().unwrap().last_used_at };
    assert_eq!(last().await, None);
    store.record_client_use("l", day(20_000)).await.unwrap();
    assert_eq!(last().await, Some(day(20_000)));
    store.record_client_use("l", day(19_999)).await.unwrap();
    assert_eq!(last().await, Some(day(20_000)));
    store.record_client_use("l", day(20_000)).await.unwrap();
    store.record_client_use("l", day(20_005)).await.unwrap();
    assert_eq!(last().await, Some(day(20_005)));
    // Unknown clients are not an error.
    store.record_client_use("nobody", day(1)).await.unwrap();
}

async fn purge_deleted_clients_at_or_before_now(store: &SqlStore) {
    seed(store).await; // b deletes at T0+10000, c at T0+20000
    store
        .insert_opaque_token(&token(3, "b", T0 + 99_000))
        .await
        .unwrap();
    store
        .revoke_jwt("jti-b", "b", at(T0 + 99_000))
        .await
        .unwrap();

    assert_eq!(
        store.purge_deleted_clients(at(T0 + 9_999)).await.unwrap(),
        0
    );
    assert_eq!(
        store.purge_deleted_clients(at(T0 + 10_000)).await.unwrap(),
        1
    );
    assert_eq!(store.get_client("b").await.unwrap(), None);
    assert_eq!(store.get_opaque_token(&[3; 32]).await.unwrap(), None);
    assert!(!store.is_jwt_revoked("jti-b").await.unwrap());
    assert_eq!(
        ids(store, query(None, Vec::new())).await,
        vs(&["a", "c", "d"])
    );
    assert_eq!(
        store.purge_deleted_clients(at(T0 + 30_000)).await.unwrap(),
        1
    );
    assert_eq!(ids(store, query(None, Vec::new())).await, vs(&["a", "d"]));
}

async fn find_registered_client_matches_both_keys(store: &SqlStore) {
    store.insert_client(&full_client("reg")).await.unwrap(); // sw-1 by client:admin
    store
        .insert_client(&client("plain", "p", T0))
        .await
        .unwrap();
    let found = store
        .find_registered_client("sw-1", "client:admin")
        .await
        .unwrap();
    assert_eq!(found.map(|c| c.id), Some("reg".to_owned()));
    assert_eq!(
        store
            .find_registered_client("sw-1", "client:other")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_registered_client("sw-2", "client:admin")
            .await
            .unwrap(),
        None
    );
}

async fn bootstrap_claim_happens_once(store: &SqlStore) {
    assert!(store
        .claim_bootstrap_client(&client("boot1", "b", T0))
        .await
        .unwrap());
    assert!(!store
        .claim_bootstrap_client(&client("boot2", "b", T0))
        .await
        .unwrap());
    assert!(store.get_client("boot1").await.unwrap().is_some());
    assert_eq!(store.get_client("boot2").await.unwrap(), None);
    // Deleting the bootstrap client does not let a restart create another one.
    store.delete_client("boot1").await.unwrap();
    assert!(!store
        .claim_bootstrap_client(&client("boot3", "b", T0))
        .await
        .unwrap());
}

async fn concurrent_bootstrap_claims_have_one_winner(store: &Arc<SqlStore>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(store);
        tasks.spawn(async move {
            let c = client(&format!("boot{i}"), "bootstrap", T0);
            store.claim_bootstrap_client(&c).await.unwrap()
        });
    }
    let mut wins = 0;
    while let Some(won) = tasks.join_next().await {
        if won.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(ids(store, query(None, Vec::new())).await.len(), 1);
}

async fn first_signing_key_only_when_none_is_current(store: &SqlStore) {
    assert!(store
        .insert_first_signing_key(&key("k1", "ES256", T0))
        .await
        .unwrap());
    assert!(!store
        .insert_first_signing_key(&key("k2", "ES256", T0 + 1))
        .await
        .unwrap());
    assert!(store
        .insert_first_signing_key(&key("k3", "EdDSA", T0 + 2))
        .await
        .unwrap());
    let kids: Vec<_> = store
        .list_signing_keys(at(T0))
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, vs(&["k3", "k1"]));
    // A kid that exists is a conflict, not a silent no-op.
    let err = store
        .insert_first_signing_key(&key("k1", "RS256", T0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn concurrent_first_signing_keys_have_one_winner(store: &Arc<SqlStore>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(store);
        tasks.spawn(async move {
            store
                .insert_first_signing_key(&key(&format!("k{i}"), "ES256", T0 + i))
                .await
                .unwrap()
        });
    }
    let mut wins = 0;
    while let Some(won) = tasks.join_next().await {
        if won.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.list_signing_keys(at(T0)).await.unwrap().len(), 1);
}

async fn rotation_retires_the_current_keys_of_that_algorithm(store: &SqlStore) {
    assert!(store
        .insert_first_signing_key(&key("es1", "ES256", T0))
        .await
        .unwrap());
    assert!(store
        .insert_first_signing_key(&key("ed1", "EdDSA", T0))
        .await
        .unwrap());

    let es2 = key("es2", "ES256", T0 + 1000);
    store.rotate_signing_key(&es2, at(T0 + 5000)).await.unwrap();

    let keys = store.list_signing_keys(at(T0 + 1000)).await.unwrap();
    let kids: Vec<_> = keys.iter().map(|k| k.kid.as_str()).collect();
    // Newest first; keys created together are ordered by kid, descending.
    assert_eq!(kids, ["es2", "es1", "ed1"]);
    let es1 = keys.iter().find(|k| k.kid == "es1").unwrap();
    assert_eq!(es1.retired_at, Some(at(T0 + 1000)));
    assert_eq!(es1.expires_at, Some(at(T0 + 5000)));
    let ed1 = keys.iter().find(|k| k.kid == "ed1").unwrap();
    assert_eq!((ed1.retired_at, ed1.expires_at), (None, None));
    let new = keys.iter().find(|k| k.kid == "es2").unwrap();
    assert_eq!((new.retired_at, new.expires_at), (None, None));
    assert_eq!(new.private_pkcs8.expose(), "pkcs8-of-es2");
    assert_eq!(new.created_at, at(T0 + 1000));

    // The new key is the current one: no "first" key can be inserted beside it.
    assert!(!store
        .insert_first_signing_key(&key("es3", "ES256", T0 + 2000))
        .await
        .unwrap());

    // A second rotation retires es2 only; es1 keeps its own dates.
    store
        .rotate_signing_key(&key("es3", "ES256", T0 + 2000), at(T0 + 9000))
        .await
        .unwrap();
    let keys = store.list_signing_keys(at(T0 + 2000)).await.unwrap();
    let es1 = keys.iter().find(|k| k.kid == "es1").unwrap();
    assert_eq!(es1.expires_at, Some(at(T0 + 5000)));
    let es2 = keys.iter().find(|k| k.kid == "es2").unwrap();
    assert_eq!(es2.retired_at, Some(at(T0 + 2000)));
    assert_eq!(es2.expires_at, Some(at(T0 + 9000)));

    // Rotating to an existing kid fails and changes nothing.
    let err = store
        .rotate_signing_key(&key("es1", "ES256", T0 + 3000), at(T0 + 9999))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let keys = store.list_signing_keys(at(T0 + 2000)).await.unwrap();
    let es3 = keys.iter().find(|k| k.kid == "es3").unwrap();
    assert_eq!(es3.retired_at, None);
}

async fn list_and_purge_signing_keys_by_expiry(store: &SqlStore) {
    assert!(store
        .insert_first_signing_key(&key("k1", "ES256", T0))
        .await
        .unwrap());
    store
        .rotate_signing_key(&key("k2", "ES256", T0 + 1000), at(T0 + 5000))
        .await
        .unwrap();
    let kids = |keys: Vec<StoredKey>| keys.into_iter().map(|k| k.kid).collect::<Vec<_>>();
    assert_eq!(
        kids(store.list_signing_keys(at(T0 + 4999)).await.unwrap()),
        vs(&["k2", "k1"])
    );
    assert_eq!(
        kids(store.list_signing_keys(at(T0 + 5000)).await.unwrap()),
        vs(&["k2"])
    );
    assert_eq!(store.purge_signing_keys(at(T0 + 4999)).await.unwrap(), 0);
    assert_eq!(store.purge_signing_keys(at(T0 + 5000)).await.unwrap(), 1);
    assert_eq!(
        kids(store.list_signing_keys(at(T0)).await.unwrap()),
        vs(&["k2"])
    );
}

async fn jwt_revocation_is_idempotent(store: &SqlStore) {
    assert!(!store.is_jwt_revoked("j1").await.unwrap());
    store.revoke_jwt("j1", "c1", at(T0 + 1000)).await.unwrap();
    store.revoke_jwt("j1", "c1", at(T0 + 1000)).await.unwrap();
    assert!(store.is_jwt_revoked("j1").await.unwrap());
    assert!(!store.is_jwt_revoked("j2").await.unwrap());
}

async fn opaque_token_round_trip(store: &SqlStore) {
    store.insert_client(&client("c1", "c", T0)).await.unwrap();
    let t = token(42, "c1", T0 + 3_600_000);
    store.insert_opaque_token(&t).await.unwrap();
    assert_eq!(
        store.get_opaque_token(&[42; 32]).await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(store.get_opaque_token(&[43; 32]).await.unwrap(), None);

    let mut bare = token(44, "c1", T0 + 1);
    bare.audience = None;
    bare.claims = serde_json::Map::new();
    bare.revoked = true;
    store.insert_opaque_token(&bare).await.unwrap();
    assert_eq!(store.get_opaque_token(&[44; 32]).await.unwrap(), Some(bare));

    let err = store.insert_opaque_token(&t).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn opaque_token_revocation_needs_the_owning_client(store: &SqlStore) {
    store
        .insert_client(&client("owner", "o", T0))
        .await
        .unwrap();
    store
        .insert_client(&client("other", "o", T0))
        .await
        .unwrap();
    store
        .insert_opaque_token(&token(5, "owner", T0 + 60_000))
        .await
        .unwrap();

    assert!(!store.revoke_opaque_token(&[5; 32], "other").await.unwrap());
    assert!(
        !store
            .get_opaque_token(&[5; 32])
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert!(!store.revoke_opaque_token(&[6; 32], "owner").await.unwrap());

    assert!(store.revoke_opaque_token(&[5; 32], "owner").await.unwrap());
    assert!(
        store
            .get_opaque_token(&[5; 32])
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    // Revoking again still names an existing token of that client.
    assert!(store.revoke_opaque_token(&[5; 32], "owner").await.unwrap());
}

async fn opaque_token_for_unknown_client_conflicts(store: &SqlStore) {
    let err = store
        .insert_opaque_token(&token(7, "ghost", T0 + 1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn purge_expired_tokens_removes_both_kinds(store: &SqlStore) {
    store.insert_client(&client("c1", "c", T0)).await.unwrap();
    store
        .insert_opaque_token(&token(1, "c1", T0 + 1000))
        .await
        .unwrap();
    store
        .insert_opaque_token(&token(2, "c1", T0 + 2000))
        .await
        .unwrap();
    store.revoke_jwt("j1", "c1", at(T0 + 1000)).await.unwrap();
    store.revoke_jwt("j2", "c1", at(T0 + 2000)).await.unwrap();

    assert_eq!(store.purge_expired_tokens(at(T0 + 999)).await.unwrap(), 0);
    assert_eq!(store.purge_expired_tokens(at(T0 + 1000)).await.unwrap(), 2);
    assert_eq!(store.get_opaque_token(&[1; 32]).await.unwrap(), None);
    assert!(!store.is_jwt_revoked("j1").await.unwrap());
    assert!(store.get_opaque_token(&[2; 32]).await.unwrap().is_some());
    assert!(store.is_jwt_revoked("j2").await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// People and grants (migration 0002_people).

fn user(id: &str, email: &str) -> User {
    User {
        id: id.to_owned(),
        email: email.to_owned(),
        name: format!("Name of {id}"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: at(T0),
        is_admin: false,
        disabled_at: None,
        email_verified_at: None,
    }
}

fn org(id: &str, name: &str) -> Organization {
    Organization {
        id: id.to_owned(),
        name: name.to_owned(),
        created_at: at(T0 + 5),
    }
}

fn consent(id: &str, user_id: &str, client_id: &str, org: Option<&str>, scope: &str) -> Consent {
    Consent {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        organization_id: org.map(str::to_owned),
        scope: scope.to_owned(),
        created_at: at(T0),
        updated_at: at(T0),
    }
}

fn code(hash_byte: u8, consent: &Consent, family: &str) -> AuthorizationCode {
    AuthorizationCode {
        hash: [hash_byte; 32],
        client_id: consent.client_id.clone(),
        redirect_uri: "https://app.example/cb".to_owned(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        user_id: consent.user_id.clone(),
        organization_id: consent.organization_id.clone(),
        scope: consent.scope.clone(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        resources: None,
        auth_time: at(T0 - 1000),
        amr: Amr::PASSWORD,
        session_id: Some("ses_1".to_owned()),
        consent_id: consent.id.clone(),
        family_id: family.to_owned(),
        created_at: at(T0),
        expires_at: at(T0 + 60_000),
        // Both a DPoP-bound code (`dpop_jkt`) and an unbound one.
        dpop_jkt: (hash_byte % 2 == 1)
            .then(|| "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
    }
}

fn refresh(hash_byte: u8, consent: &Consent, family: &str, expires_ms: i64) -> RefreshToken {
    RefreshToken {
        hash: [hash_byte; 32],
        family_id: family.to_owned(),
        consent_id: consent.id.clone(),
        client_id: consent.client_id.clone(),
        user_id: consent.user_id.clone(),
        organization_id: consent.organization_id.clone(),
        scope: consent.scope.clone(),
        auth_time: at(T0 - 1000),
        amr: Amr::PASSWORD,
        session_id: Some("ses_1".to_owned()),
        created_at: at(T0),
        expires_at: at(expires_ms),
        // Both a kept audience and none (tokens stored before audiences were kept).
        audience: (hash_byte % 2 == 0).then(|| "https://api.example".into()),
        // Both a DPoP-bound token and an unbound one.
        dpop_jkt: (hash_byte % 3 == 0)
            .then(|| "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
        // Both a token renewing exchanged tokens (`act`, nested) and an ordinary one.
        delegation: (hash_byte % 2 == 1).then(|| castellan_store::people::Delegation {
            act: serde_json::json!({"sub": "agent", "act": {"sub": "first-agent"}}),
            from_client: "first-agent".into(),
        }),
    }
}

/// A client `app`, a user `u1` and a consent `k1` of u1 to app in organization `o1`, with a
/// family `f1` started under it.
async fn seed_grant(store: &SqlStore) -> Consent {
    store
        .insert_client(&client("app", "App", T0))
        .await
        .unwrap();
    store
        .insert_user(&user("u1", "ann@example.com"))
        .await
        .unwrap();
    store.insert_organization(&org("o1", "Acme")).await.unwrap();
    let k = store
        .record_consent(&consent(
            "k1",
            "u1",
            "app",
            Some("o1"),
            "openid offline_access",
        ))
        .await
        .unwrap();
    store.insert_family("f1", &k.id, at(T0)).await.unwrap();
    k
}

async fn users_round_trip_and_emails_are_unique(store: &SqlStore) {
    let u = user("u1", "ann@example.com");
    store.insert_user(&u).await.unwrap();
    assert_eq!(store.get_user("u1").await.unwrap(), Some(u.clone()));
    assert_eq!(
        store.find_user_by_email("ann@example.com").await.unwrap(),
        Some(u)
    );
    assert_eq!(
        store.find_user_by_email("bob@example.com").await.unwrap(),
        None
    );
    assert_eq!(store.get_user("nobody").await.unwrap(), None);
    let e = store
        .insert_user(&user("u2", "ann@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let e = store
        .insert_user(&user("u1", "other@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
}

async fn the_admin_flag_is_stored_set_and_cleared(store: &SqlStore) {
    let plain = user("u1", "ann@example.com");
    store.insert_user(&plain).await.unwrap();
    assert!(!store.get_user("u1").await.unwrap().unwrap().is_admin);
    let admin = User {
        is_admin: true,
        disabled_at: None,
        email_verified_at: None,
        ..user("u2", "root@example.com")
    };
    store.insert_user(&admin).await.unwrap();
    assert_eq!(store.get_user("u2").await.unwrap(), Some(admin));
    assert!(store.set_user_admin("u1", true).await.unwrap());
    assert!(store.get_user("u1").await.unwrap().unwrap().is_admin);
    assert!(store.set_user_admin("u2", false).await.unwrap());
    let found = store.find_user_by_email("root@example.com").await.unwrap();
    assert!(!found.unwrap().is_admin);
    assert!(!store.set_user_admin("nobody", true).await.unwrap());
    store.insert_organization(&org("o1", "Acme")).await.unwrap();
    store
        .upsert_membership(&Membership {
            organization_id: "o1".into(),
            user_id: "u1".into(),
            role: Role::Viewer,
        })
        .await
        .unwrap();
    let members = store.members_of("o1").await.unwrap();
    assert!(members[0].0.is_admin);
}

async fn organizations_and_memberships(store: &SqlStore) {
    store
        .insert_user(&user("u1", "zed@example.com"))
        .await
        .unwrap();
    store
        .insert_user(&user("u2", "amy@example.com"))
        .await
        .unwrap();
    store.insert_organization(&org("o1", "Zeta")).await.unwrap();
    store
        .insert_organization(&org("o2", "Alpha"))
        .await
        .unwrap();
    assert_eq!(
        store.get_organization("o1").await.unwrap(),
        Some(org("o1", "Zeta"))
    );
    assert_eq!(store.get_organization("nope").await.unwrap(), None);
    let e = store
        .insert_organization(&org("o1", "again"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");

    let m = |o: &str, u: &str, role| Membership {
        organization_id: o.to_owned(),
        user_id: u.to_owned(),
        role,
    };
    store
        .upsert_membership(&m("o1", "u1", Role::Viewer))
        .await
        .unwrap();
    store
        .upsert_membership(&m("o2", "u1", Role::Owner))
        .await
        .unwrap();
    store
        .upsert_membership(&m("o1", "u2", Role::Manager))
        .await
        .unwrap();
    // Upsert changes the role.
    store
        .upsert_membership(&m("o1", "u1", Role::Owner))
        .await
        .unwrap();
    assert_eq!(store.role_in("o1", "u1").await.unwrap(), Some(Role::Owner));
    assert_eq!(store.role_in("o2", "u2").await.unwrap(), None);

    let orgs = store.organizations_of_user("u1").await.unwrap();
    assert_eq!(
        orgs,
        vec![
            (org("o2", "Alpha"), Role::Owner),
            (org("o1", "Zeta"), Role::Owner)
        ]
    );
    let members: Vec<(String, Role)> = store
        .members_of("o1")
        .await
        .unwrap()
        .into_iter()
        .map(|(u, r)| (u.email, r))
        .collect();
    assert_eq!(
        members,
        vec![
            ("amy@example.com".to_owned(), Role::Manager),
            ("zed@example.com".to_owned(), Role::Owner)
        ]
    );

    let e = store
        .upsert_membership(&m("ghost", "u1", Role::Viewer))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    // Another OWNER first: an organization keeps one.
    store
        .upsert_membership(&m("o1", "u2", Role::Owner))
        .await
        .unwrap();
    assert!(store.remove_membership("o1", "u1").await.unwrap());
    assert!(!store.remove_membership("o1", "u1").await.unwrap());
    assert_eq!(store.organizations_of_user("u1").await.unwrap().len(), 1);
}

async fn people_and_organizations_are_listed_and_a_new_password_ends_sessions(store: &SqlStore) {
    assert_eq!(store.list_users(10, 0).await.unwrap(), (vec![], 0));
    for (id, email) in [
        ("u2", "bob@example.com"),
        ("u1", "ann@example.com"),
        ("u3", "cy@example.com"),
    ] {
        store.insert_user(&user(id, email)).await.unwrap();
    }
    let (page, total) = store.list_users(2, 0).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        page.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["u1", "u2"]
    );
    let (page, _) = store.list_users(2, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["u3"]
    );
    for (id, name) in [("o2", "Beta"), ("o1", "Acme"), ("o3", "Acme")] {
        store.insert_organization(&org(id, name)).await.unwrap();
    }
    let (orgs, total) = store.list_organizations(10, 0).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        orgs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["o1", "o3", "o2"]
    );

    // A new password ends every session of that person, and nobody else's.
    for (n, who) in [(1, "u1"), (2, "u1"), (3, "u2")] {
        store.insert_session(&session(n, who)).await.unwrap();
    }
    assert!(store
        .set_user_password("u1", "$argon2id$new", None, None)
        .await
        .unwrap());
    assert_eq!(
        store.get_user("u1").await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    assert_eq!(store.get_session(&[1; 32], at(T0)).await.unwrap(), None);
    assert_eq!(store.get_session(&[2; 32], at(T0)).await.unwrap(), None);
    assert!(store.get_session(&[3; 32], at(T0)).await.unwrap().is_some());
    assert!(!store
        .set_user_password("nobody", "$argon2id$x", None, None)
        .await
        .unwrap());
    // Changed from a page, it keeps the session it was changed in.
    for n in [4, 5] {
        store.insert_session(&session(n, "u1")).await.unwrap();
    }
    assert!(store
        .set_user_password("u1", "$argon2id$newer", Some(&[5; 32]), None)
        .await
        .unwrap());
    assert_eq!(store.get_session(&[4; 32], at(T0)).await.unwrap(), None);
    assert!(store.get_session(&[5; 32], at(T0)).await.unwrap().is_some());
    assert!(store.get_session(&[3; 32], at(T0)).await.unwrap().is_some());
}

async fn disabling_a_person_ends_their_sessions_and_grants(store: &SqlStore) {
    // u1 with a consent k1 and family f1 (seed_grant); u2 with a consent and family of theirs.
    let k = seed_grant(store).await;
    store
        .insert_user(&user("u2", "bob@example.com"))
        .await
        .unwrap();
    let theirs = store
        .record_consent(&consent("k2", "u2", &k.client_id, None, "a"))
        .await
        .unwrap();
    store
        .insert_family("f-u2", &theirs.id, at(T0))
        .await
        .unwrap();
    for (n, who) in [(1, "u1"), (2, "u2")] {
        store.insert_session(&session(n, who)).await.unwrap();
    }
    let before = store.revocations_since(0, 100).await.unwrap().len();
    assert!(!store.is_user_disabled_now("u1").await.unwrap());
    assert!(
        store.is_user_disabled_now("nobody").await.unwrap(),
        "gone counts as disabled"
    );
    assert!(store
        .set_user_disabled("u1", Some(at(T0 + 7)))
        .await
        .unwrap());
    assert!(store.is_user_disabled_now("u1").await.unwrap());
    // Disabling again keeps the first time.
    assert!(store
        .set_user_disabled("u1", Some(at(T0 + 9)))
        .await
        .unwrap());
    assert_eq!(
        store.get_user("u1").await.unwrap().unwrap().disabled_at,
        Some(at(T0 + 7))
    );
    assert_eq!(
        store.get_user("u1").await.unwrap().unwrap().disabled_at,
        Some(at(T0 + 7))
    );
    assert_eq!(store.get_session(&[1; 32], at(T0)).await.unwrap(), None);
    assert!(store.is_family_revoked("f1").await.unwrap());
    let feed = store.revocations_since(0, 100).await.unwrap();
    assert_eq!(feed.len(), before + 1);
    assert_eq!(feed[before].revoked, Revoked::Family("f1".into()));
    // Nobody else's.
    assert!(store.get_session(&[2; 32], at(T0)).await.unwrap().is_some());
    assert!(!store.is_family_revoked("f-u2").await.unwrap());
    // The keys they created are disabled; others' stay active.
    store
        .insert_api_key(&api_key("key-u1", 1, None, "u1", T0))
        .await
        .unwrap();
    store
        .insert_api_key(&api_key("key-u2", 2, None, "u2", T0))
        .await
        .unwrap();
    assert!(store
        .set_user_disabled("u1", Some(at(T0 + 8)))
        .await
        .unwrap());
    assert_eq!(
        store.get_api_key("key-u1").await.unwrap().unwrap().status,
        ApiKeyStatus::Disabled
    );
    assert_eq!(
        store.get_api_key("key-u2").await.unwrap().unwrap().status,
        ApiKeyStatus::Active
    );
    // Enabled again: the flag goes, the ended grants stay ended.
    assert!(store.set_user_disabled("u1", None).await.unwrap());
    assert_eq!(
        store.get_user("u1").await.unwrap().unwrap().disabled_at,
        None
    );
    assert!(store.is_family_revoked("f1").await.unwrap());
    assert!(!store
        .set_user_disabled("nobody", Some(at(T0)))
        .await
        .unwrap());
}

async fn an_organization_keeps_an_owner(store: &SqlStore) {
    for (id, email) in [("u1", "ann@example.com"), ("u2", "bob@example.com")] {
        store.insert_user(&user(id, email)).await.unwrap();
    }
    store.insert_organization(&org("o1", "Acme")).await.unwrap();
    let member = |user: &str, role| Membership {
        organization_id: "o1".into(),
        user_id: user.into(),
        role,
    };
    store
        .upsert_membership(&member("u1", Role::Owner))
        .await
        .unwrap();
    store
        .upsert_membership(&member("u2", Role::Viewer))
        .await
        .unwrap();
    // The last OWNER: neither demoted nor removed.
    let e = store
        .upsert_membership(&member("u1", Role::Manager))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let e = store.remove_membership("o1", "u1").await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert_eq!(store.role_in("o1", "u1").await.unwrap(), Some(Role::Owner));
    // Other members come and go; with a second OWNER the first may leave.
    assert!(store.remove_membership("o1", "u2").await.unwrap());
    store
        .upsert_membership(&member("u2", Role::Owner))
        .await
        .unwrap();
    store
        .upsert_membership(&member("u1", Role::Viewer))
        .await
        .unwrap();
    assert!(store.remove_membership("o1", "u1").await.unwrap());
    assert_eq!(store.role_in("o1", "u2").await.unwrap(), Some(Role::Owner));
}

async fn second_factors_are_confirmed_used_once_and_removed(store: &SqlStore) {
    store
        .insert_user(&user("u1", "ann@example.com"))
        .await
        .unwrap();
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    // Nothing yet; an enrolment waits unconfirmed and counts for nothing.
    assert!(store.get_totp("u1").await.unwrap().is_none());
    assert!(store
        .start_totp("u1", "OLDSECRETOLDSECRET", at(T0))
        .await
        .unwrap());
    assert!(store.start_totp("u1", secret, at(T0)).await.unwrap());
    let waiting = store.get_totp("u1").await.unwrap().unwrap();
    assert_eq!(
        waiting.secret.expose(),
        secret,
        "a new start replaces the waiting one"
    );
    assert_eq!(waiting.confirmed_at, None);
    assert!(!store.use_totp_step("u1", 10, 10, at(T0)).await.unwrap());
    // Confirming needs the secret it waits with; it gives the recovery codes.
    let codes = [[1u8; 32], [2u8; 32]];
    assert!(!store
        .confirm_totp("u1", "OLDSECRETOLDSECRET", 9, &codes, at(T0))
        .await
        .unwrap());
    assert!(store
        .confirm_totp("u1", secret, 9, &codes, at(T0 + 1))
        .await
        .unwrap());
    let confirmed = store.get_totp("u1").await.unwrap().unwrap();
    assert_eq!(confirmed.confirmed_at, Some(at(T0 + 1)));
    assert_eq!(confirmed.last_step, 9);
    // A confirmed app is not replaced by a new start.
    assert!(!store.start_totp("u1", "ANOTHER", at(T0)).await.unwrap());
    // Each step once, and only later ones.
    assert!(!store.use_totp_step("u1", 9, 10, at(T0 + 2)).await.unwrap());
    assert!(store.use_totp_step("u1", 10, 10, at(T0 + 2)).await.unwrap());
    assert!(!store.use_totp_step("u1", 10, 10, at(T0 + 3)).await.unwrap());
    assert_eq!(
        store.get_totp("u1").await.unwrap().unwrap().last_used_at,
        Some(at(T0 + 2))
    );
    // Wrong codes past the limit lock the app's codes; a recovery code unlocks them.
    for n in 1..=3 {
        assert_eq!(store.record_failed_code("u1").await.unwrap(), n);
    }
    assert_eq!(store.get_totp("u1").await.unwrap().unwrap().failed_codes, 3);
    assert!(!store.use_totp_step("u1", 11, 3, at(T0 + 3)).await.unwrap());
    assert!(store.use_totp_step("u1", 11, 4, at(T0 + 3)).await.unwrap());
    assert_eq!(store.get_totp("u1").await.unwrap().unwrap().failed_codes, 0);
    for _ in 0..3 {
        store.record_failed_code("u1").await.unwrap();
    }
    assert!(!store.use_totp_step("u1", 12, 3, at(T0 + 3)).await.unwrap());
    assert_eq!(store.record_failed_code("ghost").await.unwrap(), 0);
    // Recovery codes: each once.
    assert_eq!(store.recovery_codes("u1").await.unwrap().left, 2);
    assert!(store
        .use_recovery_code("u1", &[1; 32], at(T0 + 4))
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code("u1", &[1; 32], at(T0 + 5))
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code("u1", &[9; 32], at(T0 + 5))
        .await
        .unwrap());
    assert_eq!(
        store.get_totp("u1").await.unwrap().unwrap().failed_codes,
        0,
        "a recovery code unlocks the app"
    );
    let left = store.recovery_codes("u1").await.unwrap();
    assert_eq!((left.left, left.last_used_at), (1, Some(at(T0 + 4))));
    // Another person's code is not theirs.
    store
        .insert_user(&user("u2", "bob@example.com"))
        .await
        .unwrap();
    assert!(!store
        .use_recovery_code("u2", &[2; 32], at(T0 + 5))
        .await
        .unwrap());
    assert!(!store
        .replace_recovery_codes("u2", &[[3; 32]], at(T0))
        .await
        .unwrap());
    // Replacing gives new codes and ends the old ones.
    assert!(store
        .replace_recovery_codes("u1", &[[4; 32], [5; 32], [6; 32]], at(T0 + 6))
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code("u1", &[2; 32], at(T0 + 7))
        .await
        .unwrap());
    assert_eq!(store.recovery_codes("u1").await.unwrap().left, 3);
    // Removal takes the app and the codes.
    assert!(store.remove_totp("u1").await.unwrap());
    assert!(!store.remove_totp("u1").await.unwrap());
    assert!(store.get_totp("u1").await.unwrap().is_none());
    assert_eq!(store.recovery_codes("u1").await.unwrap().left, 0);
    // No such person: refused as a conflict, nothing stored.
    let e = store.start_totp("ghost", secret, at(T0)).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
}

async fn sign_in_methods_round_trip_on_sessions(store: &SqlStore) {
    store
        .insert_user(&user("u1", "ann@example.com"))
        .await
        .unwrap();
    let mut s = session(3, "u1");
    s.amr = Amr::PASSWORD.with(castellan_core::authn::Method::Otp);
    store.insert_session(&s).await.unwrap();
    let read = store.get_session(&[3; 32], at(T0)).await.unwrap().unwrap();
    assert_eq!(read.amr, s.amr);
    // The clients a session got codes in are recorded once each and taken when it ends; the
    // upkeep drops those of sessions that are gone.
    store.insert_client(&client("c1", "c1", T0)).await.unwrap();
    store.insert_client(&client("c2", "c2", T0)).await.unwrap();
    for c in ["c1", "c1", "c2"] {
        store
            .record_session_client(&s.id, c, "u1", at(T0))
            .await
            .unwrap();
    }
    store
        .record_session_client("ses_gone", "c1", "u1", at(T0))
        .await
        .unwrap();
    store.purge_expired_tokens(at(T0)).await.unwrap();
    let mut taken = store
        .take_session_clients(&[s.id.clone(), "ses_gone".to_owned()])
        .await
        .unwrap();
    taken.sort();
    assert_eq!(
        taken,
        vec![
            (s.id.clone(), "u1".to_owned(), "c1".to_owned()),
            (s.id.clone(), "u1".to_owned(), "c2".to_owned()),
        ]
    );
    assert!(store
        .take_session_clients(&[s.id.clone()])
        .await
        .unwrap()
        .is_empty());
    // A stored method this version does not know is corruption, not a weaker sign-in.
    sqlx::query("UPDATE sessions SET amr = 'pwd sms' WHERE user_id = 'u1'")
        .execute(store.pool())
        .await
        .unwrap();
    let e = store.get_session(&[3; 32], at(T0)).await.unwrap_err();
    assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
}

async fn sessions_expire_and_are_deleted(store: &SqlStore) {
    store
        .insert_user(&user("u1", "ann@example.com"))
        .await
        .unwrap();
    let s = session(3, "u1");
    store.insert_session(&s).await.unwrap();
    assert_eq!(
        store.get_session(&[3; 32], at(T0 + 999)).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        store.get_session(&[3; 32], at(T0 + 1000)).await.unwrap(),
        None
    );
    assert_eq!(store.get_session(&[4; 32], at(T0)).await.unwrap(), None);
    let e = store.insert_session(&s).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    store.delete_session(&[3; 32]).await.unwrap();
    assert_eq!(store.get_session(&[3; 32], at(T0)).await.unwrap(), None);
    let mut ghost = s;
    "ghost".clone_into(&mut ghost.user_id);
    let e = store.insert_session(&ghost).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    // Another hash under a public id already taken is refused too.
    store.insert_session(&session(6, "u1")).await.unwrap();
    let mut twin = session(7, "u1");
    twin.id = session(6, "u1").id;
    let e = store.insert_session(&twin).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    // The purge removes expired sessions only.
    let mut old = session(8, "u1");
    old.expires_at = at(T0 + 10);
    store.insert_session(&old).await.unwrap();
    assert!(store.purge_expired_tokens(at(T0 + 10)).await.unwrap() >= 1);
    let listed = store.list_sessions("u1", at(T0)).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["ses_6"]
    );
}

async fn a_person_lists_and_ends_their_sessions(store: &SqlStore) {
    for (id, email) in [("u1", "ann@example.com"), ("u2", "bob@example.com")] {
        store.insert_user(&user(id, email)).await.unwrap();
    }
    for (n, who, signed_in) in [(1, "u1", 5), (2, "u1", 9), (3, "u1", 7), (4, "u2", 8)] {
        let mut s = session(n, who);
        s.auth_time = at(T0 + signed_in);
        store.insert_session(&s).await.unwrap();
    }
    let mut gone = session(5, "u1");
    gone.expires_at = at(T0 + 1);
    store.insert_session(&gone).await.unwrap();
    // Live ones only, newest sign-in first, with what the page shows.
    let listed = store.list_sessions("u1", at(T0 + 1)).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["ses_2", "ses_3", "ses_1"]
    );
    assert_eq!(listed[0].device, "Firefox 120 on Linux");
    assert_eq!(listed[0].address, "192.0.2.2");
    // One by id: never another person's.
    assert!(!store.end_user_session("u2", "ses_1").await.unwrap());
    assert!(store.end_user_session("u1", "ses_1").await.unwrap());
    assert!(!store.end_user_session("u1", "ses_1").await.unwrap());
    assert_eq!(store.get_session(&[1; 32], at(T0)).await.unwrap(), None);
    // All but this one, then all.
    assert_eq!(
        store.end_user_sessions("u1", Some(&[2; 32])).await.unwrap(),
        2
    );
    let left = store.list_sessions("u1", at(T0)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, "ses_2");
    assert_eq!(store.end_user_sessions("u1", None).await.unwrap(), 1);
    assert!(store.list_sessions("u1", at(T0)).await.unwrap().is_empty());
    assert_eq!(store.list_sessions("u2", at(T0)).await.unwrap().len(), 1);
}

/// Session `n`: hash `[n; 32]`, id `ses_{n}`, live from `T0` to `T0 + 1000`.
fn session(n: u8, user_id: &str) -> Session {
    Session {
        hash: [n; 32],
        id: format!("ses_{n}"),
        user_id: user_id.to_owned(),
        auth_time: at(T0),
        amr: Amr::PASSWORD,
        expires_at: at(T0 + 1000),
        device: "Firefox 120 on Linux".to_owned(),
        address: format!("192.0.2.{n}"),
    }
}

async fn used_codes_stay_a_day_past_expiry_then_are_purged(store: &SqlStore) {
    let k = seed_grant(store).await;
    let c = code(1, &k, "f-purge");
    store.insert_code(&c).await.unwrap();
    assert!(matches!(
        store.redeem_code(&[1; 32], at(T0)).await.unwrap(),
        CodeRedemption::Fresh(_)
    ));
    let day = 86_400_000;
    // Expired, but within a day: kept, so that a replay is still told apart.
    store
        .purge_expired_tokens(at(T0 + 60_000 + day - 1))
        .await
        .unwrap();
    assert!(matches!(
        store.redeem_code(&[1; 32], at(T0)).await.unwrap(),
        CodeRedemption::Replayed(_)
    ));
    // A day past its expiry: gone.
    store
        .purge_expired_tokens(at(T0 + 60_000 + day))
        .await
        .unwrap();
    assert_eq!(
        store.redeem_code(&[1; 32], at(T0)).await.unwrap(),
        CodeRedemption::Unknown
    );
}

async fn codes_redeem_once_and_record_their_family(store: &SqlStore) {
    let k = seed_grant(store).await;
    let c = code(1, &k, "f-code");
    store.insert_code(&c).await.unwrap();
    assert!(
        store.is_family_revoked("f-code").await.unwrap(),
        "unknown family is revoked"
    );
    // Reading an unused code does not spend it.
    assert_eq!(store.find_code(&[1; 32]).await.unwrap(), Some(c.clone()));
    assert_eq!(store.find_code(&[1; 32]).await.unwrap(), Some(c.clone()));
    assert_eq!(store.find_code(&[2; 32]).await.unwrap(), None);

    assert_eq!(
        store.redeem_code(&[1; 32], at(T0 + 10)).await.unwrap(),
        CodeRedemption::Fresh(c.clone())
    );
    assert!(!store.is_family_revoked("f-code").await.unwrap());
    assert_eq!(
        store.find_code(&[1; 32]).await.unwrap(),
        None,
        "a redeemed code is not found"
    );
    assert_eq!(
        store.redeem_code(&[1; 32], at(T0 + 20)).await.unwrap(),
        CodeRedemption::Replayed(c.clone())
    );
    assert_eq!(
        store.redeem_code(&[2; 32], at(T0)).await.unwrap(),
        CodeRedemption::Unknown
    );
    let e = store.insert_code(&c).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");

    // Optional fields round-trip as absent too.
    let mut bare = code(5, &k, "f-bare");
    bare.code_challenge = None;
    bare.nonce = None;
    bare.organization_id = None;
    // Several resources round-trip as a list, in order.
    bare.resources = castellan_core::resource::Audience::from_list([
        "https://api.example".to_owned(),
        "https://other.example/mcp".to_owned(),
    ]);
    store.insert_code(&bare).await.unwrap();
    assert_eq!(
        store.redeem_code(&[5; 32], at(T0)).await.unwrap(),
        CodeRedemption::Fresh(bare)
    );
}

async fn concurrent_code_redemptions_have_one_winner(store: &Arc<SqlStore>) {
    let k = seed_grant(store).await;
    store.insert_code(&code(1, &k, "f-race")).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let store = Arc::clone(store);
        tasks.spawn(async move { store.redeem_code(&[1; 32], at(T0 + 1)).await.unwrap() });
    }
    let mut fresh = 0;
    let mut replayed = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            CodeRedemption::Fresh(_) => fresh += 1,
            CodeRedemption::Replayed(_) => replayed += 1,
            CodeRedemption::Unknown => panic!("the code exists"),
        }
    }
    assert_eq!((fresh, replayed), (1, 1));
}

async fn consents_widen_to_the_union_and_keep_their_id(store: &SqlStore) {
    let k = seed_grant(store).await;
    assert_eq!(k.id, "k1");
    let mut again = consent("k2", "u1", "app", Some("o1"), "email openid profile");
    again.updated_at = at(T0 + 500);
    let widened = store.record_consent(&again).await.unwrap();
    assert_eq!(widened.id, "k1");
    assert_eq!(widened.scope, "openid offline_access email profile");
    assert_eq!(widened.created_at, at(T0));
    assert_eq!(widened.updated_at, at(T0 + 500));
    assert_eq!(
        store.get_consent("k1").await.unwrap(),
        Some(widened.clone())
    );
    assert_eq!(store.get_consent("k2").await.unwrap(), None);
    // A narrower approval changes nothing.
    let same = store
        .record_consent(&consent("k3", "u1", "app", Some("o1"), "openid"))
        .await
        .unwrap();
    assert_eq!(same, widened);
    assert_eq!(
        store.find_consent("u1", "app", Some("o1")).await.unwrap(),
        Some(widened)
    );
    // Another organization (or none) is another consent.
    assert_eq!(store.find_consent("u1", "app", None).await.unwrap(), None);
    let no_org = store
        .record_consent(&consent("k4", "u1", "app", None, "openid"))
        .await
        .unwrap();
    assert_eq!(no_org.id, "k4");
    let no_org_again = store
        .record_consent(&consent("k5", "u1", "app", None, "email"))
        .await
        .unwrap();
    assert_eq!(no_org_again.id, "k4");
    assert_eq!(no_org_again.scope, "openid email");
    assert_eq!(
        store.find_consent("u1", "app", None).await.unwrap(),
        Some(no_org_again)
    );
    assert_eq!(store.find_consent("u1", "other", None).await.unwrap(), None);
    let e = store
        .record_consent(&consent("k6", "u1", "ghost", None, "openid"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
}

async fn consents_are_listed_newest_first_and_revoked_with_their_families(store: &SqlStore) {
    let k1 = seed_grant(store).await;
    store
        .insert_client(&client("app2", "App 2", T0))
        .await
        .unwrap();
    let mut k2 = consent("k2", "u1", "app2", None, "openid");
    k2.created_at = at(T0 + 100);
    k2.updated_at = at(T0 + 100);
    store.record_consent(&k2).await.unwrap();
    let listed: Vec<String> = store
        .consents_of_user("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, vs(&["k2", "k1"]));
    assert!(store.consents_of_user("nobody").await.unwrap().is_empty());

    store.insert_code(&code(1, &k1, "f-code")).await.unwrap();
    store
        .insert_refresh_token(&refresh(7, &k1, "f1", T0 + 60_000))
        .await
        .unwrap();
    assert!(!store.is_consent_revoked("k1").await.unwrap());

    // Only the owner can revoke it.
    assert!(!store.revoke_consent("u2", "k1", at(T0 + 1)).await.unwrap());
    assert!(store.revoke_consent("u1", "k1", at(T0 + 1)).await.unwrap());
    assert!(!store.revoke_consent("u1", "k1", at(T0 + 2)).await.unwrap());
    assert!(store.is_consent_revoked("k1").await.unwrap());
    assert!(store.is_family_revoked("f1").await.unwrap());
    assert_eq!(store.get_consent("k1").await.unwrap(), None);
    assert_eq!(
        store.redeem_code(&[1; 32], at(T0 + 3)).await.unwrap(),
        CodeRedemption::Unknown
    );
    let new = refresh(8, &k1, "f1", T0 + 90_000);
    assert!(matches!(
        store
            .use_refresh_token(&[7; 32], &new, at(T0 + 3))
            .await
            .unwrap(),
        RefreshUse::Unknown | RefreshUse::Dead
    ));
    assert!(!store.is_consent_revoked("k2").await.unwrap());
    assert_eq!(store.consents_of_user("u1").await.unwrap().len(), 1);
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(store: &SqlStore) {
    let k = seed_grant(store).await;
    let first = refresh(1, &k, "f1", T0 + 60_000);
    store.insert_refresh_token(&first).await.unwrap();
    assert_eq!(
        store.find_refresh_token(&[1; 32]).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.find_refresh_token(&[9; 32]).await.unwrap(), None);

    // The new token's inactivity expiry is what the caller gives: it restarts at each use.
    let mut second = refresh(2, &k, "f1", T0 + 110_000);
    second.created_at = at(T0 + 50_000);
    assert_eq!(
        store
            .use_refresh_token(&[1; 32], &second, at(T0 + 50_000))
            .await
            .unwrap(),
        RefreshUse::Rotated(first.clone())
    );
    assert_eq!(
        store.find_refresh_token(&[2; 32]).await.unwrap(),
        Some(second.clone())
    );
    let third = refresh(3, &k, "f1", T0 + 200_000);
    assert_eq!(
        store
            .use_refresh_token(&[2; 32], &third, at(T0 + 100_000))
            .await
            .unwrap(),
        RefreshUse::Rotated(second)
    );
    assert!(!store.is_family_revoked("f1").await.unwrap());

    // Presenting the rotated-out first token again: reuse, the family is revoked.
    let never = refresh(4, &k, "f1", T0 + 300_000);
    assert_eq!(
        store
            .use_refresh_token(&[1; 32], &never, at(T0 + 101_000))
            .await
            .unwrap(),
        RefreshUse::Reused(first)
    );
    assert!(store.is_family_revoked("f1").await.unwrap());
    assert_eq!(store.find_refresh_token(&[4; 32]).await.unwrap(), None);
    // The newest token dies with its family.
    assert_eq!(
        store
            .use_refresh_token(&[3; 32], &never, at(T0 + 102_000))
            .await
            .unwrap(),
        RefreshUse::Dead
    );
    assert_eq!(
        store
            .use_refresh_token(&[9; 32], &never, at(T0))
            .await
            .unwrap(),
        RefreshUse::Unknown
    );
}

async fn expired_or_revoked_refresh_tokens_are_dead(store: &SqlStore) {
    let k = seed_grant(store).await;
    store
        .insert_refresh_token(&refresh(1, &k, "f1", T0 + 1000))
        .await
        .unwrap();
    let next = refresh(2, &k, "f1", T0 + 5000);
    assert_eq!(
        store
            .use_refresh_token(&[1; 32], &next, at(T0 + 1000))
            .await
            .unwrap(),
        RefreshUse::Dead
    );
    assert_eq!(store.find_refresh_token(&[2; 32]).await.unwrap(), None);
    assert!(
        !store.is_family_revoked("f1").await.unwrap(),
        "expiry revokes nothing"
    );

    store.insert_family("f2", &k.id, at(T0)).await.unwrap();
    store
        .insert_refresh_token(&refresh(3, &k, "f2", T0 + 60_000))
        .await
        .unwrap();
    store
        .revoke_refresh_family("f2", at(T0 + 10))
        .await
        .unwrap();
    assert_eq!(
        store
            .use_refresh_token(&[3; 32], &refresh(4, &k, "f2", T0 + 90_000), at(T0 + 20))
            .await
            .unwrap(),
        RefreshUse::Dead
    );
    let e = store
        .insert_refresh_token(&refresh(5, &k, "no-family", T0 + 1))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
}

async fn only_current_refresh_tokens_are_found_as_current(store: &SqlStore) {
    let k = seed_grant(store).await;
    let first = refresh(1, &k, "f1", T0 + 60_000);
    store.insert_refresh_token(&first).await.unwrap();
    assert_eq!(
        store
            .find_current_refresh_token(&[1; 32], at(T0 + 59_999))
            .await
            .unwrap(),
        Some(first.clone())
    );
    // Expired at its expiry; unknown hashes are not found.
    assert_eq!(
        store
            .find_current_refresh_token(&[1; 32], at(T0 + 60_000))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_current_refresh_token(&[9; 32], at(T0))
            .await
            .unwrap(),
        None
    );
    // Rotated out: only its successor is current.
    let second = refresh(2, &k, "f1", T0 + 90_000);
    store
        .use_refresh_token(&[1; 32], &second, at(T0 + 10))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_current_refresh_token(&[1; 32], at(T0 + 20))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_current_refresh_token(&[2; 32], at(T0 + 20))
            .await
            .unwrap(),
        Some(second)
    );
    // A revoked family has no current token.
    store
        .revoke_refresh_family("f1", at(T0 + 30))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_current_refresh_token(&[2; 32], at(T0 + 40))
            .await
            .unwrap(),
        None
    );
}

async fn concurrent_refresh_uses_have_one_rotation(store: &Arc<SqlStore>) {
    let k = seed_grant(store).await;
    store
        .insert_refresh_token(&refresh(1, &k, "f1", T0 + 60_000))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..2u8 {
        let store = Arc::clone(store);
        let next = refresh(10 + i, &k, "f1", T0 + 120_000);
        tasks.spawn(async move {
            store
                .use_refresh_token(&[1; 32], &next, at(T0 + 10))
                .await
                .unwrap()
        });
    }
    let mut rotated = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            RefreshUse::Rotated(_) => rotated += 1,
            RefreshUse::Reused(_) | RefreshUse::Dead => {}
            RefreshUse::Unknown => panic!("the token exists"),
        }
    }
    assert_eq!(rotated, 1);
}

async fn families_are_revoked_alone_or_by_consent(store: &SqlStore) {
    let k = seed_grant(store).await;
    store.insert_family("f2", &k.id, at(T0)).await.unwrap();
    let e = store.insert_family("f2", &k.id, at(T0)).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let e = store
        .insert_family("f3", "no-consent", at(T0))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert!(store.is_family_revoked("unknown").await.unwrap());
    assert_eq!(
        store.consent_of_live_family("f2").await.unwrap(),
        Some(k.id.clone())
    );
    assert_eq!(store.consent_of_live_family("unknown").await.unwrap(), None);
    // Delegated families, two deep, under the parent's consent.
    assert!(store.insert_child_family("c1", "f1", at(T0)).await.unwrap());
    assert!(store.insert_child_family("c2", "c1", at(T0)).await.unwrap());
    assert!(!store
        .insert_child_family("c3", "unknown", at(T0))
        .await
        .unwrap());
    assert!(
        store.is_family_revoked("c3").await.unwrap(),
        "nothing stored"
    );
    assert_eq!(
        store.consent_of_live_family("c2").await.unwrap(),
        Some(k.id.clone())
    );

    store.revoke_refresh_family("f1", at(T0 + 1)).await.unwrap();
    // Revoked with their parent, however deep; a revoked parent starts none.
    assert!(store.is_family_revoked("c1").await.unwrap());
    assert!(store.is_family_revoked("c2").await.unwrap());
    assert!(!store
        .insert_child_family("c4", "f1", at(T0 + 1))
        .await
        .unwrap());
    // Revoking a child leaves its parent alone.
    assert!(store.insert_child_family("c5", "f2", at(T0)).await.unwrap());
    store.revoke_refresh_family("c5", at(T0 + 1)).await.unwrap();
    assert!(!store.is_family_revoked("f2").await.unwrap());
    store.revoke_refresh_family("f1", at(T0 + 2)).await.unwrap();
    store
        .revoke_refresh_family("unknown", at(T0 + 2))
        .await
        .unwrap();
    assert!(store.is_family_revoked("f1").await.unwrap());
    assert!(!store.is_family_revoked("f2").await.unwrap());

    store
        .revoke_families_of_consent(&k.id, at(T0 + 3))
        .await
        .unwrap();
    assert!(store.is_family_revoked("f2").await.unwrap());
    assert_eq!(store.consent_of_live_family("f1").await.unwrap(), None);
    assert_eq!(store.consent_of_live_family("f2").await.unwrap(), None);
    // The consent itself stays.
    assert!(!store.is_consent_revoked(&k.id).await.unwrap());
}

async fn deleting_a_client_removes_its_grants(store: &SqlStore) {
    let k = seed_grant(store).await;
    store.insert_code(&code(1, &k, "f-code")).await.unwrap();
    store
        .insert_refresh_token(&refresh(2, &k, "f1", T0 + 60_000))
        .await
        .unwrap();
    store.delete_client("app").await.unwrap();
    assert_eq!(store.get_consent(&k.id).await.unwrap(), None);
    assert_eq!(store.find_refresh_token(&[2; 32]).await.unwrap(), None);
    assert!(store.is_family_revoked("f1").await.unwrap());
    assert_eq!(
        store.redeem_code(&[1; 32], at(T0)).await.unwrap(),
        CodeRedemption::Unknown
    );
    // The user stays.
    assert!(store.get_user("u1").await.unwrap().is_some());
}

// ---------------------------------------------------------------------------------------------
// The revocation feed.

async fn feed(store: &SqlStore, cursor: i64, limit: u32) -> Vec<(i64, Revoked)> {
    store
        .revocations_since(cursor, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.cursor, r.revoked))
        .collect()
}

async fn revocation_feed_records_every_kind_in_order(store: &SqlStore) {
    let k = seed_grant(store).await;
    assert!(feed(store, 0, 100).await.is_empty());
    store.insert_family("f2", &k.id, at(T0)).await.unwrap();
    assert!(store.insert_child_family("c1", "f1", at(T0)).await.unwrap());
    // Each revocation is recorded once, however often it is repeated.
    for _ in 0..2 {
        store
            .revoke_jwt("j1", "app", at(T0 + 60_000))
            .await
            .unwrap();
        store.revoke_refresh_family("f1", at(T0 + 1)).await.unwrap();
    }
    store.revoke_consent("u1", &k.id, at(T0 + 2)).await.unwrap();
    store.delete_client("app").await.unwrap();
    store.delete_client("app").await.unwrap();
    let all = feed(store, 0, 100).await;
    let revoked: Vec<Revoked> = all.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(
        revoked,
        vec![
            Revoked::Jwt("j1".into()),
            Revoked::Family("f1".into()),
            // The family delegated from it, revoked with it.
            Revoked::Family("c1".into()),
            // The consent's families still live, then the connected app itself.
            Revoked::Family("f2".into()),
            Revoked::ConnectedApp {
                client_id: "app".into(),
                user_id: "u1".into()
            },
            Revoked::Client("app".into()),
        ]
    );
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "{all:?}");
    // Read by cursor, a page at a time.
    let page = feed(store, all[0].0, 2).await;
    assert_eq!(page, all[1..3].to_vec());
    assert!(feed(store, all[5].0, 10).await.is_empty());
    let first = &store.revocations_since(0, 1).await.unwrap()[0];
    assert_eq!(first.expires_at, Some(at(T0 + 60_000)));
    let consent = &store.revocations_since(all[3].0, 1).await.unwrap()[0];
    assert_eq!(consent.created_at, at(T0 + 2));
    assert_eq!(consent.expires_at, None);
}

async fn revocation_feed_is_purged_by_expiry_and_age(store: &SqlStore) {
    seed_grant(store).await;
    store.revoke_jwt("j1", "app", at(T0 + 10)).await.unwrap();
    store
        .revoke_refresh_family("f1", at(T0 + 100))
        .await
        .unwrap();
    store
        .record_revocations(&[Revoked::Client("gone".into())], at(T0 + 200), None)
        .await
        .unwrap();
    // The JWT's entry goes at its exp; the family's once no token issued before it lives.
    assert_eq!(
        store.purge_revocations(at(T0 + 10), at(T0)).await.unwrap(),
        1
    );
    assert_eq!(
        store
            .purge_revocations(at(T0 + 10), at(T0 + 100))
            .await
            .unwrap(),
        1
    );
    let left = feed(store, 0, 10).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1, Revoked::Client("gone".into()));
}

// ---------------------------------------------------------------------------------------------
// API keys.

fn api_key(id: &str, hash_byte: u8, org: Option<&str>, by: &str, created_ms: i64) -> ApiKey {
    ApiKey {
        id: id.to_owned(),
        hash: [hash_byte; 32],
        visible_prefix: "csb_LAb3x".into(),
        last_four: "9f0e".into(),
        name: format!("key {id}"),
        scope: "products:read search:read".into(),
        organization_id: org.map(str::to_owned),
        tier: "default".into(),
        created_at: at(created_ms),
        created_by: by.to_owned(),
        last_used_at: None,
        expires_at: Some(at(created_ms + 86_400_000)),
        status: ApiKeyStatus::Active,
        rotated_from: None,
    }
}

/// Removing a member or lowering their role disables, in the same
/// transaction, the active keys they created in that organization, and only those.
async fn member_changes_disable_the_members_keys(store: &SqlStore) {
    for (id, email) in [("u1", "a@example.com"), ("u2", "b@example.com")] {
        store.insert_user(&user(id, email)).await.unwrap();
    }
    for o in ["org-1", "org-2"] {
        store.insert_organization(&org(o, o)).await.unwrap();
    }
    let m = |o: &str, u: &str, role| Membership {
        organization_id: o.into(),
        user_id: u.into(),
        role,
    };
    store
        .upsert_membership(&m("org-1", "u1", Role::Owner))
        .await
        .unwrap();
    store
        .upsert_membership(&m("org-2", "u1", Role::Owner))
        .await
        .unwrap();
    store
        .upsert_membership(&m("org-1", "u2", Role::Manager))
        .await
        .unwrap();
    let keys = [
        api_key("a", 1, Some("org-1"), "u1", T0),
        api_key("b", 2, Some("org-2"), "u1", T0),
        api_key("c", 3, Some("org-1"), "u2", T0),
        api_key("d", 4, Some("org-1"), "u1", T0),
    ];
    for k in &keys {
        store.insert_api_key(k).await.unwrap();
    }
    store
        .set_api_key_status("d", ApiKeyStatus::Revoked)
        .await
        .unwrap();
    let status =
        |id: &'static str| async move { store.get_api_key(id).await.unwrap().unwrap().status };
    // Same or higher role: nothing changes.
    store
        .upsert_membership(&m("org-1", "u2", Role::Manager))
        .await
        .unwrap();
    store
        .upsert_membership(&m("org-1", "u2", Role::Owner))
        .await
        .unwrap();
    assert_eq!(status("c").await, ApiKeyStatus::Active);
    // Lowered: u2's key of org-1 is disabled.
    store
        .upsert_membership(&m("org-1", "u2", Role::Viewer))
        .await
        .unwrap();
    assert_eq!(status("c").await, ApiKeyStatus::Disabled);
    assert_eq!(status("a").await, ApiKeyStatus::Active);
    // Removed from org-1 (u2 is its OWNER again first: an organization keeps one): u1's keys
    // there are disabled (a revoked one stays revoked); their key of org-2 keeps working.
    store
        .upsert_membership(&m("org-1", "u2", Role::Owner))
        .await
        .unwrap();
    assert!(store.remove_membership("org-1", "u1").await.unwrap());
    assert_eq!(status("a").await, ApiKeyStatus::Disabled);
    assert_eq!(status("d").await, ApiKeyStatus::Revoked);
    assert_eq!(status("b").await, ApiKeyStatus::Active);
    assert!(!store.remove_membership("org-1", "u1").await.unwrap());
}

async fn api_keys_round_trip_and_are_found_by_hash(store: &SqlStore) {
    let k = api_key("k1", 1, Some("org-1"), "u1", T0);
    store.insert_api_key(&k).await.unwrap();
    assert_eq!(
        store.find_api_key_by_hash(&[1; 32]).await.unwrap(),
        Some(k.clone())
    );
    assert_eq!(store.get_api_key("k1").await.unwrap(), Some(k));
    assert_eq!(store.find_api_key_by_hash(&[2; 32]).await.unwrap(), None);
    assert_eq!(store.get_api_key("nope").await.unwrap(), None);
    let mut bare = api_key("k2", 2, None, "c1", T0);
    bare.expires_at = None;
    store.insert_api_key(&bare).await.unwrap();
    assert_eq!(store.get_api_key("k2").await.unwrap(), Some(bare));
}

async fn api_key_hashes_and_ids_are_unique(store: &SqlStore) {
    store
        .insert_api_key(&api_key("k1", 1, None, "u1", T0))
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_api_key(&api_key("k2", 1, None, "u1", T0))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .insert_api_key(&api_key("k1", 3, None, "u1", T0))
            .await,
        Err(StoreError::Conflict(_))
    ));
}

async fn api_keys_are_listed_by_owner_in_pages(store: &SqlStore) {
    for (i, (org, by)) in [("o1", "u1"), ("o1", "u2"), ("o2", "u1"), ("o1", "u1")]
        .iter()
        .enumerate()
    {
        let id = format!("k{i}");
        let n = u8::try_from(i).unwrap();
        store
            .insert_api_key(&api_key(&id, n + 1, Some(org), by, T0 + i64::from(n)))
            .await
            .unwrap();
    }
    let ids = |p: castellan_store::Page<ApiKey>| -> (Vec<String>, Option<u64>) {
        (p.results.into_iter().map(|k| k.id).collect(), p.total)
    };
    let o1 = ApiKeyOwner::Organization("o1".into());
    assert_eq!(
        ids(store.list_api_keys(&o1, 10, 0, true).await.unwrap()),
        (vs(&["k0", "k1", "k3"]), Some(3))
    );
    assert_eq!(
        ids(store.list_api_keys(&o1, 1, 1, true).await.unwrap()),
        (vs(&["k1"]), Some(3))
    );
    assert_eq!(
        ids(store
            .list_api_keys(&ApiKeyOwner::Creator("u1".into()), 10, 0, true)
            .await
            .unwrap()),
        (vs(&["k0", "k2", "k3"]), Some(3))
    );
    assert_eq!(
        ids(store
            .list_api_keys(&ApiKeyOwner::All, 2, 0, true)
            .await
            .unwrap()),
        (vs(&["k0", "k1"]), Some(4))
    );
    assert_eq!(
        ids(store
            .list_api_keys(&ApiKeyOwner::All, 2, 2, false)
            .await
            .unwrap()),
        (vs(&["k2", "k3"]), None),
        "without the count, the same page and no total"
    );
}

async fn api_key_status_changes_and_revoked_is_final(store: &SqlStore) {
    store
        .insert_api_key(&api_key("k1", 1, None, "u1", T0))
        .await
        .unwrap();
    assert!(store
        .set_api_key_status("k1", ApiKeyStatus::Disabled)
        .await
        .unwrap());
    assert_eq!(api_key_status(store).await, ApiKeyStatus::Disabled);
    assert!(store
        .set_api_key_status("k1", ApiKeyStatus::Active)
        .await
        .unwrap());
    assert_eq!(api_key_status(store).await, ApiKeyStatus::Active);
    assert!(store
        .set_api_key_status("k1", ApiKeyStatus::Revoked)
        .await
        .unwrap());
    assert!(!store
        .set_api_key_status("k1", ApiKeyStatus::Active)
        .await
        .unwrap());
    assert_eq!(api_key_status(store).await, ApiKeyStatus::Revoked);
    assert!(!store
        .set_api_key_status("nope", ApiKeyStatus::Active)
        .await
        .unwrap());
}

async fn api_key_rotation_is_atomic(store: &SqlStore) {
    store
        .insert_api_key(&api_key("k1", 1, None, "u1", T0))
        .await
        .unwrap();
    let mut new = api_key("k2", 2, None, "u1", T0 + 1);
    new.rotated_from = Some("k1".into());
    assert!(store.rotate_api_key("k1", &new).await.unwrap());
    assert_eq!(
        store.get_api_key("k1").await.unwrap().unwrap().status,
        ApiKeyStatus::Revoked
    );
    assert_eq!(store.get_api_key("k2").await.unwrap(), Some(new));
    // The old key is revoked: a second rotation writes nothing.
    let again = api_key("k3", 3, None, "u1", T0 + 2);
    assert!(!store.rotate_api_key("k1", &again).await.unwrap());
    assert_eq!(store.get_api_key("k3").await.unwrap(), None);
    // A conflicting new key leaves the old one as it was.
    let clash = api_key("k4", 2, None, "u1", T0 + 3);
    assert!(store.rotate_api_key("k2", &clash).await.is_err());
    assert_eq!(
        store.get_api_key("k2").await.unwrap().unwrap().status,
        ApiKeyStatus::Active
    );
}

async fn api_key_last_used_only_rises(store: &SqlStore) {
    store
        .insert_api_key(&api_key("k1", 1, None, "u1", T0))
        .await
        .unwrap();
    store.record_api_key_use("k1", day(20_000)).await.unwrap();
    store.record_api_key_use("k1", day(19_000)).await.unwrap();
    assert_eq!(
        store.get_api_key("k1").await.unwrap().unwrap().last_used_at,
        Some(day(20_000))
    );
}

async fn api_key_status(store: &SqlStore) -> ApiKeyStatus {
    store.get_api_key("k1").await.unwrap().unwrap().status
}

// ---------------------------------------------------------------------------------------------
// One-time ids.

async fn one_time_ids_are_accepted_once_until_they_expire(store: &SqlStore) {
    let (a, b) = ([1u8; 32], [2u8; 32]);
    assert!(store.first_use(&a, at(T0 + 60_000), at(T0)).await.unwrap());
    assert!(!store.first_use(&a, at(T0 + 60_000), at(T0)).await.unwrap());
    assert!(!store
        .first_use(&a, at(T0 + 120_000), at(T0 + 59_999))
        .await
        .unwrap());
    // Another key is independent.
    assert!(store.first_use(&b, at(T0 + 60_000), at(T0)).await.unwrap());
    // Once expired (and not yet purged), the key may be used again, and then not again.
    assert!(store
        .first_use(&a, at(T0 + 120_000), at(T0 + 60_000))
        .await
        .unwrap());
    assert!(!store
        .first_use(&a, at(T0 + 120_000), at(T0 + 60_001))
        .await
        .unwrap());
}

async fn concurrent_first_uses_have_one_winner(store: &Arc<SqlStore>) {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            store
                .first_use(&[7u8; 32], at(T0 + 60_000), at(T0))
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

async fn purge_removes_expired_one_time_ids(store: &SqlStore) {
    assert!(store
        .first_use(&[1u8; 32], at(T0 + 10), at(T0))
        .await
        .unwrap());
    assert!(store
        .first_use(&[2u8; 32], at(T0 + 20), at(T0))
        .await
        .unwrap());
    assert_eq!(store.purge_used_ids(at(T0 + 10)).await.unwrap(), 1);
    let left: i64 = sqlx::query("SELECT COUNT(*) AS n FROM used_ids")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get("n");
    assert_eq!(left, 1);
}

fn pushed(hash: u8, client_id: &str) -> castellan_store::pushed::PushedRequest {
    castellan_store::pushed::PushedRequest {
        hash: [hash; 32],
        client_id: client_id.to_owned(),
        parameters: "client_id=app&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb".to_owned(),
        created_at: at(T0),
        expires_at: at(T0 + 60_000),
    }
}

async fn pushed_requests_are_used_once_by_their_client_before_expiry(store: &SqlStore) {
    use castellan_store::pushed::PushedRequestStore;
    store
        .insert_client(&client("app", "App", T0))
        .await
        .unwrap();
    store
        .insert_client(&client("other", "Other", T0))
        .await
        .unwrap();
    let r = pushed(1, "app");
    store.insert_pushed_request(&r).await.unwrap();
    let e = store.insert_pushed_request(&r).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    // Reading does not use it up; it round-trips.
    assert_eq!(
        store
            .get_pushed_request(&[1; 32], at(T0 + 1))
            .await
            .unwrap(),
        Some(r.clone())
    );
    assert_eq!(
        store
            .get_pushed_request(&[1; 32], at(T0 + 1))
            .await
            .unwrap(),
        Some(r.clone())
    );
    assert_eq!(
        store
            .get_pushed_request(&[9; 32], at(T0 + 1))
            .await
            .unwrap(),
        None
    );
    // Another client cannot use it; its own client can, once.
    assert!(!store
        .use_pushed_request(&[1; 32], "other", at(T0 + 2))
        .await
        .unwrap());
    assert!(store
        .use_pushed_request(&[1; 32], "app", at(T0 + 2))
        .await
        .unwrap());
    assert!(!store
        .use_pushed_request(&[1; 32], "app", at(T0 + 3))
        .await
        .unwrap());
    assert_eq!(
        store
            .get_pushed_request(&[1; 32], at(T0 + 3))
            .await
            .unwrap(),
        None
    );
    // Expired: neither found nor usable, then purged.
    store
        .insert_pushed_request(&pushed(2, "app"))
        .await
        .unwrap();
    let late = at(T0 + 60_000);
    assert_eq!(
        store.get_pushed_request(&[2; 32], late).await.unwrap(),
        None
    );
    assert!(!store
        .use_pushed_request(&[2; 32], "app", late)
        .await
        .unwrap());
    assert_eq!(store.purge_pushed_requests(late).await.unwrap(), 2);
    // Deleting the client removes its pushed requests.
    store
        .insert_pushed_request(&pushed(3, "app"))
        .await
        .unwrap();
    store.delete_client("app").await.unwrap();
    assert_eq!(
        store
            .get_pushed_request(&[3; 32], at(T0 + 1))
            .await
            .unwrap(),
        None
    );
}

async fn concurrent_pushed_request_uses_have_one_winner(store: &Arc<SqlStore>) {
    use castellan_store::pushed::PushedRequestStore;
    store
        .insert_client(&client("app", "App", T0))
        .await
        .unwrap();
    store
        .insert_pushed_request(&pushed(1, "app"))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let store = Arc::clone(store);
        tasks.spawn(async move {
            store
                .use_pushed_request(&[1; 32], "app", at(T0 + 1))
                .await
                .unwrap()
        });
    }
    let mut won = 0;
    while let Some(r) = tasks.join_next().await {
        won += usize::from(r.unwrap());
    }
    assert_eq!(won, 1);
}

async fn device_authorizations_are_decided_once_and_redeemed_once(store: &SqlStore) {
    use castellan_store::device::{DeviceApproval, DeviceAuthorization, DeviceStatus, DeviceStore};
    let consent = seed_grant(store).await;
    let device = |n: u8| DeviceAuthorization {
        device_hash: [n; 32],
        user_code_hash: [n + 100; 32],
        client_id: "app".to_owned(),
        scope: "openid products:read".to_owned(),
        resources: (n % 2 == 0).then(|| "https://api.example".into()),
        status: DeviceStatus::Pending,
        approval: None,
        created_at: at(T0),
        expires_at: at(T0 + 600_000),
    };
    let d = device(1);
    store.insert_device(&d).await.unwrap();
    let e = store.insert_device(&d).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    // Found by its user code while pending and unexpired; by its device code always.
    assert_eq!(
        store.pending_device(&[101; 32], at(T0 + 1)).await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(
        store
            .pending_device(&[101; 32], at(T0 + 600_000))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.get_device(&[1; 32]).await.unwrap(), Some(d.clone()));
    // Not approved yet: nothing to redeem.
    assert!(!store.redeem_device(&[1; 32], at(T0 + 2)).await.unwrap());
    let approval = DeviceApproval {
        user_id: consent.user_id.clone(),
        organization_id: consent.organization_id.clone(),
        consent_id: consent.id.clone(),
        family_id: "f1".to_owned(),
        auth_time: at(T0 - 5_000),
        amr: Amr::PASSWORD,
    };
    assert!(store
        .decide_device(&[101; 32], Some(&approval), at(T0 + 3))
        .await
        .unwrap());
    // Decided once: a second decision (either way) finds nothing pending.
    assert!(!store
        .decide_device(&[101; 32], None, at(T0 + 4))
        .await
        .unwrap());
    let approved = store.get_device(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(approved.status, DeviceStatus::Approved);
    assert_eq!(approved.approval, Some(approval));
    assert_eq!(
        store.pending_device(&[101; 32], at(T0 + 5)).await.unwrap(),
        None
    );
    // Redeemed once.
    assert!(store.redeem_device(&[1; 32], at(T0 + 6)).await.unwrap());
    assert!(!store.redeem_device(&[1; 32], at(T0 + 7)).await.unwrap());
    assert_eq!(
        store.get_device(&[1; 32]).await.unwrap().unwrap().status,
        DeviceStatus::Used
    );
    // A denial; an expired one cannot be decided; purge takes the expired.
    store.insert_device(&device(2)).await.unwrap();
    assert!(store
        .decide_device(&[102; 32], None, at(T0 + 8))
        .await
        .unwrap());
    assert_eq!(
        store.get_device(&[2; 32]).await.unwrap().unwrap().status,
        DeviceStatus::Denied
    );
    store.insert_device(&device(3)).await.unwrap();
    assert!(!store
        .decide_device(&[103; 32], None, at(T0 + 600_001))
        .await
        .unwrap());
    assert_eq!(store.purge_devices(at(T0 + 600_001)).await.unwrap(), 3);
    assert_eq!(store.get_device(&[3; 32]).await.unwrap(), None);
}

fn audit_event(n: i64, kind: &str, actor: &str, org: Option<&str>) -> AuditEvent {
    AuditEvent {
        id: format!("evt_{n:03}"),
        at: at(T0 + n),
        kind: kind.to_owned(),
        actor_kind: ActorKind::Person,
        actor_id: actor.to_owned(),
        organization_id: org.map(str::to_owned),
        address: Some("192.0.2.1".to_owned()),
        outcome: if kind.ends_with("failed") {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        target: Some(format!("t{n}")),
        detail: "role MANAGER".to_owned(),
    }
}

async fn audit_events_are_filtered_paged_and_purged(store: &SqlStore) {
    let ids = |events: &[AuditEvent]| events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    for (n, kind, actor, org) in [
        (1, "client.created", "u1", None),
        (2, "api_key.created", "u1", Some("o1")),
        (3, "sign_in.failed", "u2", None),
        (4, "api_key.revoked", "u2", Some("o2")),
        (5, "member.removed", "u1", Some("o1")),
    ] {
        store
            .record_audit_event(&audit_event(n, kind, actor, org))
            .await
            .unwrap();
    }
    let e = store
        .record_audit_event(&audit_event(5, "x", "u1", None))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");

    // Everything, newest first, with every field back as stored.
    let (all, total) = store
        .list_audit_events(&AuditQuery::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(total, 5);
    assert_eq!(
        ids(&all),
        ["evt_005", "evt_004", "evt_003", "evt_002", "evt_001"]
    );
    assert_eq!(all[2], audit_event(3, "sign_in.failed", "u2", None));
    assert_eq!(all[2].outcome, Outcome::Failure);
    // Paging.
    let (page, total) = store
        .list_audit_events(&AuditQuery::default(), 2, 2)
        .await
        .unwrap();
    assert_eq!(
        (ids(&page), total),
        (vec!["evt_003".into(), "evt_002".into()], 5)
    );
    // Filters, alone and together.
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    for (query, expected) in [
        (
            q(|q| q.kinds = vec!["api_key.created".into(), "api_key.revoked".into()]),
            vec!["evt_004", "evt_002"],
        ),
        (
            q(|q| q.actor_id = Some("u1".into())),
            vec!["evt_005", "evt_002", "evt_001"],
        ),
        (
            q(|q| q.organization_id = Some("o1".into())),
            vec!["evt_005", "evt_002"],
        ),
        (
            q(|q| q.organizations = Some(vec!["o2".into(), "o1".into()])),
            vec!["evt_005", "evt_004", "evt_002"],
        ),
        (q(|q| q.organizations = Some(Vec::new())), vec![]),
        (
            q(|q| {
                q.since = Some(at(T0 + 2));
                q.until = Some(at(T0 + 5));
            }),
            vec!["evt_004", "evt_003", "evt_002"],
        ),
        (
            q(|q| {
                q.actor_id = Some("u1".into());
                q.organization_id = Some("o1".into());
                q.kinds = vec!["member.removed".into()];
            }),
            vec!["evt_005"],
        ),
        // A value that looks like SQL is only a value.
        (q(|q| q.actor_id = Some("u1' OR '1'='1".into())), vec![]),
    ] {
        let (found, total) = store.list_audit_events(&query, 10, 0).await.unwrap();
        assert_eq!(ids(&found), expected, "{query:?}");
        assert_eq!(total, expected.len() as u64, "{query:?}");
    }
    // Retention: older than the cut-off goes, the rest stays.
    assert_eq!(store.purge_audit_events(at(T0 + 3)).await.unwrap(), 2);
    let (left, _) = store
        .list_audit_events(&AuditQuery::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(ids(&left), ["evt_005", "evt_004", "evt_003"]);
}

async fn organization_apps_are_linked_listed_and_deleted(store: &SqlStore) {
    for (id, name) in [("o1", "Acme"), ("o2", "Beta")] {
        store.insert_organization(&org(id, name)).await.unwrap();
    }
    let first = client("app-1", "First", T0);
    let second = client("app-2", "Second", T0 + 5);
    store
        .insert_organization_client(&first, "o1", "u1")
        .await
        .unwrap();
    store
        .insert_organization_client(&second, "o1", "u1")
        .await
        .unwrap();
    store
        .insert_client(&client("plain", "Plain", T0))
        .await
        .unwrap();
    // Newest first, the organization's only.
    let apps = store.organization_clients("o1").await.unwrap();
    assert_eq!(
        apps.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["app-2", "app-1"]
    );
    assert_eq!(apps[1], first);
    assert!(store.organization_clients("o2").await.unwrap().is_empty());
    assert_eq!(
        store
            .organization_of_client("app-1")
            .await
            .unwrap()
            .as_deref(),
        Some("o1")
    );
    assert_eq!(store.organization_of_client("plain").await.unwrap(), None);
    // A taken id, or an organization that does not exist, stores nothing.
    let e = store
        .insert_organization_client(&client("app-1", "Again", T0), "o2", "u1")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let e = store
        .insert_organization_client(&client("app-3", "Lost", T0), "nowhere", "u1")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert_eq!(store.get_client("app-3").await.unwrap(), None);
    // Deleting the client ends the link.
    store.delete_client("app-1").await.unwrap().unwrap();
    assert_eq!(store.organization_of_client("app-1").await.unwrap(), None);
    assert_eq!(store.organization_clients("o1").await.unwrap().len(), 1);
}

fn link(n: u8, purpose: LinkPurpose, email: &str) -> EmailLink {
    EmailLink {
        hash: [n; 32],
        id: format!("lnk_{n}"),
        purpose,
        email: email.to_owned(),
        user_id: None,
        organization_id: None,
        role: None,
        created_by: "u-owner".to_owned(),
        created_at: at(T0),
        expires_at: at(T0 + 1000),
    }
}

fn invitation(n: u8, email: &str, org: &str, role: Role) -> EmailLink {
    EmailLink {
        organization_id: Some(org.to_owned()),
        role: Some(role),
        ..link(n, LinkPurpose::Invite, email)
    }
}

async fn invitations_are_accepted_once_by_their_address(store: &SqlStore) {
    store.insert_organization(&org("o1", "Acme")).await.unwrap();
    for (id, email) in [
        ("u1", "ann@example.com"),
        ("u2", "bob@example.com"),
        ("u-owner", "olga@example.com"),
    ] {
        store.insert_user(&user(id, email)).await.unwrap();
    }
    store
        .upsert_membership(&Membership {
            organization_id: "o1".into(),
            user_id: "u-owner".into(),
            role: Role::Owner,
        })
        .await
        .unwrap();
    for l in [
        invitation(1, "ann@example.com", "o1", Role::Manager),
        invitation(2, "bob@example.com", "o1", Role::Viewer),
        invitation(3, "new@example.com", "o1", Role::Viewer),
        invitation(4, "ann@example.com", "o1", Role::Viewer),
    ] {
        store.insert_link(&l).await.unwrap();
    }
    let e = store
        .insert_link(&invitation(1, "x@example.com", "o1", Role::Viewer))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let pending = store.pending_invitations("o1", at(T0)).await.unwrap();
    assert_eq!(pending.len(), 4);
    assert_eq!(
        store
            .find_link(&[1; 32], LinkPurpose::Invite, at(T0))
            .await
            .unwrap(),
        Some(invitation(1, "ann@example.com", "o1", Role::Manager))
    );
    // Not for another purpose, not once expired.
    assert_eq!(
        store
            .find_link(&[1; 32], LinkPurpose::VerifyEmail, at(T0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_link(&[1; 32], LinkPurpose::Invite, at(T0 + 1000))
            .await
            .unwrap(),
        None
    );

    // Links 1 and 3 went out by mail; 4 was handed on by the OWNER.
    for n in [1, 3] {
        store.mark_link_delivered(&[n; 32]).await.unwrap();
    }
    assert_eq!(
        store
            .links_since(LinkPurpose::Invite, "ann@example.com", at(T0))
            .await
            .unwrap(),
        2
    );
    // Bob cannot take Ann's invitation; Ann can, once.
    assert_eq!(
        store
            .accept_invitation(&[1; 32], "u2", None, at(T0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.role_in("o1", "u2").await.unwrap(), None);
    let joined = store
        .accept_invitation(&[1; 32], "u1", None, at(T0))
        .await
        .unwrap();
    assert_eq!(
        joined,
        Some(Joined {
            user_id: "u1".into(),
            organization_id: "o1".into(),
            role: Role::Manager
        })
    );
    assert_eq!(
        store.role_in("o1", "u1").await.unwrap(),
        Some(Role::Manager)
    );
    assert!(store
        .get_user("u1")
        .await
        .unwrap()
        .unwrap()
        .email_verified_at
        .is_some());
    assert_eq!(
        store
            .accept_invitation(&[1; 32], "u1", None, at(T0))
            .await
            .unwrap(),
        None
    );
    // Ann's other invitation was spent with the first.
    assert_eq!(
        store
            .accept_invitation(&[4; 32], "u1", None, at(T0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.role_in("o1", "u1").await.unwrap(),
        Some(Role::Manager)
    );
    // Expired: nothing.
    assert_eq!(
        store
            .accept_invitation(&[2; 32], "u2", None, at(T0 + 1000))
            .await
            .unwrap(),
        None
    );
    // A new person set up on the invitation: stored and joined together.
    let mut newcomer = user("u3", "new@example.com");
    newcomer.email_verified_at = None;
    let joined = store
        .accept_invitation(&[3; 32], "u3", Some(&newcomer), at(T0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(joined.role, Role::Viewer);
    assert!(store
        .get_user("u3")
        .await
        .unwrap()
        .unwrap()
        .email_verified_at
        .is_some());
    // An invitation handed on (not mailed) joins but proves no address; one whose OWNER is
    // no longer an OWNER gives nothing.
    store
        .insert_user(&user("u4", "dan@example.com"))
        .await
        .unwrap();
    store
        .insert_user(&user("u5", "eve@example.com"))
        .await
        .unwrap();
    store
        .insert_link(&invitation(6, "dan@example.com", "o1", Role::Viewer))
        .await
        .unwrap();
    let joined = store
        .accept_invitation(&[6; 32], "u4", None, at(T0))
        .await
        .unwrap();
    assert_eq!(joined.map(|j| j.role), Some(Role::Viewer));
    assert_eq!(
        store
            .get_user("u4")
            .await
            .unwrap()
            .unwrap()
            .email_verified_at,
        None
    );
    store
        .insert_link(&EmailLink {
            created_by: "u4".into(),
            ..invitation(7, "eve@example.com", "o1", Role::Owner)
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .accept_invitation(&[7; 32], "u5", None, at(T0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.role_in("o1", "u5").await.unwrap(), None);
    // Nor is it found or listed.
    assert_eq!(
        store
            .find_link(&[7; 32], LinkPurpose::Invite, at(T0))
            .await
            .unwrap(),
        None
    );
    assert!(!store
        .pending_invitations("o1", at(T0))
        .await
        .unwrap()
        .iter()
        .any(|l| l.id == "lnk_7"));
    store.delete_link(&[7; 32]).await.unwrap();
    // A disabled OWNER's invitation gives nothing.
    store
        .insert_link(&invitation(8, "eve@example.com", "o1", Role::Owner))
        .await
        .unwrap();
    store
        .set_user_disabled("u-owner", Some(at(T0)))
        .await
        .unwrap();
    assert_eq!(
        store
            .accept_invitation(&[8; 32], "u5", None, at(T0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.role_in("o1", "u5").await.unwrap(), None);
    store.set_user_disabled("u-owner", None).await.unwrap();
    store.delete_link(&[8; 32]).await.unwrap();
    // Withdrawing: only an unused invitation of that organization.
    assert!(store.withdraw_invitation("o1", "lnk_2").await.unwrap());
    assert!(!store.withdraw_invitation("o1", "lnk_2").await.unwrap());
    assert!(!store.withdraw_invitation("o1", "lnk_1").await.unwrap());
    assert!(store
        .pending_invitations("o1", at(T0))
        .await
        .unwrap()
        .is_empty());
    // The purge removes expired links.
    store
        .insert_link(&invitation(5, "z@example.com", "o1", Role::Viewer))
        .await
        .unwrap();
    // Expired links of the last hour stay (the pauses between links count them).
    assert_eq!(store.purge_links(at(T0 + 1000)).await.unwrap(), 0);
    assert!(store.purge_links(at(T0 + 3_600_001)).await.unwrap() >= 1);
    assert_eq!(
        store.pending_invitations("o1", at(T0)).await.unwrap().len(),
        0
    );
}

async fn verification_and_reset_links_work_once_for_their_address(store: &SqlStore) {
    // u1 with a consent k1 and its live family f1 (seed_grant), and an active API key.
    seed_grant(store).await;
    store
        .insert_api_key(&api_key("key-1", 9, None, "u1", T0))
        .await
        .unwrap();
    store.insert_session(&session(1, "u1")).await.unwrap();
    let mine = |n: u8, purpose| EmailLink {
        user_id: Some("u1".into()),
        ..link(n, purpose, "ann@example.com")
    };
    for l in [
        mine(1, LinkPurpose::VerifyEmail),
        mine(2, LinkPurpose::ResetPassword),
        EmailLink {
            email: "old@example.com".into(),
            ..mine(3, LinkPurpose::ResetPassword)
        },
        mine(4, LinkPurpose::ResetPassword),
    ] {
        store.insert_link(&l).await.unwrap();
    }
    // A verification link is not a reset link.
    assert_eq!(
        store
            .reset_password(&[1; 32], "$argon2id$x", at(T0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .verify_email(&[1; 32], at(T0))
            .await
            .unwrap()
            .as_deref(),
        Some("u1")
    );
    assert_eq!(store.verify_email(&[1; 32], at(T0)).await.unwrap(), None);
    assert!(store
        .get_user("u1")
        .await
        .unwrap()
        .unwrap()
        .email_verified_at
        .is_some());
    // A link for an address the person no longer has sets nothing.
    assert_eq!(
        store
            .reset_password(&[3; 32], "$argon2id$x", at(T0))
            .await
            .unwrap(),
        None
    );
    assert_ne!(
        store.get_user("u1").await.unwrap().unwrap().password_hash,
        "$argon2id$x"
    );
    // Reset: the password set and every session ended, once.
    assert_eq!(
        store
            .reset_password(&[2; 32], "$argon2id$new", at(T0))
            .await
            .unwrap()
            .as_deref(),
        Some("u1")
    );
    assert_eq!(
        store.get_user("u1").await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    assert!(store.list_sessions("u1", at(T0)).await.unwrap().is_empty());
    assert_eq!(
        store
            .reset_password(&[2; 32], "$argon2id$again", at(T0))
            .await
            .unwrap(),
        None
    );
    // The person's other reset link was spent by the reset.
    assert_eq!(
        store
            .reset_password(&[4; 32], "$argon2id$later", at(T0))
            .await
            .unwrap(),
        None
    );
    // The reset ended the person's grants and keys too.
    assert_eq!(
        store.get_api_key("key-1").await.unwrap().unwrap().status,
        ApiKeyStatus::Disabled
    );
    assert!(store
        .revocations_since(0, 100)
        .await
        .unwrap()
        .iter()
        .any(|r| matches!(r.revoked, Revoked::Family(ref f) if f == "f1")));
}

fn passkey(id: &str, user_id: &str, credential_id: &str) -> StoredPasskey {
    StoredPasskey {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        user_handle: "0f9e6c5a-1b2c-4d3e-8f70-112233445566".to_owned(),
        credential_id: credential_id.to_owned(),
        name: "Laptop".to_owned(),
        credential: "{\"cred\":{}}".to_owned(),
        backup_eligible: true,
        created_at: at(T0),
        last_used_at: None,
    }
}

async fn passkeys_and_their_ceremonies(store: &SqlStore) {
    for (id, email) in [("u1", "ann@example.com"), ("u2", "bob@example.com")] {
        store.insert_user(&user(id, email)).await.unwrap();
    }
    let first = passkey("pk_1", "u1", "Y3JlZC0x");
    store.add_passkey(&first).await.unwrap();
    store
        .add_passkey(&StoredPasskey {
            created_at: at(T0 + 5),
            ..passkey("pk_2", "u1", "Y3JlZC0y")
        })
        .await
        .unwrap();
    // A credential id is registered once over the deployment, whoever registers it again.
    assert!(matches!(
        store.add_passkey(&passkey("pk_3", "u2", "Y3JlZC0x")).await,
        Err(StoreError::Conflict(_))
    ));
    let listed = store.list_passkeys("u1").await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["pk_1", "pk_2"]
    );
    assert_eq!(listed[0], first, "every field reads back");
    assert!(store.list_passkeys("u2").await.unwrap().is_empty());
    assert_eq!(
        store
            .passkey_by_credential("Y3JlZC0y")
            .await
            .unwrap()
            .unwrap()
            .id,
        "pk_2"
    );
    assert!(store.passkey_by_credential("nope").await.unwrap().is_none());
    assert!(store
        .record_passkey_use(
            "pk_1",
            "{\"cred\":{}}",
            "{\"cred\":{\"counter\":2}}",
            at(T0 + 9)
        )
        .await
        .unwrap());
    // Only over the credential it was checked against: a racing second use loses.
    assert!(!store
        .record_passkey_use(
            "pk_1",
            "{\"cred\":{}}",
            "{\"cred\":{\"counter\":1}}",
            at(T0 + 9)
        )
        .await
        .unwrap());
    let used = store
        .passkey_by_credential("Y3JlZC0x")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.last_used_at, Some(at(T0 + 9)));
    assert_eq!(used.credential, "{\"cred\":{\"counter\":2}}");
    // Renaming and removing are the owner's only.
    assert!(!store.rename_passkey("u2", "pk_1", "Mine").await.unwrap());
    assert!(store.rename_passkey("u1", "pk_1", "Desk").await.unwrap());
    assert!(!store.remove_passkey("u2", "pk_1").await.unwrap());
    assert!(store.remove_passkey("u1", "pk_1").await.unwrap());
    assert!(!store.remove_passkey("u1", "pk_1").await.unwrap());
    assert!(!store
        .record_passkey_use("pk_1", "{}", "{}", at(T0))
        .await
        .unwrap());
    assert_eq!(store.remove_passkeys("u1").await.unwrap(), 1);
    assert!(store.list_passkeys("u1").await.unwrap().is_empty());

    // A ceremony is taken once, only as its kind, and not once expired.
    let ceremony = |id: &str, kind, user: Option<&str>, expires| Ceremony {
        id: id.to_owned(),
        kind,
        user_id: user.map(str::to_owned),
        state: "{\"challenge\":\"abc\"}".to_owned(),
        expires_at: at(expires),
    };
    store
        .put_ceremony(&ceremony(
            "c1",
            CeremonyKind::Register,
            Some("u1"),
            T0 + 300_000,
        ))
        .await
        .unwrap();
    store
        .put_ceremony(&ceremony("c2", CeremonyKind::SignIn, None, T0 + 300_000))
        .await
        .unwrap();
    store
        .put_ceremony(&ceremony("c3", CeremonyKind::SignIn, None, T0 + 1))
        .await
        .unwrap();
    assert!(store
        .take_ceremony("c1", CeremonyKind::SignIn, at(T0))
        .await
        .unwrap()
        .is_none());
    let taken = store
        .take_ceremony("c1", CeremonyKind::Register, at(T0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        taken,
        ceremony("c1", CeremonyKind::Register, Some("u1"), T0 + 300_000)
    );
    assert!(store
        .take_ceremony("c1", CeremonyKind::Register, at(T0))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .take_ceremony("c3", CeremonyKind::SignIn, at(T0 + 1))
        .await
        .unwrap()
        .is_none());
    // The upkeep drops expired ones.
    store.purge_expired_tokens(at(T0 + 300_000)).await.unwrap();
    assert!(store
        .take_ceremony("c2", CeremonyKind::SignIn, at(T0))
        .await
        .unwrap()
        .is_none());
}

async fn passkey_policies_are_the_strongest_that_applies(store: &SqlStore) {
    store
        .insert_user(&user("u1", "ann@example.com"))
        .await
        .unwrap();
    for (id, name) in [("o1", "Acme"), ("o2", "Zeta")] {
        store.insert_organization(&org(id, name)).await.unwrap();
        store
            .upsert_membership(&Membership {
                organization_id: id.to_owned(),
                user_id: "u1".to_owned(),
                role: Role::Viewer,
            })
            .await
            .unwrap();
    }
    assert_eq!(
        store.second_factor_policy_for("u1").await.unwrap(),
        SecondFactorPolicy::Optional
    );
    assert!(store
        .set_second_factor_policy("o1", SecondFactorPolicy::Any)
        .await
        .unwrap());
    assert_eq!(
        store.second_factor_policy_for("u1").await.unwrap(),
        SecondFactorPolicy::Any
    );
    assert!(store
        .set_second_factor_policy("o2", SecondFactorPolicy::Passkey)
        .await
        .unwrap());
    assert_eq!(
        store.second_factor_policy_for("u1").await.unwrap(),
        SecondFactorPolicy::Passkey
    );
    assert_eq!(
        store.organization_second_factor_policy("o2").await.unwrap(),
        SecondFactorPolicy::Passkey
    );
    assert!(store
        .set_second_factor_policy("o2", SecondFactorPolicy::Optional)
        .await
        .unwrap());
    assert_eq!(
        store.second_factor_policy_for("u1").await.unwrap(),
        SecondFactorPolicy::Any
    );
    assert!(!store
        .set_second_factor_policy("nope", SecondFactorPolicy::Any)
        .await
        .unwrap());
    assert_eq!(
        store.second_factor_policy_for("nobody").await.unwrap(),
        SecondFactorPolicy::Optional
    );
}
