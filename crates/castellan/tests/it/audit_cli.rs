//! `castellan audit list`, and the events operators cause from the command line: a client
//! created and deleted, a person disabled and enabled, a password set, a member added and
//! removed, a signing key rotated — each recorded with the operator as actor and no secret.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::{env, run, stderr, stdout, Env};
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;

fn ok(env: &Env, args: &[&str]) -> String {
    let o = run(env, args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

fn json(env: &Env, args: &[&str]) -> Value {
    serde_json::from_str(&ok(env, args)).unwrap()
}

#[tokio::test]
async fn operators_actions_are_audited_and_listed_with_filters() {
    let env = env().await;
    let client = json(&env, &["clients", "create", "--name", "job", "--json"]);
    let client_id = client["id"].as_str().unwrap().to_owned();
    let secret = client["secret"].as_str().unwrap().to_owned();
    ok(&env, &["clients", "delete", &client_id]);
    let user = json(
        &env,
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
    );
    let user_id = user["id"].as_str().unwrap().to_owned();
    ok(
        &env,
        &["users", "set-admin", "--user", &user_id, "--admin", "true"],
    );
    ok(&env, &["users", "disable", &user_id]);
    ok(&env, &["users", "enable", &user_id]);
    let mut child = crate::support::command(&env)
        .args([
            "users",
            "set-password",
            &user_id,
            "--password-stdin",
            "--end-grants",
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
        .write_all(b"second secret password\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let set: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (set["id"].as_str(), set["grantsEnded"].as_bool()),
        (Some(user_id.as_str()), Some(true))
    );
    let org = json(&env, &["orgs", "create", "--name", "Acme", "--json"]);
    let org_id = org["id"].as_str().unwrap().to_owned();
    let added = json(
        &env,
        &[
            "orgs",
            "add-member",
            "--org",
            &org_id,
            "--user",
            &user_id,
            "--role",
            "MANAGER",
            "--json",
        ],
    );
    assert_eq!(added["role"], "MANAGER");
    let removed = json(
        &env,
        &[
            "orgs",
            "remove-member",
            "--org",
            &org_id,
            "--user",
            &user_id,
            "--json",
        ],
    );
    assert_eq!(removed["removed"], true);
    assert_eq!(removed["userId"], user_id.as_str());
    ok(&env, &["keys", "rotate"]);

    let page = json(&env, &["audit", "list", "--json"]);
    let events = page["results"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for kind in [
        "client.created",
        "client.deleted",
        "person.disabled",
        "person.enabled",
        "person.admin_changed",
        "person.password_changed",
        "member.role_changed",
        "member.removed",
        "signing_key.rotated",
    ] {
        assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
    }
    for e in events {
        assert_eq!(e["actor"]["type"], "operator", "{e}");
        assert!(!e["actor"]["id"].as_str().unwrap().is_empty(), "{e}");
        assert!(e.get("address").is_none(), "{e}");
    }
    let text = page.to_string();
    for secret in [secret.as_str(), "first password", "second secret password"] {
        assert!(!text.contains(secret), "a secret is in the audit log");
    }

    // Filters: a family, an organization, a time range; the plain listing too.
    let members = json(&env, &["audit", "list", "--type", "member.*", "--json"]);
    assert_eq!(members["total"], 2);
    let acme = json(
        &env,
        &["audit", "list", "--organization", &org_id, "--json"],
    );
    assert_eq!(acme["total"], 2);
    assert_eq!(acme["results"][0]["type"], "member.removed");
    let none = json(
        &env,
        &["audit", "list", "--until", "2000-01-01T00:00:00Z", "--json"],
    );
    assert_eq!(none["total"], 0);
    let paged = json(
        &env,
        &["audit", "list", "--limit", "3", "--offset", "1", "--json"],
    );
    assert_eq!(
        (paged["count"].as_u64(), paged["offset"].as_u64()),
        (Some(3), Some(1))
    );
    let plain = ok(&env, &["audit", "list", "--type", "client.deleted"]);
    assert!(plain.contains("client.deleted"), "{plain}");
    assert!(plain.contains(&client_id), "{plain}");
    assert!(plain.contains("1 of 1 matching"), "{plain}");

    // Bad filters: a clear message and a non-zero exit.
    for (args, says) in [
        (&["audit", "list", "--type", "nope"][..], "--type must name"),
        (
            &["audit", "list", "--since", "yesterday"][..],
            "--since must be an RFC 3339",
        ),
        (&["audit", "list", "--limit", "0"][..], "--limit"),
    ] {
        let o = run(&env, args);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}
