//! The API-keys page of the account area over HTTP, on the backend of
//! `CASTELLAN_TEST_BACKEND`: a signed-in person creates a key (shown once, then accepted by
//! introspection and forward-auth), sees it listed by prefix and last four only, disables,
//! enables and revokes it; forms need the CSRF token; another person's key is a 404; bad
//! input is a 4xx page that changes nothing; a key gets at most its creator's permissions.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::pages::*;
use castellan_core::user::{Membership, Role};
use castellan_server::gateway::config::GatewayRoute;
use castellan_server::platform::config::{Config, ScopeEntry};
use castellan_store::api_keys::{ApiKey, ApiKeyOwner, ApiKeyStatus};
use castellan_testkit::TestApp;

const PATH: &str = "/account/api-keys";

fn configure(c: &mut Config) {
    for (name, description) in [
        ("products:read", "See your products"),
        ("products:write", "Change your products"),
        ("manage_api_keys", "Manage API keys"),
    ] {
        c.scopes.push(ScopeEntry {
            name: name.into(),
            description: description.into(),
        });
    }
    c.gateway.routes = vec![GatewayRoute {
        method: "GET".into(),
        path: "/products/*".into(),
        public: false,
        scope: Some("products:read".into()),
        min_role: None,
        organization_header: None,
        organization_param: None,
        tenant: false,
    }];
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(configure).await
}

/// A new person (MANAGER of new organizations named `orgs`), signed in; answers the browser,
/// the user id and the organization ids.
async fn signed_in(app: &TestApp, email: &str, orgs: &[&str]) -> (Browser, String, Vec<String>) {
    let (id, org_ids) = add_person(app, email, orgs).await;
    let b = Browser::new(app);
    let login = b.get("/login").await;
    let account = sign_in(&b, &login, email, PASSWORD).await;
    assert_eq!(account.status, 200, "{}", account.body);
    (b, id, org_ids)
}

async fn keys_page(b: &Browser) -> Page {
    let p = b.get(PATH).await;
    assert_eq!(p.status, 200, "{}", p.body);
    p
}

/// Posts `form` to `path` with the browser's CSRF token (from the account page).
async fn submit(b: &Browser, path: &str, form: &[(&str, &str)]) -> Page {
    let csrf = b.get("/account").await.hidden("csrf");
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend_from_slice(form);
    b.post(path, &fields).await
}

async fn create(b: &Browser, org: &str, name: &str, scopes: &[&str]) -> Page {
    let mut form = vec![("name", name), ("organization", org)];
    form.extend(scopes.iter().map(|s| ("scope", *s)));
    submit(b, PATH, &form).await
}

/// The key shown on the answer to create.
fn shown_key(p: &Page) -> String {
    let at = p
        .body
        .find("id=\"new-key\"")
        .unwrap_or_else(|| panic!("no new key on {}", p.body));
    let rest = &p.body[at..];
    let start = rest.find("value=\"").unwrap() + 7;
    let end = rest[start..].find('"').unwrap() + start;
    unescape(&rest[start..end])
}

async fn stored(app: &TestApp, user_id: &str) -> Vec<ApiKey> {
    app.store
        .list_api_keys(&ApiKeyOwner::Creator(user_id.to_owned()), 500, 0, true)
        .await
        .unwrap()
        .results
}

async fn all_keys(app: &TestApp) -> usize {
    app.store
        .list_api_keys(&ApiKeyOwner::All, 500, 0, true)
        .await
        .unwrap()
        .results
        .len()
}

async fn forward_auth(app: &TestApp, key: &str) -> u16 {
    app.http
        .get(app.url("/forward-auth"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Uri", "/products/42")
        .header("X-API-Key", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The `data-status` of the key's row on the list.
fn listed_status(p: &Page, id: &str) -> Option<String> {
    let at = p.body.find(&format!("id=\"key-{id}\""))?;
    let rest = &p.body[at..];
    let start = rest.find("data-status=\"")? + 13;
    let end = rest[start..].find('"')? + start;
    Some(rest[start..end].to_owned())
}

fn assert_page_headers(p: &Page) {
    let h = |n: &str| p.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(h("cache-control").as_deref(), Some("no-store"));
    assert!(h("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(h("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(h("x-content-type-options").as_deref(), Some("nosniff"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_creates_a_key_shown_once_that_then_works() {
    let app = spawn().await;
    let (b, user_id, orgs) = signed_in(&app, "ana@example.com", &["Acme"]).await;
    let account = b.get("/account").await;
    assert!(account.body.contains("href=\"/account/api-keys\""));
    let empty = keys_page(&b).await;
    assert_page_headers(&empty);
    assert!(empty.body.contains("You have no API keys yet"));
    // The catalogue's scopes are offered, administrative ones are not.
    assert!(empty.body.contains("value=\"products:write\""));
    assert!(!empty.body.contains("value=\"manage_api_keys\""));

    let created = submit(
        &b,
        PATH,
        &[
            ("name", "nightly export"),
            ("organization", &orgs[0]),
            ("scope", "products:read"),
            ("expires_in_days", "30"),
        ],
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.location.is_none());
    assert_page_headers(&created);
    assert!(created.body.contains("you will not see this again"));
    assert!(created.body.contains("id=\"copy-key\""));
    assert!(created.body.contains("src=\"/assets/copy.js\""));
    let key = shown_key(&created);
    assert!(
        key.starts_with("csb_D") && key.split('_').count() == 3,
        "{key}"
    );
    for c in created.headers.get_all("set-cookie") {
        assert!(!c.to_str().unwrap().contains(&key));
    }

    // Stored as a hash, for this person, in the chosen organization, with the default tier.
    let rows = stored(&app, &user_id).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.hash, castellan_crypto::hash_secret(&key).0);
    assert_eq!(row.organization_id.as_deref(), Some(orgs[0].as_str()));
    assert_eq!(row.scope, "products:read");
    assert_eq!(row.tier, "default");
    assert!(row.expires_at.is_some());

    // Accepted by introspection and forward-auth.
    let i = app.introspect(&key).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["scope"], "products:read");
    assert_eq!(i["org"], orgs[0].as_str());
    assert_eq!(forward_auth(&app, &key).await, 200);

    // The list shows the visible prefix and last four, never the key again.
    let list = keys_page(&b).await;
    assert!(!list.body.contains(&key));
    assert!(!list.body.contains(&key[5..]));
    let shown = format!("{}…{}", row.visible_prefix, row.last_four);
    assert!(list.body.contains(&shown), "{shown} in {}", list.body);
    assert!(key.starts_with(&row.visible_prefix) && key.ends_with(&row.last_four));
    assert!(list.body.contains("nightly export"));
    assert!(list.body.contains("Acme"));
    assert_eq!(listed_status(&list, &row.id).as_deref(), Some("active"));

    // The copy button's script is a same-origin file.
    let js = b.get("/assets/copy.js").await;
    assert_eq!(js.status, 200);
    assert!(js.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(js.body.contains("copy-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_enable_and_revoke_change_the_status_and_refuse_the_key() {
    let app = spawn().await;
    let (b, user_id, orgs) = signed_in(&app, "ben@example.com", &["Acme"]).await;
    let key = shown_key(&create(&b, &orgs[0], "etl", &["products:read"]).await);
    let id = stored(&app, &user_id).await[0].id.clone();

    let res = submit(&b, "/account/api-keys/disable", &[("key", id.as_str())]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location.as_deref(), Some(PATH));
    assert_eq!(
        listed_status(&keys_page(&b).await, &id).as_deref(),
        Some("disabled")
    );
    let i = app.introspect(&key).await;
    assert_eq!(
        (i["active"].clone(), i["status"].clone()),
        (false.into(), "disabled".into())
    );
    assert_eq!(forward_auth(&app, &key).await, 403);

    let res = submit(&b, "/account/api-keys/enable", &[("key", id.as_str())]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(app.introspect(&key).await["active"], true);
    assert_eq!(forward_auth(&app, &key).await, 200);

    let res = submit(&b, "/account/api-keys/revoke", &[("key", id.as_str())]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let list = keys_page(&b).await;
    assert_eq!(listed_status(&list, &id).as_deref(), Some("revoked"));
    let i = app.introspect(&key).await;
    assert_eq!(i["status"], "revoked", "{i}");
    assert_eq!(forward_auth(&app, &key).await, 403);

    // A revoked key stays revoked.
    for action in ["enable", "disable"] {
        let res = submit(
            &b,
            &format!("/account/api-keys/{action}"),
            &[("key", id.as_str())],
        )
        .await;
        assert_eq!(res.status, 400, "{action}");
    }
    assert_eq!(
        stored(&app, &user_id).await[0].status,
        ApiKeyStatus::Revoked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_right_csrf_token_or_origin_change_nothing() {
    let app = spawn().await;
    let (b, user_id, orgs) = signed_in(&app, "cy@example.com", &["Acme"]).await;
    let good = [
        ("name", "etl"),
        ("organization", orgs[0].as_str()),
        ("scope", "products:read"),
    ];
    for csrf in [None, Some(""), Some("wrong"), Some(&*"A".repeat(43))] {
        let mut form = good.to_vec();
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let res = b.post(PATH, &form).await;
        assert_eq!(res.status, 403, "csrf {csrf:?}");
    }
    // The right token twice, or from another site.
    let csrf = keys_page(&b).await.hidden("csrf");
    let mut twice = good.to_vec();
    twice.extend([("csrf", csrf.as_str()), ("csrf", csrf.as_str())]);
    assert_eq!(b.post(PATH, &twice).await.status, 403);
    let mut form = good.to_vec();
    form.push(("csrf", &csrf));
    let res = page(
        b.http
            .post(format!("{}{PATH}", b.base))
            .header("origin", "https://evil.example")
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, 403);
    // Another browser with a copied token (no cookies).
    let other = Browser::new(&app);
    assert_eq!(other.post(PATH, &form).await.status, 403);
    assert!(stored(&app, &user_id).await.is_empty());

    // Status changes need the token too.
    let key = shown_key(&create(&b, &orgs[0], "etl", &["products:read"]).await);
    let id = stored(&app, &user_id).await[0].id.clone();
    for action in ["disable", "revoke"] {
        let path = format!("/account/api-keys/{action}");
        assert_eq!(b.post(&path, &[("key", id.as_str())]).await.status, 403);
        assert_eq!(
            b.post(&path, &[("key", id.as_str()), ("csrf", "wrong")])
                .await
                .status,
            403
        );
        assert_eq!(
            other
                .post(&path, &[("key", id.as_str()), ("csrf", csrf.as_str())])
                .await
                .status,
            403
        );
    }
    assert_eq!(stored(&app, &user_id).await[0].status, ApiKeyStatus::Active);
    assert_eq!(app.introspect(&key).await["active"], true);

    // Signed out, the page sends the browser to sign in.
    let res = Browser::new(&app).get(PATH).await;
    assert_eq!(
        (res.status.as_u16(), res.location.as_deref()),
        (303, Some("/login"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_persons_key_is_not_found_and_stays_unchanged() {
    let app = spawn().await;
    let (ana, ana_id, ana_orgs) = signed_in(&app, "ana@example.com", &["Acme"]).await;
    let key = shown_key(&create(&ana, &ana_orgs[0], "ana's job", &["products:read"]).await);
    let ana_key = stored(&app, &ana_id).await[0].clone();

    // Bo is even a member of Ana's organization: keys are still each person's own.
    let (bo, bo_id, _) = signed_in(&app, "bo@example.com", &["Beta"]).await;
    app.store
        .upsert_membership(&Membership {
            organization_id: ana_orgs[0].clone(),
            user_id: bo_id.clone(),
            role: Role::Owner,
        })
        .await
        .unwrap();
    let list = keys_page(&bo).await;
    assert!(!list.body.contains(&ana_key.id));
    assert!(!list.body.contains("s job"));
    for action in ["disable", "enable", "revoke"] {
        let path = format!("/account/api-keys/{action}");
        for id in [
            ana_key.id.as_str(),
            "key_doesnotexist",
            "",
            "../../etc",
            &"k".repeat(300),
        ] {
            let res = submit(&bo, &path, &[("key", id)]).await;
            assert_eq!(res.status, 404, "{action} {id:.20}");
        }
        let res = submit(&bo, &path, &[]).await;
        assert_eq!(res.status, 404);
        let res = submit(
            &bo,
            &path,
            &[("key", ana_key.id.as_str()), ("key", ana_key.id.as_str())],
        )
        .await;
        assert_eq!(res.status, 404);
    }
    assert_eq!(stored(&app, &ana_id).await[0].status, ApiKeyStatus::Active);
    assert_eq!(app.introspect(&key).await["active"], true);
    assert!(stored(&app, &bo_id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_page_and_creates_nothing() {
    let app = spawn().await;
    let (b, user_id, orgs) = signed_in(&app, "di@example.com", &["Acme"]).await;
    let (_, foreign) = add_person(&app, "other@example.com", &["Other"]).await;
    let org = orgs[0].as_str();
    let long_name = "n".repeat(201);
    let huge_name = "n".repeat(12_000);
    let long_scope = "s".repeat(5000);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("organization", org), ("scope", "products:read")],
        vec![
            ("name", ""),
            ("organization", org),
            ("scope", "products:read"),
        ],
        vec![
            ("name", "   "),
            ("organization", org),
            ("scope", "products:read"),
        ],
        vec![
            ("name", &long_name),
            ("organization", org),
            ("scope", "products:read"),
        ],
        vec![
            ("name", &huge_name),
            ("organization", org),
            ("scope", "products:read"),
        ],
        vec![
            ("name", "a"),
            ("name", "b"),
            ("organization", org),
            ("scope", "products:read"),
        ],
        vec![("name", "x"), ("organization", org)],
        vec![("name", "x"), ("organization", org), ("scope", "")],
        vec![
            ("name", "x"),
            ("organization", org),
            ("scope", "billing:read"),
        ],
        vec![
            ("name", "x"),
            ("organization", org),
            ("scope", "manage_api_keys"),
        ],
        vec![("name", "x"), ("organization", org), ("scope", "openid")],
        vec![
            ("name", "x"),
            ("organization", org),
            ("scope", "products:*"),
        ],
        vec![
            ("name", "x"),
            ("organization", org),
            ("scope", "pro\"ducts"),
        ],
        vec![("name", "x"), ("organization", org), ("scope", "a\u{0}b")],
        vec![("name", "x"), ("organization", org), ("scope", &long_scope)],
        vec![("name", "x"), ("scope", "products:read")],
        vec![
            ("name", "x"),
            ("organization", ""),
            ("scope", "products:read"),
        ],
        vec![
            ("name", "x"),
            ("organization", &foreign[0]),
            ("scope", "products:read"),
        ],
        vec![
            ("name", "x"),
            ("organization", "org_nope"),
            ("scope", "products:read"),
        ],
        vec![
            ("name", "x"),
            ("organization", org),
            ("organization", org),
            ("scope", "products:read"),
        ],
        vec![
            ("name", "x"),
            ("organization", org),
            ("scope", "products:read"),
            ("expires_in_days", "abc"),
        ],
        vec![
            ("name", "x"),
            ("organization", org),
            ("scope", "products:read"),
            ("expires_in_days", "0"),
        ],
        vec![
            ("name", "x"),
            ("organization", org),
            ("scope", "products:read"),
            ("expires_in_days", "-1"),
        ],
        vec![
            ("name", "x"),
            ("organization", org),
            ("scope", "products:read"),
            ("expires_in_days", "99999"),
        ],
        vec![
            ("name", "x"),
            ("organization", org),
            ("scope", "products:read"),
            ("expires_in_days", "99999999999999999999"),
        ],
    ];
    for form in &cases {
        let res = submit(&b, PATH, form).await;
        assert!(
            res.status.is_client_error(),
            "{form:.200?} answered {}",
            res.status
        );
        assert!(!res.body.contains("id=\"new-key\""), "{form:.200?}");
    }
    // A refused form is the page again with the reason and the form.
    let res = create(&b, org, "x", &["billing:read"]).await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("id=\"form-error\""), "{}", res.body);
    assert!(res.body.contains("not a permission you can give a key"));
    assert!(res.body.contains("action=\"/account/api-keys\""));

    // Bodies larger than pages accept, and bytes that are not UTF-8.
    let csrf = keys_page(&b).await.hidden("csrf");
    let big = format!("csrf={csrf}&name={}", "n".repeat(20_000));
    let garbled = format!("csrf={csrf}&name=%FF%FE&organization={org}&scope=%C0%AF");
    for body in [
        big.into_bytes(),
        garbled.into_bytes(),
        b"\xff\xfe=\x00&&==".to_vec(),
    ] {
        let res = page(
            b.http
                .post(format!("{}{PATH}", b.base))
                .header("origin", &b.base)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(res.status.is_client_error(), "{}", res.status);
    }
    assert!(stored(&app, &user_id).await.is_empty());
    assert_eq!(all_keys(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_gets_at_most_its_creators_permissions() {
    let app = spawn().await;
    let (b, user_id, orgs) = signed_in(&app, "vi@example.com", &["Managed", "Viewed"]).await;
    let (managed, viewed) = (orgs[0].as_str(), orgs[1].as_str());
    app.store
        .upsert_membership(&Membership {
            organization_id: viewed.to_owned(),
            user_id: user_id.clone(),
            role: Role::Viewer,
        })
        .await
        .unwrap();
    let list = keys_page(&b).await;
    assert!(list.body.contains("Viewed (VIEWER)"), "{}", list.body);

    // A VIEWER gives read permissions only.
    let res = create(&b, viewed, "writer", &["products:read", "products:write"]).await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("As a VIEWER of Viewed"), "{}", res.body);
    assert!(stored(&app, &user_id).await.is_empty());
    let res = create(&b, viewed, "reader", &["products:read"]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    // A MANAGER may give write permissions.
    let res = create(&b, managed, "writer", &["products:read", "products:write"]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let key = shown_key(&res);
    assert_eq!(
        app.introspect(&key).await["scope"],
        "products:read products:write"
    );

    // Demoted to VIEWER, the person may disable the write key but not enable it again.
    let writer = stored(&app, &user_id)
        .await
        .into_iter()
        .find(|k| k.name == "writer")
        .unwrap();
    let res = submit(
        &b,
        "/account/api-keys/disable",
        &[("key", writer.id.as_str())],
    )
    .await;
    assert_eq!(res.status, 303);
    app.store
        .upsert_membership(&Membership {
            organization_id: managed.to_owned(),
            user_id: user_id.clone(),
            role: Role::Viewer,
        })
        .await
        .unwrap();
    let res = submit(
        &b,
        "/account/api-keys/enable",
        &[("key", writer.id.as_str())],
    )
    .await;
    assert_eq!(res.status, 403, "{}", res.body);
    assert_eq!(
        app.store
            .get_api_key(&writer.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ApiKeyStatus::Disabled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_without_an_organization_cannot_create_a_key() {
    let app = spawn().await;
    let (b, user_id, _) = signed_in(&app, "solo@example.com", &[]).await;
    let list = keys_page(&b).await;
    assert!(
        list.body.contains("you belong to none yet"),
        "{}",
        list.body
    );
    assert!(!list.body.contains("id=\"create-key\""));
    let res = create(&b, "org_any", "x", &["products:read"]).await;
    assert_eq!(res.status, 400);
    assert!(stored(&app, &user_id).await.is_empty());
}
