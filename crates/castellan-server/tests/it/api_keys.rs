//! API keys through the management API and introspection, on the backend of
//! `CASTELLAN_TEST_BACKEND`.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_core::user::Role;
use castellan_testkit::people::{code_client, member, org, token, user};
use castellan_testkit::ManualClock;
use castellan_testkit::TestApp;
use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// A manager client holding the key permissions and two product scopes; answers its token.
async fn manager(app: &TestApp) -> String {
    app.client_token(json!({
        "name": "key manager",
        "scope": "manage_api_keys view_api_keys products:read products:write"
    }))
    .await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_shows_the_key_once_and_lists_only_prefix_and_last_four() {
    let app = TestApp::spawn().await;
    castellan_testkit::people::org_with_id(&app, "org-1").await;
    let t = manager(&app).await;
    let (s, created) = post(
        &app,
        &t,
        "/api-keys",
        json!({"name": "etl", "scope": "products:read", "organizationId": "org-1", "expiresInDays": 30}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("csb_D"), "local environment letter: {key}");
    assert_eq!(key.split('_').count(), 3);
    assert!(created["note"]
        .as_str()
        .unwrap()
        .contains("will not see this again"));
    let id = created["id"].as_str().unwrap();

    let (s, list) = get(&app, &t, "/api-keys").await;
    assert_eq!(s, 200);
    let text = list.to_string();
    assert!(!text.contains(key), "the key is never listed");
    let item = &list["results"][0];
    assert_eq!(item["id"], id);
    assert_eq!(item["visiblePrefix"], &key[..9]);
    assert_eq!(item["lastFour"], &key[key.len() - 4..]);
    assert_eq!(item["scope"], "products:read");
    assert_eq!(item["organizationId"], "org-1");
    assert_eq!(item["tier"], "default");
    assert_eq!(item["status"], "active");
    assert!(item.get("key").is_none());
    for f in ["createdAt", "lastUsedAt", "expiresAt", "name"] {
        assert!(item.get(f).is_some(), "{f}");
    }
    let (s, one) = get(&app, &t, &format!("/api-keys/{id}")).await;
    assert_eq!(s, 200);
    assert!(one.get("key").is_none());

    let i = app.introspect(key).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["token_type"], "api_key");
    assert_eq!(i["sub"], id);
    assert_eq!(i["org"], "org-1");
    assert_eq!(i["tier"], "default");
    assert_eq!(i["env"], "local");
    assert_eq!(i["scope"], "products:read");
    assert!(i["exp"].is_i64());
    assert!(i.get("client_id").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_are_at_most_the_creators_and_permissions_are_needed() {
    let app = TestApp::spawn().await;
    let t = manager(&app).await;
    let (s, body) = post(
        &app,
        &t,
        "/api-keys",
        json!({"name": "x", "scope": "orders:write"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("orders:write"), "{body}");
    // A token without manage_api_keys cannot create; one without view cannot list.
    let c = app
        .create_client(json!({"name": "reader", "scope": "products:read"}))
        .await;
    let weak = app
        .token_for(
            c["id"].as_str().unwrap(),
            c["secret"].as_str().unwrap(),
            None,
        )
        .await;
    let (s, _) = post(
        &app,
        &weak,
        "/api-keys",
        json!({"name": "x", "scope": "products:read"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = get(&app, &weak, "/api-keys").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let res = app.http.get(app.url("/api-keys")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_enable_revoke_and_rotate() {
    let app = TestApp::spawn().await;
    let t = manager(&app).await;
    let (_, created) = post(
        &app,
        &t,
        "/api-keys",
        json!({"name": "k", "scope": "products:read"}),
    )
    .await;
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();

    let (s, b) = post(&app, &t, &format!("/api-keys/{id}/disable"), json!({})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "disabled");
    let i = app.introspect(&key).await;
    assert_eq!(i, json!({"active": false, "status": "disabled"}));

    let (s, b) = post(&app, &t, &format!("/api-keys/{id}/enable"), json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "active");
    assert_eq!(app.introspect(&key).await["active"], true);

    let (s, rotated) = post(&app, &t, &format!("/api-keys/{id}/rotate"), json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{rotated}");
    let new_key = rotated["key"].as_str().unwrap();
    assert_ne!(new_key, key);
    assert_eq!(rotated["rotatedFrom"], id.as_str());
    assert_eq!(rotated["scope"], "products:read");
    assert_eq!(app.introspect(&key).await["status"], "revoked");
    assert_eq!(app.introspect(new_key).await["active"], true);

    let new_id = rotated["id"].as_str().unwrap();
    let (s, b) = post(&app, &t, &format!("/api-keys/{new_id}/revoke"), json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "revoked");
    assert_eq!(app.introspect(new_key).await["status"], "revoked");
    // Revoked stays revoked.
    let (s, _) = post(&app, &t, &format!("/api-keys/{new_id}/enable"), json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = post(&app, &t, "/api-keys/key_nope/disable", json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_on_the_servers_clock() {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let app = TestApp::spawn_full(|_| {}, Arc::<ManualClock>::clone(&clock)).await;
    let t = manager(&app).await;
    let (_, created) = post(
        &app,
        &t,
        "/api-keys",
        json!({"name": "k", "scope": "products:read", "expiresInDays": 1}),
    )
    .await;
    let key = created["key"].as_str().unwrap();
    assert_eq!(app.introspect(key).await["active"], true);
    clock.advance(Duration::days(1) + Duration::seconds(1));
    assert_eq!(
        app.introspect(key).await,
        json!({"active": false, "status": "expired"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_keys_are_refused_without_a_storage_lookup() {
    let app = TestApp::spawn().await;
    // Break the storage of keys: any lookup would now fail.
    let db = castellan_store::connect(&app.state.config.database)
        .await
        .unwrap();
    sqlx::query("DROP TABLE api_keys")
        .execute(db.pool())
        .await
        .unwrap();
    let good_shape =
        castellan_core::api_key::generate("csb", castellan_core::Environment::Local, &[9; 32])
            .unwrap();
    let mut bad_sum = good_shape.clone();
    bad_sum.replace_range(
        bad_sum.len() - 1..,
        if good_shape.ends_with('0') { "1" } else { "0" },
    );
    let other_env =
        castellan_core::api_key::generate("csb", castellan_core::Environment::Production, &[9; 32])
            .unwrap();
    for k in [bad_sum.as_str(), "csb_only_two", "csb_x_y_z"] {
        let i = app.introspect(k).await;
        assert_eq!(i, json!({"active": false}), "{k}");
    }
    assert_eq!(
        app.introspect(&other_env).await,
        json!({"active": false, "reason": "wrong_environment"})
    );
    // A well-formed key does reach storage (and fails, proving the others did not).
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&app.admin_id, Some(&app.admin_secret))
        .form(&[("token", good_shape.as_str())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_server_error(), "{}", res.status());
}

/// A person signed in through a console client allowed the key permissions; answers their
/// access token (bound to `org`).
async fn person_token(app: &TestApp, email: &str, org: &str, role: Role) -> String {
    let console = code_client(
        app,
        json!({
            "name": "Console",
            "grantTypes": ["password"],
            "scope": "manage_api_keys view_api_keys manage_api_clients view_api_clients products:read",
        }),
    )
    .await;
    let u = user(app, email, Some("a long enough password")).await;
    member(app, org, &u.id, role).await;
    app.store.set_user_admin(&u.id, true).await.unwrap();
    let (s, b) = token(
        app,
        &console,
        &[
            ("grant_type", "password"),
            ("username", email),
            ("password", "a long enough password"),
            ("organization_id", org),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["access_token"].as_str().unwrap().to_owned()
}

/// A person's token (even an administrator's) sees and changes only the keys of the
/// organizations they belong to, and changing needs MANAGER or OWNER there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_token_reaches_only_the_keys_of_their_organizations() {
    let app = TestApp::spawn().await;
    let admin = manager(&app).await;
    let mine = org(&app, "Mine").await;
    let theirs = org(&app, "Theirs").await;
    let mut ids = Vec::new();
    for o in [&mine, &theirs] {
        let (s, k) = post(
            &app,
            &admin,
            "/api-keys",
            json!({"name": format!("key of {o}"), "scope": "products:read", "organizationId": o}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{k}");
        ids.push(k["id"].as_str().unwrap().to_owned());
    }
    let (my_key, their_key) = (&ids[0], &ids[1]);
    let t = person_token(&app, "manager@example.com", &mine, Role::Manager).await;

    let (s, list) = get(&app, &t, "/api-keys").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let listed: Vec<&str> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![my_key.as_str()], "{list}");
    for path in [
        format!("/api-keys?organizationId={theirs}"),
        "/api-keys?createdBy=someone-else".to_owned(),
        format!("/api-keys/{their_key}"),
    ] {
        let (s, b) = get(&app, &t, &path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {b}");
        assert_eq!(b["errors"][0]["code"], "access_denied", "{b}");
    }
    for action in ["disable", "revoke", "rotate"] {
        let (s, b) = post(
            &app,
            &t,
            &format!("/api-keys/{their_key}/{action}"),
            json!({}),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{action}: {b}");
    }
    let (s, b) = post(
        &app,
        &t,
        "/api-keys",
        json!({"name": "x", "scope": "products:read", "organizationId": theirs}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, one) = get(&app, &admin, &format!("/api-keys/{their_key}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        one["status"], "active",
        "the other organization's key is untouched"
    );

    // Their own organization's keys work.
    let (s, b) = get(&app, &t, &format!("/api-keys?organizationId={mine}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["total"], 1, "{b}");
    // Without the count: the same page, no `total`; a flag that is not a boolean is refused.
    let (s, b) = get(
        &app,
        &t,
        &format!("/api-keys?organizationId={mine}&withTotal=false"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["count"], 1, "{b}");
    assert_eq!(b["results"][0]["id"], my_key.as_str(), "{b}");
    assert!(b.get("total").is_none_or(Value::is_null), "{b}");
    let (s, b) = get(&app, &t, "/api-keys?withTotal=maybe").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = post(&app, &t, &format!("/api-keys/{my_key}/rotate"), json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let rotated = b["id"].as_str().unwrap().to_owned();
    let (s, b) = post(&app, &t, &format!("/api-keys/{rotated}/revoke"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = post(
        &app,
        &t,
        "/api-keys",
        json!({"name": "mine", "scope": "products:read"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["organizationId"], mine.as_str());

    // A VIEWER reads their organization's keys but changes none.
    let v = person_token(&app, "viewer@example.com", &mine, Role::Viewer).await;
    let (s, _) = get(&app, &v, "/api-keys").await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = post(
        &app,
        &v,
        "/api-keys",
        json!({"name": "v", "scope": "products:read"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let new_key = b["id"].as_str().unwrap_or_default();
    assert!(new_key.is_empty());
    let (s, _) = post(&app, &v, &format!("/api-keys/{my_key}/disable"), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// A person without the admin flag signed in through a client allowed
/// `manage_api_clients` cannot create, list or delete clients with their token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_token_cannot_manage_clients_without_the_admin_flag() {
    let app = TestApp::spawn().await;
    let console = code_client(
        &app,
        json!({
            "name": "Console",
            "grantTypes": ["password"],
            "scope": "manage_api_clients view_api_clients manage_api_keys products:read",
        }),
    )
    .await;
    let o = org(&app, "Acme").await;
    let u = user(&app, "owner@example.com", Some("a long enough password")).await;
    member(&app, &o, &u.id, Role::Owner).await;
    let (s, b) = token(
        &app,
        &console,
        &[
            ("grant_type", "password"),
            ("username", "owner@example.com"),
            ("password", "a long enough password"),
            ("scope", "manage_api_clients view_api_clients products:read"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let t = b["access_token"].as_str().unwrap();
    let (s, b) = post(
        &app,
        t,
        "/api-clients",
        json!({"name": "sneaky", "scope": "products:read"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, _) = get(&app, t, "/api-clients").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let res = app
        .http
        .delete(app.url(&format!("/api-clients/{}", console.id)))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The same person with the flag gets the scope.
    app.store.set_user_admin(&u.id, true).await.unwrap();
    let (s, b) = token(
        &app,
        &console,
        &[
            ("grant_type", "password"),
            ("username", "owner@example.com"),
            ("password", "a long enough password"),
            ("scope", "view_api_clients"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _) = get(&app, b["access_token"].as_str().unwrap(), "/api-clients").await;
    assert_eq!(s, StatusCode::OK);
}

/// A person's token with `manage_organizations` (an administrator's) changes the members of an
/// organization only as its OWNER: a MANAGER there, or an OWNER of another organization, is
/// refused and nothing changes.
#[tokio::test]
async fn only_an_owner_changes_the_members_of_an_organization() {
    let app = TestApp::spawn().await;
    let console = code_client(
        &app,
        json!({
            "name": "Console",
            "grantTypes": ["password"],
            "scope": "manage_organizations",
        }),
    )
    .await;
    let acme = org(&app, "Acme").await;
    let other = org(&app, "Other").await;
    let victim = user(&app, "victim@example.com", None).await;
    member(&app, &acme, &victim.id, Role::Manager).await;
    let sign_in = |email: &'static str, org_id: String| {
        let (app, console) = (&app, &console);
        async move {
            let (s, b) = token(
                app,
                console,
                &[
                    ("grant_type", "password"),
                    ("username", email),
                    ("password", "a long enough password"),
                    ("organization_id", org_id.as_str()),
                ],
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{b}");
            assert_eq!(b["scope"], "manage_organizations", "{b}");
            b["access_token"].as_str().unwrap().to_owned()
        }
    };
    let mut people = Vec::new();
    for (email, org_id, role) in [
        ("manager@example.com", &acme, Role::Manager),
        ("elsewhere@example.com", &other, Role::Owner),
        ("owner@example.com", &acme, Role::Owner),
    ] {
        let u = user(&app, email, Some("a long enough password")).await;
        member(&app, org_id, &u.id, role).await;
        app.store.set_user_admin(&u.id, true).await.unwrap();
        people.push(sign_in(email, org_id.clone()).await);
    }
    let path = app.url(&format!("/organizations/{acme}/members/{}", victim.id));
    for refused in &people[..2] {
        let res = app
            .http
            .put(&path)
            .bearer_auth(refused)
            .json(&json!({"role": "VIEWER"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = app
            .http
            .delete(&path)
            .bearer_auth(refused)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            app.store.role_in(&acme, &victim.id).await.unwrap(),
            Some(Role::Manager)
        );
    }
    let res = app
        .http
        .delete(&path)
        .bearer_auth(&people[2])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.store.role_in(&acme, &victim.id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_for_an_organization_that_does_not_exist_is_refused() {
    let app = TestApp::spawn().await;
    let t = manager(&app).await;
    let (s, b) = post(
        &app,
        &t,
        "/api-keys",
        json!({"name": "etl", "scope": "products:read", "organizationId": "no-such-org"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("names no organization"),
        "{b}"
    );
    let (s, list) = get(&app, &t, "/api-keys").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["count"], 0, "nothing was stored: {list}");
    castellan_testkit::people::org_with_id(&app, "no-such-org").await;
    let (s, b) = post(
        &app,
        &t,
        "/api-keys",
        json!({"name": "etl", "scope": "products:read", "organizationId": "no-such-org"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}
