//! `castellan api-keys create|list|show|disable|enable|revoke|rotate`: the key is
//! printed once and well-formed, only its hash is stored, listings never show it, the status
//! rules (revoked is final) and rotation hold, bad input changes nothing, and a key created on
//! the command line is accepted by a running server. Runs on SQLite, or on PostgreSQL when
//! `CASTELLAN_TEST_BACKEND=postgres`.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_core::api_key;
use castellan_core::environment::Environment;
use castellan_store::api_keys::{ApiKeyStatus, ApiKeyStore};
use serde_json::Value;

use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{command, introspect, run, stderr, stdout, Env};

/// A fresh database, and a configuration file that has every key looked up in storage (so that
/// a running server sees a change at once) and two product scopes.
async fn env() -> Env {
    let env = crate::support::env_with_config(
        "[api_keys]\ncache_seconds = 0\n\n\
         [[scopes]]\nname = \"products:read\"\ndescription = \"Read products\"\n\n\
         [[scopes]]\nname = \"products:write\"\ndescription = \"Change products\"\n",
    )
    .await;
    // The organization `acme` the keys below are made for.
    let store = castellan_store::connect(&env.database).await.unwrap();
    castellan_store::people::UserStore::insert_organization(
        store.as_ref(),
        &castellan_core::user::Organization {
            id: "acme".into(),
            name: "Acme".into(),
            created_at: chrono::Utc::now(),
        },
    )
    .await
    .unwrap();
    store.close().await;
    env
}

/// Runs a command that must succeed and print JSON.
fn json(env: &Env, args: &[&str]) -> Value {
    let o = run(env, args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

/// Runs a command that must fail; answers its standard error.
fn refused(env: &Env, args: &[&str]) -> String {
    let o = run(env, args);
    assert!(!o.status.success(), "{args:?} succeeded: {}", stdout(&o));
    assert!(
        !stdout(&o).contains("csb_"),
        "{args:?} printed a key: {}",
        stdout(&o)
    );
    stderr(&o)
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
}

/// A key as `api-keys create` promises it: this server's prefix and environment, a valid
/// checksum.
fn assert_well_formed(key: &str) {
    let parsed = api_key::parse(key, api_key::DEFAULT_PREFIX, Environment::Local)
        .unwrap_or_else(|e| panic!("malformed key ({e:?})"));
    let sum = key.rsplit('_').next().unwrap();
    assert!(api_key::checksum_ok(parsed.prefix, parsed.body, sum));
    assert_eq!(parsed.body.len(), 44);
}

fn total(env: &Env) -> u64 {
    json(env, &["api-keys", "list", "--json"])["total"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn create_prints_the_key_once_and_list_never_shows_it() {
    let env = env().await;
    let out = run(
        &env,
        &[
            "api-keys",
            "create",
            "--name",
            "nightly export",
            "--scope",
            "products:read orders:read",
            "--organization",
            "acme",
            "--expires-in-days",
            "30",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let created: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let key = str_of(&created, "key").to_owned();
    assert_well_formed(&key);
    assert_eq!(
        stdout(&out).matches(&key).count(),
        1,
        "the key is printed once"
    );
    assert!(!stderr(&out).contains(&key), "the key reached the log");
    assert!(str_of(&created, "note").contains("you will not see this again"));
    let id = str_of(&created, "id").to_owned();
    assert!(id.starts_with("key_"), "{id}");
    assert_eq!(created["name"], "nightly export");
    assert_eq!(created["scope"], "products:read orders:read");
    assert_eq!(created["organizationId"], "acme");
    assert_eq!(created["tier"], "default");
    assert_eq!(created["status"], "active");
    assert_eq!(created["createdBy"], "castellan-cli");
    assert_eq!(created["visiblePrefix"], &key[..9]);
    assert_eq!(created["lastFour"], &key[key.len() - 4..]);
    let expires = chrono::DateTime::parse_from_rfc3339(str_of(&created, "expiresAt")).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "{days} hours");

    // Only the SHA-256 of the whole key is stored.
    let store = castellan_store::connect(&env.database).await.unwrap();
    let stored = store.get_api_key(&id).await.unwrap().unwrap();
    assert_eq!(stored.hash, castellan_crypto::hash_secret(&key).0);
    assert_eq!(
        store
            .find_api_key_by_hash(&stored.hash)
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );

    // Without --json, the key is printed once too, next to the note.
    let out = run(
        &env,
        &[
            "api-keys",
            "create",
            "--name",
            "ci",
            "--scope",
            "orders:read",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("you will not see this again"), "{text}");
    let second = text
        .lines()
        .find_map(|l| l.strip_prefix("key:"))
        .map(|k| k.trim().to_owned())
        .unwrap();
    assert_well_formed(&second);
    assert_eq!(text.matches(&second).count(), 1);
    assert!(!stderr(&out).contains(&second));

    // Listings: the visible prefix and last four, never the key.
    let out = run(&env, &["api-keys", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains(&key) && !stdout(&out).contains(&second));
    let list: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(list["total"], 2);
    assert_eq!(list["count"], 2);
    let listed = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap();
    assert!(listed.get("key").is_none() && listed.get("note").is_none());
    assert_eq!(listed["visiblePrefix"], &key[..9]);
    assert_eq!(listed["lastFour"], &key[key.len() - 4..]);

    let out = run(&env, &["api-keys", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(&key) && !text.contains(&second));
    assert!(
        text.contains(&format!("{}…{}", &key[..9], &key[key.len() - 4..])),
        "{text}"
    );

    // Filters and paging.
    let acme = json(
        &env,
        &["api-keys", "list", "--organization", "acme", "--json"],
    );
    assert_eq!(acme["total"], 1);
    assert_eq!(acme["results"][0]["id"], id.as_str());
    let mine = json(
        &env,
        &[
            "api-keys",
            "list",
            "--created-by",
            "castellan-cli",
            "--json",
        ],
    );
    assert_eq!(mine["total"], 2);
    let nobody = json(
        &env,
        &["api-keys", "list", "--created-by", "nobody", "--json"],
    );
    assert_eq!(nobody["total"], 0);
    let page = json(
        &env,
        &[
            "api-keys", "list", "--limit", "1", "--offset", "1", "--json",
        ],
    );
    assert_eq!(
        (page["count"].clone(), page["total"].clone()),
        (1.into(), 2.into())
    );
    assert_eq!(page["limit"], 1);
    assert_eq!(page["offset"], 1);

    let shown = run(&env, &["api-keys", "show", &id, "--json"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(!stdout(&shown).contains(&key));
    let shown: Value = serde_json::from_str(stdout(&shown).trim()).unwrap();
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["scope"], "products:read orders:read");
    assert!(shown.get("key").is_none());
}

#[tokio::test]
async fn disable_enable_and_revoke_which_is_final() {
    let env = env().await;
    let created = json(
        &env,
        &[
            "api-keys",
            "create",
            "--name",
            "job",
            "--scope",
            "orders:read",
            "--json",
        ],
    );
    let id = str_of(&created, "id").to_owned();
    let store = castellan_store::connect(&env.database).await.unwrap();
    let status = |s: Value| s["status"].as_str().unwrap().to_owned();

    assert_eq!(
        status(json(&env, &["api-keys", "disable", &id, "--json"])),
        "disabled"
    );
    assert_eq!(
        store.get_api_key(&id).await.unwrap().unwrap().status,
        ApiKeyStatus::Disabled
    );
    assert_eq!(
        status(json(&env, &["api-keys", "enable", &id, "--json"])),
        "active"
    );
    assert_eq!(
        store.get_api_key(&id).await.unwrap().unwrap().status,
        ApiKeyStatus::Active
    );
    let out = run(&env, &["api-keys", "revoke", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("revoked"), "{}", stdout(&out));
    assert_eq!(
        store.get_api_key(&id).await.unwrap().unwrap().status,
        ApiKeyStatus::Revoked
    );

    // Revoked is final.
    for verb in ["enable", "disable"] {
        let err = refused(&env, &["api-keys", verb, &id]);
        assert!(err.contains("revoked"), "{verb}: {err}");
        assert_eq!(
            store.get_api_key(&id).await.unwrap().unwrap().status,
            ApiKeyStatus::Revoked
        );
    }
    assert_eq!(
        status(json(&env, &["api-keys", "show", &id, "--json"])),
        "revoked"
    );
}

#[tokio::test]
async fn rotate_prints_a_new_key_and_revokes_the_old_one() {
    let env = env().await;
    let old = json(
        &env,
        &[
            "api-keys",
            "create",
            "--name",
            "billing",
            "--scope",
            "invoices:read",
            "--org",
            "acme",
            "--json",
        ],
    );
    let old_id = str_of(&old, "id").to_owned();
    let old_key = str_of(&old, "key").to_owned();

    let out = run(&env, &["api-keys", "rotate", &old_id, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains(&old_key));
    let new: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let new_key = str_of(&new, "key").to_owned();
    assert_well_formed(&new_key);
    assert_ne!(new_key, old_key);
    assert_eq!(stdout(&out).matches(&new_key).count(), 1);
    assert!(!stderr(&out).contains(&new_key));
    assert!(str_of(&new, "note").contains("you will not see this again"));
    assert_eq!(new["rotatedFrom"], old_id.as_str());
    assert_ne!(new["id"], old_id.as_str());
    for field in ["name", "scope", "organizationId", "tier", "createdBy"] {
        assert_eq!(new[field], old[field], "{field}");
    }
    assert_eq!(new["status"], "active");
    let shown = json(&env, &["api-keys", "show", &old_id, "--json"]);
    assert_eq!(shown["status"], "revoked");

    let store = castellan_store::connect(&env.database).await.unwrap();
    let hash = castellan_crypto::hash_secret(&new_key).0;
    let stored = store.find_api_key_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(stored.id, str_of(&new, "id"));

    // A revoked key cannot be rotated; nothing new is stored.
    let err = refused(&env, &["api-keys", "rotate", &old_id]);
    assert!(err.contains("revoked"), "{err}");
    assert_eq!(total(&env), 2);

    // Without --json the new key is printed once, with the note.
    let new_id = str_of(&new, "id").to_owned();
    let out = run(&env, &["api-keys", "rotate", &new_id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("you will not see this again"), "{text}");
    assert!(text.contains(&format!("replaces:     {new_id}")), "{text}");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let env = env().await;
    let client = json(
        &env,
        &[
            "clients",
            "create",
            "--name",
            "orders-service",
            "--scope",
            "products:read orders:*",
            "--json",
        ],
    );
    let client_id = str_of(&client, "client_id").to_owned();

    // A client's key carries at most the client's scopes.
    let ok = json(
        &env,
        &[
            "api-keys",
            "create",
            "--name",
            "orders job",
            "--scope",
            "products:read orders:write",
            "--client",
            &client_id,
            "--json",
        ],
    );
    assert_eq!(ok["createdBy"], client_id.as_str());
    let id = str_of(&ok, "id").to_owned();
    let before = json(&env, &["api-keys", "list", "--json"]);
    assert_eq!(before["total"], 1);

    let create = |extra: &[&str]| {
        let mut args = vec![
            "api-keys",
            "create",
            "--name",
            "x",
            "--scope",
            "orders:read",
        ];
        args.extend_from_slice(extra);
        refused(&env, &args)
    };
    let err = refused(
        &env,
        &[
            "api-keys",
            "create",
            "--name",
            "x",
            "--scope",
            "orders:read manage_clients",
            "--client",
            &client_id,
        ],
    );
    assert!(
        err.contains("`manage_clients`") && err.contains("exceeds"),
        "{err}"
    );
    let err = create(&["--client", "no-such-client"]);
    assert!(err.contains("no client with id 'no-such-client'"), "{err}");
    let err = create(&["--tier", "gold"]);
    assert!(err.contains("tier `gold` is not configured"), "{err}");
    for days in ["0", "100000"] {
        let err = create(&["--expires-in-days", days]);
        assert!(
            err.contains("--expires-in-days must be between 1 and 3650"),
            "{days}: {err}"
        );
    }
    let err = create(&["--expires-in-days", "-3"]);
    assert!(err.contains("--expires-in-days"), "{err}");
    let err = refused(
        &env,
        &[
            "api-keys",
            "create",
            "--name",
            " ",
            "--scope",
            "orders:read",
        ],
    );
    assert!(err.contains("name must be"), "{err}");
    let err = refused(
        &env,
        &[
            "api-keys",
            "create",
            "--name",
            "x",
            "--scope",
            "orders read\"",
        ],
    );
    assert!(err.contains("scope"), "{err}");
    let err = refused(&env, &["api-keys", "list", "--limit", "0"]);
    assert!(err.contains("--limit"), "{err}");
    let err = refused(
        &env,
        &[
            "api-keys",
            "list",
            "--organization",
            "a",
            "--created-by",
            "b",
        ],
    );
    assert!(err.contains("cannot be used with"), "{err}");

    for verb in ["show", "disable", "enable", "revoke", "rotate"] {
        let err = refused(&env, &["api-keys", verb, "key_nope"]);
        assert!(
            err.contains("no API key with id 'key_nope'"),
            "{verb}: {err}"
        );
    }

    // Nothing changed.
    let after = json(&env, &["api-keys", "list", "--json"]);
    assert_eq!(after, before);
    assert_eq!(after["results"][0]["id"], id.as_str());
    assert_eq!(after["results"][0]["status"], "active");
}

#[tokio::test]
async fn a_person_gives_a_key_at_most_what_their_role_allows() {
    let env = env().await;
    let ann = json(
        &env,
        &[
            "users",
            "create",
            "--email",
            "ann@example.com",
            "--name",
            "Ann",
            "--password",
            "correct horse battery",
            "--json",
        ],
    );
    let ann_id = str_of(&ann, "id").to_owned();
    json(
        &env,
        &[
            "users",
            "create",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
            "--password",
            "correct horse battery",
            "--json",
        ],
    );
    let org = json(&env, &["orgs", "create", "--name", "Acme", "--json"]);
    let org_id = str_of(&org, "id").to_owned();
    let added = run(
        &env,
        &[
            "orgs",
            "add-member",
            "--org",
            &org_id,
            "--user",
            &ann_id,
            "--role",
            "VIEWER",
        ],
    );
    assert!(added.status.success(), "{}", stderr(&added));

    let key = json(
        &env,
        &[
            "api-keys",
            "create",
            "--name",
            "catalogue reader",
            "--scope",
            "products:read",
            "--user",
            "ann@example.com",
            "--organization",
            &org_id,
            "--json",
        ],
    );
    assert_eq!(key["createdBy"], ann_id.as_str());
    assert_eq!(key["organizationId"], org_id.as_str());

    let as_user = |user: &str, scope: &str, org: Option<&str>| {
        let mut args = vec!["api-keys", "create", "--name", "x", "--scope", scope];
        args.extend(["--user", user]);
        if let Some(org) = org {
            args.extend(["--organization", org]);
        }
        refused(&env, &args)
    };
    // A VIEWER gives only scopes that cannot change data.
    let err = as_user("ann@example.com", "products:write", Some(&org_id));
    assert!(
        err.contains("`products:write` exceeds") && err.contains("role"),
        "{err}"
    );
    let err = as_user("bob@example.com", "products:read", Some(&org_id));
    assert!(err.contains("not a member"), "{err}");
    let err = as_user("nobody@example.com", "products:read", Some(&org_id));
    assert!(err.contains("no such user"), "{err}");
    let err = as_user(&ann_id, "products:read", None);
    assert!(err.contains("--organization"), "{err}");
    let err = refused(
        &env,
        &[
            "api-keys",
            "create",
            "--name",
            "x",
            "--scope",
            "products:read",
            "--user",
            &ann_id,
            "--organization",
            &org_id,
            "--client",
            "c",
        ],
    );
    assert!(err.contains("cannot be used with"), "{err}");
    // A disabled person creates no key.
    let disabled = run(&env, &["users", "disable", &ann_id]);
    assert!(disabled.status.success(), "{}", stderr(&disabled));
    let err = as_user("ann@example.com", "products:read", Some(&org_id));
    assert!(err.contains("is disabled"), "{err}");
    assert_eq!(total(&env), 1);
}

/// A running `castellan serve`, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(env: &Env) -> Server {
    let port = castellan_testkit::free_port();
    let child = command(env)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("castellan serve exited early: {status}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        assert!(Instant::now() < deadline, "castellan serve never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn a_key_created_on_the_command_line_is_accepted_by_a_running_server() {
    let env = env().await;
    let admin = json(&env, &["init", "--json"]);
    let (admin_id, admin_secret) = (
        str_of(&admin, "client_id").to_owned(),
        str_of(&admin, "client_secret").to_owned(),
    );
    let created = json(
        &env,
        &[
            "api-keys",
            "create",
            "--name",
            "gateway test",
            "--scope",
            "products:read",
            "--organization",
            "acme",
            "--json",
        ],
    );
    let key = str_of(&created, "key").to_owned();
    let id = str_of(&created, "id").to_owned();

    let server = serve(&env);
    let check = |k: &str| introspect(server.port, &admin_id, &admin_secret, k);
    let v = check(&key);
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["token_type"], "api_key");
    assert_eq!(v["sub"], id.as_str());
    assert_eq!(v["scope"], "products:read");
    assert_eq!(v["org"], "acme");

    // Changes made on the command line reach the running server (cache_seconds = 0 here).
    json(&env, &["api-keys", "disable", &id, "--json"]);
    assert_eq!(
        check(&key),
        serde_json::json!({"active": false, "status": "disabled"})
    );
    json(&env, &["api-keys", "enable", &id, "--json"]);
    assert_eq!(check(&key)["active"], true);
    let rotated = json(&env, &["api-keys", "rotate", &id, "--json"]);
    let new_key = str_of(&rotated, "key").to_owned();
    assert_eq!(
        check(&key),
        serde_json::json!({"active": false, "status": "revoked"})
    );
    let v = check(&new_key);
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["sub"], rotated["id"]);
}

/// The CLI never prints control characters from stored values raw: a name stored with a
/// terminal escape sequence (before names were checked, or written around Castellan) is
/// printed with `\u{1b}` instead.
#[tokio::test]
async fn a_stored_name_with_an_escape_sequence_is_printed_escaped() {
    let env = env().await;
    let store = castellan_store::connect(&env.database).await.unwrap();
    let now = chrono::Utc::now();
    store
        .insert_api_key(&castellan_store::api_keys::ApiKey {
            id: "key_escaped".into(),
            hash: [7; 32],
            visible_prefix: "csb_D1234".into(),
            last_four: "abcd".into(),
            name: "\u{1b}[2J\u{1b}[31mred\u{7}".into(),
            scope: "products:read".into(),
            organization_id: Some("org\u{1b}]0;x".into()),
            tier: "default".into(),
            created_at: now,
            created_by: "someone".into(),
            last_used_at: None,
            expires_at: None,
            status: ApiKeyStatus::Active,
            rotated_from: None,
        })
        .await
        .unwrap();
    for args in [
        vec!["api-keys", "list"],
        vec!["api-keys", "disable", "key_escaped"],
    ] {
        let out = run(&env, &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?} printed a control character: {text:?}"
        );
        assert!(
            text.contains("\\u{1b}[2J\\u{1b}[31mred\\u{7}"),
            "{args:?}: {text}"
        );
    }
}
