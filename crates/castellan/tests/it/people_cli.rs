//! `castellan users create`, `castellan orgs create` and `castellan orgs add-member`:
//! what they store, that a password is stored only as Argon2id and never printed, and
//! their refusals. Runs on SQLite, or on PostgreSQL when `CASTELLAN_TEST_BACKEND=postgres`.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_core::user::Role;
use castellan_core::Secret;
use castellan_server::people::passwords::verify_password;
use castellan_store::factors::FactorStore;
use castellan_store::people::UserStore;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// A fresh, migrated database (these commands create none).
async fn database() -> (String, Option<tempfile::TempDir>) {
    let (url, dir) = castellan_testkit::fresh_database().await;
    castellan_store::migrate(&url).await.unwrap();
    (url, dir)
}

fn command(database: &str) -> Command {
    let mut c = crate::support::castellan();
    c.arg("--database").arg(database);
    c
}

fn run(database: &str, args: &[&str]) -> Output {
    command(database).args(args).output().unwrap()
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[tokio::test]
async fn users_orgs_and_memberships_from_the_command_line() {
    let (db, _dir) = database().await;
    let mut child = command(&db)
        .args([
            "users",
            "create",
            "--email",
            " Ann@Example.com",
            "--name",
            "Ann",
            "--password-stdin",
            "--json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let ann = json(&out);
    assert_eq!(ann["email"], "ann@example.com");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("correct horse"));
    let ann_id = ann["id"].as_str().unwrap().to_owned();

    let bob = json(&run(
        &db,
        &[
            "users",
            "create",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
            "--password",
            "another password",
            "--json",
        ],
    ));
    // The email is taken.
    let again = run(
        &db,
        &[
            "users",
            "create",
            "--email",
            "ANN@example.com",
            "--name",
            "A",
            "--password",
            "12345678",
        ],
    );
    assert!(!again.status.success());
    // Too short a password.
    let short = run(
        &db,
        &[
            "users",
            "create",
            "--email",
            "c@example.com",
            "--name",
            "C",
            "--password",
            "short",
        ],
    );
    assert!(!short.status.success());

    let acme = json(&run(&db, &["orgs", "create", "--name", "Acme", "--json"]));
    let acme_id = acme["id"].as_str().unwrap().to_owned();
    assert_eq!(acme["name"], "Acme");
    let added = run(
        &db,
        &[
            "orgs",
            "add-member",
            "--org",
            &acme_id,
            "--user",
            "ann@example.com",
            "--role",
            "OWNER",
        ],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let bob_id = bob["id"].as_str().unwrap();
    let added = run(
        &db,
        &[
            "orgs",
            "add-member",
            "--org",
            &acme_id,
            "--user",
            bob_id,
            "--role",
            "viewer",
        ],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    for bad in [
        vec![
            "--org",
            acme_id.as_str(),
            "--user",
            "nobody@example.com",
            "--role",
            "OWNER",
        ],
        vec!["--org", "no-such-org", "--user", bob_id, "--role", "OWNER"],
        vec![
            "--org",
            acme_id.as_str(),
            "--user",
            bob_id,
            "--role",
            "ADMIN",
        ],
    ] {
        let mut args = vec!["orgs", "add-member"];
        args.extend(bad);
        assert!(!run(&db, &args).status.success(), "{args:?}");
    }

    // The admin flag: off unless asked for, set and cleared by `users set-admin`.
    let admin = json(&run(
        &db,
        &[
            "users",
            "create",
            "--email",
            "dee@example.com",
            "--name",
            "Dee",
            "--password",
            "a long enough password",
            "--admin",
            "--json",
        ],
    ));
    assert_eq!(admin["isAdmin"], true);
    assert_eq!(bob["isAdmin"], false);
    let set = run(
        &db,
        &[
            "users",
            "set-admin",
            "--user",
            "bob@example.com",
            "--admin",
            "true",
        ],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let cleared = run(
        &db,
        &[
            "users",
            "set-admin",
            "--user",
            "dee@example.com",
            "--admin",
            "false",
        ],
    );
    assert!(cleared.status.success());
    assert!(!run(
        &db,
        &[
            "users",
            "set-admin",
            "--user",
            "nobody@example.com",
            "--admin",
            "true"
        ]
    )
    .status
    .success());

    // set-role and remove-member.
    let lowered = run(
        &db,
        &[
            "orgs", "set-role", "--org", &acme_id, "--user", bob_id, "--role", "MANAGER",
        ],
    );
    assert!(
        lowered.status.success(),
        "{}",
        String::from_utf8_lossy(&lowered.stderr)
    );
    let removed = run(
        &db,
        &[
            "orgs",
            "remove-member",
            "--org",
            &acme_id,
            "--user",
            "dee@example.com",
        ],
    );
    assert!(!removed.status.success(), "dee is not a member");
    let store = castellan_store::connect(&db).await.unwrap();
    assert_eq!(
        store.role_in(&acme_id, bob_id).await.unwrap(),
        Some(Role::Manager)
    );
    let removed = run(
        &db,
        &["orgs", "remove-member", "--org", &acme_id, "--user", bob_id],
    );
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert_eq!(store.role_in(&acme_id, bob_id).await.unwrap(), None);
    let added = run(
        &db,
        &[
            "orgs",
            "add-member",
            "--org",
            &acme_id,
            "--user",
            bob_id,
            "--role",
            "VIEWER",
        ],
    );
    assert!(added.status.success());
    assert!(store.get_user(bob_id).await.unwrap().unwrap().is_admin);
    assert!(
        !store
            .get_user(admin["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap()
            .is_admin
    );
    let stored = store.get_user(&ann_id).await.unwrap().unwrap();
    assert!(!stored.is_admin);
    assert!(stored.password_hash.starts_with("$argon2id$"));
    assert!(verify_password(Secret::new("correct horse battery"), stored.password_hash).await);
    assert_eq!(
        store.role_in(&acme_id, &ann_id).await.unwrap(),
        Some(Role::Owner)
    );
    assert_eq!(
        store.role_in(&acme_id, bob_id).await.unwrap(),
        Some(Role::Viewer)
    );
}

/// `users list|show|set-password` and `orgs list|show|members`: what is stored, never a
/// password or its hash; a new password is stored as Argon2id and ends the person's sessions;
/// unknown names fail with a message.
#[tokio::test]
async fn people_and_organizations_are_read_and_a_password_replaced_from_the_command_line() {
    let (db, _dir) = database().await;
    let ann = json(&run(
        &db,
        &[
            "users",
            "create",
            "--email",
            "ann@example.com",
            "--name",
            "Ann",
            "--password",
            "first password",
            "--json",
        ],
    ));
    let ann_id = ann["id"].as_str().unwrap().to_owned();
    json(&run(
        &db,
        &[
            "users",
            "create",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
            "--password",
            "bob password",
            "--json",
        ],
    ));
    let org = json(&run(&db, &["orgs", "create", "--name", "Acme", "--json"]));
    let org_id = org["id"].as_str().unwrap().to_owned();
    let o = run(
        &db,
        &[
            "orgs",
            "add-member",
            "--org",
            &org_id,
            "--user",
            "ann@example.com",
            "--role",
            "OWNER",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let users = json(&run(&db, &["users", "list", "--limit", "1", "--json"]));
    assert_eq!(users["total"], 2);
    assert_eq!(users["count"], 1);
    assert_eq!(users["results"][0]["email"], "ann@example.com");
    let all = run(&db, &["users", "list"]);
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(
        text.contains("bob@example.com") && text.contains("2 of 2 shown"),
        "{text}"
    );
    assert!(!text.contains("argon2"), "{text}");

    let shown = json(&run(&db, &["users", "show", "ann@example.com", "--json"]));
    assert_eq!(shown["id"], ann_id.as_str());
    assert_eq!(shown["organizations"][0]["role"], "OWNER");
    assert!(shown.get("passwordHash").is_none() && !shown.to_string().contains("argon2"));

    let orgs = json(&run(&db, &["orgs", "list", "--json"]));
    assert_eq!(orgs["total"], 1);
    assert_eq!(orgs["results"][0]["name"], "Acme");
    let one = json(&run(&db, &["orgs", "show", &org_id, "--json"]));
    assert_eq!(
        (one["members"].as_u64(), one["owners"].as_u64()),
        (Some(1), Some(1))
    );
    let members = json(&run(&db, &["orgs", "members", &org_id, "--json"]));
    assert_eq!(members["results"][0]["email"], "ann@example.com");
    assert_eq!(members["results"][0]["role"], "OWNER");

    // A new password: stored as Argon2id, the old one no longer verifies, her sessions end.
    let store = castellan_store::connect(&db).await.unwrap();
    castellan_store::people::GrantStore::insert_session(
        store.as_ref(),
        &castellan_store::people::Session {
            hash: [5; 32],
            id: "ses_5".to_owned(),
            user_id: ann_id.clone(),
            auth_time: chrono::Utc::now(),
            amr: castellan_core::authn::Amr::PASSWORD,
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
            device: String::new(),
            address: String::new(),
        },
    )
    .await
    .unwrap();
    let mut child = command(&db)
        .args([
            "users",
            "set-password",
            "ann@example.com",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"second password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("second password"));
    let stored = store.get_user(&ann_id).await.unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));
    assert!(verify_password(Secret::new("second password"), stored.password_hash.clone()).await);
    assert!(!verify_password(Secret::new("first password"), stored.password_hash).await);
    let session = castellan_store::people::GrantStore::get_session(
        store.as_ref(),
        &[5; 32],
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(session, None, "her sessions ended");

    // Disabled and enabled again.
    let o = run(&db, &["users", "disable", "ann@example.com"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("is disabled"));
    assert!(store
        .get_user(&ann_id)
        .await
        .unwrap()
        .unwrap()
        .disabled_at
        .is_some());
    let shown = json(&run(&db, &["users", "show", &ann_id, "--json"]));
    assert!(shown["disabledAt"].is_string(), "{shown}");
    let enabled = json(&run(&db, &["users", "enable", &ann_id, "--json"]));
    assert!(enabled["disabledAt"].is_null(), "{enabled}");
    assert!(store
        .get_user(&ann_id)
        .await
        .unwrap()
        .unwrap()
        .disabled_at
        .is_none());

    // A lost authenticator app: an operator removes it and its recovery codes.
    let now = chrono::Utc::now();
    assert!(store
        .start_totp(&ann_id, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", now)
        .await
        .unwrap());
    assert!(store
        .confirm_totp(
            &ann_id,
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            1,
            &[[7; 32]],
            now
        )
        .await
        .unwrap());
    // And a lost passkey.
    store
        .add_passkey(&castellan_store::factors::StoredPasskey {
            id: "pk_lost".to_owned(),
            user_id: ann_id.clone(),
            user_handle: "0f9e6c5a-1b2c-4d3e-8f70-112233445566".to_owned(),
            credential_id: "bG9zdA".to_owned(),
            name: "Lost phone".to_owned(),
            credential: "{}".to_owned(),
            backup_eligible: true,
            created_at: now,
            last_used_at: None,
        })
        .await
        .unwrap();
    let reset = json(&run(
        &db,
        &["users", "reset-mfa", "ann@example.com", "--json"],
    ));
    assert_eq!(reset["secondFactorRemoved"], true, "{reset}");
    assert_eq!(reset["passkeysRemoved"], 1, "{reset}");
    assert!(store.list_passkeys(&ann_id).await.unwrap().is_empty());
    assert!(store.get_totp(&ann_id).await.unwrap().is_none());
    assert_eq!(store.recovery_codes(&ann_id).await.unwrap().left, 0);
    let events = run(
        &db,
        &["audit", "list", "--type", "second_factor.reset", "--json"],
    );
    assert!(
        events.status.success(),
        "{}",
        String::from_utf8_lossy(&events.stderr)
    );
    assert!(
        String::from_utf8_lossy(&events.stdout).contains(ann_id.as_str()),
        "{}",
        String::from_utf8_lossy(&events.stdout)
    );
    let again = run(&db, &["users", "reset-mfa", &ann_id]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("had no second factor"));

    for (args, says) in [
        (
            vec!["users", "reset-mfa", "nobody@example.com"],
            "no such user",
        ),
        (
            vec!["users", "disable", "nobody@example.com"],
            "no such user",
        ),
        (vec!["users", "show", "nobody@example.com"], "no such user"),
        (
            vec![
                "users",
                "set-password",
                "nobody@example.com",
                "--password",
                "long enough",
            ],
            "no such user",
        ),
        (
            vec![
                "users",
                "set-password",
                "ann@example.com",
                "--password",
                "short",
            ],
            "password",
        ),
        (
            vec!["orgs", "show", "no-such-org"],
            "no organization with id",
        ),
        (
            vec!["orgs", "members", "no-such-org"],
            "no organization with id",
        ),
        (vec!["users", "list", "--limit", "0"], "--limit"),
    ] {
        let o = run(&db, &args);
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    store.close().await;
}
