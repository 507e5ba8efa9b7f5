//! A person's signed-in sessions: the page lists each browser (device, address, time, which is
//! this one), signs out one or every other, refuses a forged form or another person's session;
//! changing the password from the account area ends every other session and keeps this one;
//! the JSON API lists and ends sessions with a person's token, never another person's.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::pages::*;
use castellan_store::api_keys::ApiKeyStatus;
use castellan_store::people::Session;
use castellan_testkit::people::{
    code_client, exchange as redeem, issue_code, refresh, setup, CodeSpec, Cred,
};
use castellan_testkit::TestApp;
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::Value;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
const NEW_PASSWORD: &str = "a much longer new secret";
const NEWER_PASSWORD: &str = "and yet another one";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// A browser sending `user_agent`, signed in as `email` from the login page.
async fn signed_in(app: &TestApp, email: &str, password: &str, user_agent: &str) -> Browser {
    let b = Browser {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(user_agent)
            .build()
            .unwrap(),
        base: app.base.clone(),
    };
    let login = b.get("/login").await;
    let account = sign_in(&b, &login, email, password).await;
    assert_eq!(account.status, 200, "{}", account.body);
    b
}

/// The sessions ids listed on a sessions page, in order.
fn listed(page: &Page) -> Vec<String> {
    page.body
        .match_indices("<tr id=\"session-")
        .map(|(i, m)| {
            let rest = &page.body[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// The id of the row marked "this browser".
fn current(page: &Page) -> String {
    let i = page.body.find("class=\"current\"").unwrap();
    let row = &page.body[..i];
    let start = row.rfind("<tr id=\"session-").unwrap() + "<tr id=\"session-".len();
    row[start..start + row[start..].find('"').unwrap()].to_owned()
}

async fn live_ids(app: &TestApp, user_id: &str) -> Vec<String> {
    app.store
        .list_sessions(user_id, Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

#[tokio::test]
async fn a_person_sees_their_sessions_and_signs_out_one_or_every_other() {
    let app = TestApp::spawn().await;
    let (ann, _) = add_person(&app, "ann@example.com", &["Acme"]).await;
    let (bob, _) = add_person(&app, "bob@example.com", &["Beta"]).await;
    let laptop = signed_in(&app, "ann@example.com", PASSWORD, FIREFOX).await;
    let desktop = signed_in(&app, "ann@example.com", PASSWORD, CHROME).await;
    let phone = signed_in(&app, "ann@example.com", PASSWORD, "curl/8.0").await;
    let bobs = signed_in(&app, "bob@example.com", PASSWORD, FIREFOX).await;

    // The account page links to it; the page lists Ann's three sessions, newest first.
    assert!(laptop
        .get("/account")
        .await
        .body
        .contains("href=\"/account/sessions\""));
    let page = laptop.get("/account/sessions").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.headers["cache-control"].to_str().unwrap(), "no-store");
    let stored = app.store.list_sessions(&ann, Utc::now()).await.unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(listed(&page).len(), 3);
    for s in &stored {
        assert!(listed(&page).contains(&s.id));
        assert_eq!(s.address, "127.0.0.1");
    }
    let device_of = |ua_hint: &str| {
        stored
            .iter()
            .find(|s| s.device.contains(ua_hint))
            .unwrap_or_else(|| panic!("no {ua_hint} in {stored:?}"))
            .clone()
    };
    let firefox = device_of("Firefox 120 on Linux");
    let chrome = device_of("Chrome 120 on Windows 10");
    assert!(page.body.contains("Firefox 120 on Linux"), "{}", page.body);
    assert!(page.body.contains("127.0.0.1"));
    assert_eq!(current(&page), firefox.id);
    // No cookie hash and no other person's session is shown.
    assert!(!page.body.contains(&hex(&firefox.hash)));
    let bob_sessions = live_ids(&app, &bob).await;
    assert!(!page.body.contains(&bob_sessions[0]));

    // A form without the CSRF token, or posted from another site, ends nothing.
    let forged = laptop
        .post("/account/sessions/end", &[("session", &chrome.id)])
        .await;
    assert_eq!(forged.status, 403);
    let cross_site = laptop
        .http
        .post(app.url("/account/sessions/end-others"))
        .header("origin", "https://evil.example")
        .form(&[("csrf", page.hidden("csrf").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert_eq!(live_ids(&app, &ann).await.len(), 3);

    // Another person's session id, or garbage, is not Ann's to end.
    let csrf = page.hidden("csrf");
    for id in [bob_sessions[0].as_str(), "ses_nope", "<script>", ""] {
        let p = laptop
            .post("/account/sessions/end", &[("csrf", &csrf), ("session", id)])
            .await;
        assert_eq!(p.status, 404, "{id}: {}", p.body);
    }
    assert_eq!(live_ids(&app, &bob).await, bob_sessions);
    assert_eq!(bobs.get("/account").await.status, 200);

    // Signing out the desktop ends it there and only there.
    let done = laptop
        .post(
            "/account/sessions/end",
            &[("csrf", &csrf), ("session", &chrome.id)],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location.as_deref(), Some("/account/sessions?done=one"));
    let page = laptop.get(done.location.as_deref().unwrap()).await;
    assert!(page.body.contains("That session was signed out."));
    assert_eq!(listed(&page).len(), 2);
    assert!(!listed(&page).contains(&chrome.id));
    let gone = desktop.get("/account").await;
    assert_eq!(gone.location.as_deref(), Some("/login"));
    assert_eq!(phone.get("/account").await.status, 200);

    // Every other session: the phone is signed out, the laptop stays, Bob is untouched.
    let done = laptop
        .post("/account/sessions/end-others", &[("csrf", &csrf)])
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(
        live_ids(&app, &ann).await,
        std::slice::from_ref(&firefox.id)
    );
    assert_eq!(
        phone.get("/account").await.location.as_deref(),
        Some("/login")
    );
    assert_eq!(laptop.get("/account").await.status, 200);
    assert_eq!(live_ids(&app, &bob).await, bob_sessions);

    // Signing out this browser's own row is a sign-out.
    let done = laptop
        .post(
            "/account/sessions/end",
            &[("csrf", &csrf), ("session", &firefox.id)],
        )
        .await;
    assert_eq!(done.location.as_deref(), Some("/login"));
    assert!(done
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("castellan_session=;")));
    assert!(live_ids(&app, &ann).await.is_empty());
    assert_eq!(
        laptop.get("/account/sessions").await.location.as_deref(),
        Some("/login")
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn changing_the_password_ends_every_session_and_on_request_every_grant() {
    let app = TestApp::spawn().await;
    let (ann, orgs) = add_person(&app, "ann@example.com", &["Acme"]).await;
    let here = signed_in(&app, "ann@example.com", PASSWORD, FIREFOX).await;
    let elsewhere = signed_in(&app, "ann@example.com", PASSWORD, CHROME).await;
    let hash_before = app
        .store
        .get_user(&ann)
        .await
        .unwrap()
        .unwrap()
        .password_hash;

    let form = here.get("/account/password").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.hidden("csrf");
    let change = |current: &'static str, new: &'static str, confirm: &'static str| {
        let csrf = csrf.clone();
        let here = &here;
        async move {
            here.post(
                "/account/password",
                &[
                    ("csrf", &csrf),
                    ("current", current),
                    ("new", new),
                    ("confirm", confirm),
                ],
            )
            .await
        }
    };

    // Refused: a wrong current password, two different new ones, a short one, no CSRF token.
    let p = change("wrong password", NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains("Your current password is wrong."),
        "{}",
        p.body
    );
    let p = change(PASSWORD, NEW_PASSWORD, "something else entirely").await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains("The two new passwords differ"),
        "{}",
        p.body
    );
    let p = change(PASSWORD, "short", "short").await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("8 to 1024 characters"), "{}", p.body);
    let p = here
        .post(
            "/account/password",
            &[
                ("current", PASSWORD),
                ("new", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(
        app.store
            .get_user(&ann)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        hash_before
    );
    assert_eq!(live_ids(&app, &ann).await.len(), 2);

    // Ann's grants: a refresh token of an app she allowed, and an API key she created.
    let (rt, client, key_id) = grants_of(&app, &ann, &orgs[0]).await;
    let session_before = live_ids(&app, &ann).await;

    // Changed without ending grants (the box unticked): every session ends, this browser
    // gets a new one; the app's grant and the key stay.
    let p = change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/account/password?changed=1"));
    let p = here.get(p.location.as_deref().unwrap()).await;
    assert!(p.body.contains("Your password was changed"), "{}", p.body);
    let after = live_ids(&app, &ann).await;
    assert_eq!(after.len(), 1);
    assert!(
        !session_before.contains(&after[0]),
        "the session was not renewed"
    );
    let (s, _) = refresh(&app, &client, &rt, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(key_status(&app, &key_id).await, ApiKeyStatus::Active);
    let stored = app
        .store
        .get_user(&ann)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert_ne!(stored, hash_before);
    assert!(stored.starts_with("$argon2id$"));
    assert_eq!(live_ids(&app, &ann).await.len(), 1);
    assert_eq!(here.get("/account").await.status, 200);
    assert_eq!(
        elsewhere.get("/account").await.location.as_deref(),
        Some("/login")
    );

    // Changed again with the box ticked (the form's default): the app's grant and the key end.
    let (rt, client, key_id) = grants_of(&app, &ann, &orgs[0]).await;
    let csrf = here.get("/account/password").await.hidden("csrf");
    let p = here
        .post(
            "/account/password",
            &[
                ("csrf", csrf.as_str()),
                ("current", NEW_PASSWORD),
                ("new", NEWER_PASSWORD),
                ("confirm", NEWER_PASSWORD),
                ("end_grants", "1"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (s, b) = refresh(&app, &client, &rt, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(key_status(&app, &key_id).await, ApiKeyStatus::Disabled);
    assert_eq!(here.get("/account").await.status, 200);
    let (events, _) = app
        .store
        .list_audit_events(
            &castellan_store::audit::AuditQuery {
                kinds: vec!["person.password_changed".into()],
                ..Default::default()
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(events[0].detail.contains("grant"), "{:?}", events[0]);
    // A wrong current password there is a failed sign-in in the audit log.
    let (failed, _) = app
        .store
        .list_audit_events(
            &castellan_store::audit::AuditQuery {
                kinds: vec!["sign_in.failed".into()],
                ..Default::default()
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert!(failed
        .iter()
        .any(|e| e.detail == "password page: wrong password"));

    // The old password no longer signs in; the new one does.
    let b = Browser::new(&app);
    let login = b.get("/login").await;
    let p = b
        .post(
            "/login",
            &[
                ("csrf", &login.hidden("csrf")),
                ("request", ""),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, 401);
    signed_in(&app, "ann@example.com", NEWER_PASSWORD, FIREFOX).await;

    // Signed out, the page sends the browser to sign in and changes nothing.
    let stranger = Browser::new(&app);
    assert_eq!(
        stranger.get("/account/password").await.location.as_deref(),
        Some("/login")
    );
}

/// A refresh token of an app `user_id` allowed in `org` (with that app), and an API key
/// they created there.
async fn grants_of(app: &TestApp, user_id: &str, org: &str) -> (String, Cred, String) {
    let user = app.store.get_user(user_id).await.unwrap().unwrap();
    let client = code_client(app, serde_json::json!({})).await;
    let spec = CodeSpec::new(&client, &user, Some(org), "offline_access");
    let (code, _) = issue_code(app, &spec).await;
    let (s, tokens) = redeem(app, &client, &code).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    let held = castellan_core::ScopeSet::parse("products:read").unwrap();
    let key = castellan_server::management::api_keys::create_api_key(
        &app.state,
        castellan_server::management::api_keys::KeyDraft {
            name: "job".into(),
            scope: "products:read".into(),
            organization_id: Some(org.to_owned()),
            tier: None,
            expires_at: None,
            expires_in_days: None,
        },
        &castellan_server::management::api_keys::Creator {
            id: user_id,
            held: &held,
            allowed: &[],
        },
        Utc::now(),
        &castellan_server::audit::Caller::person(user_id, None),
    )
    .await
    .unwrap();
    (
        tokens["refresh_token"].as_str().unwrap().to_owned(),
        client,
        key.stored.id,
    )
}

async fn key_status(app: &TestApp, id: &str) -> ApiKeyStatus {
    app.store.get_api_key(id).await.unwrap().unwrap().status
}

async fn session_for(app: &TestApp, n: u8, user_id: &str) -> Session {
    let s = Session {
        hash: [n; 32],
        id: format!("ses_test{n}"),
        user_id: user_id.to_owned(),
        auth_time: Utc::now() - Duration::minutes(i64::from(n)),
        amr: castellan_core::authn::Amr::PASSWORD,
        expires_at: Utc::now() + Duration::hours(1),
        device: "Safari 17 on Mac OSX".to_owned(),
        address: format!("198.51.100.{n}"),
    };
    app.store.insert_session(&s).await.unwrap();
    s
}

async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> (StatusCode, Value) {
    let res = app
        .http
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_sessions_api_lists_and_ends_a_persons_own_sessions_only() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let other = setup(&app).await;
    let mine = [
        session_for(&app, 1, &g.user.id).await,
        session_for(&app, 2, &g.user.id).await,
    ];
    let theirs = session_for(&app, 3, &other.user.id).await;
    let token = |scope: &'static str| {
        let app = &app;
        let g = &g;
        async move {
            let spec = CodeSpec::new(&g.client, &g.user, Some(&g.org), scope);
            let (code, _) = issue_code(app, &spec).await;
            let (s, b) = redeem(app, &g.client, &code).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            b["access_token"].as_str().unwrap().to_owned()
        }
    };
    let reader = token("account:read").await;
    let writer = token("account:write").await;
    let neither = token("openid").await;

    let (s, b) = api(&app, reqwest::Method::GET, "/account/sessions", &reader).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["count"], 2);
    assert_eq!(b["results"][0]["id"], mine[0].id.as_str());
    assert_eq!(b["results"][0]["device"], "Safari 17 on Mac OSX");
    assert_eq!(b["results"][0]["address"], "198.51.100.1");
    assert!(b["results"][0]["signed_in_at"]
        .as_str()
        .unwrap()
        .contains('T'));
    assert!(!b.to_string().contains(&theirs.id));
    assert!(!b.to_string().contains("hash"));

    // A token without an account scope, a client's token, and a reader may not end one.
    let (s, _) = api(&app, reqwest::Method::GET, "/account/sessions", &neither).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let admin = app.admin_token().await;
    let (s, _) = api(&app, reqwest::Method::GET, "/account/sessions", &admin).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let path = format!("/account/sessions/{}", mine[1].id);
    let (s, _) = api(&app, reqwest::Method::DELETE, &path, &reader).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api(&app, reqwest::Method::DELETE, &path, &admin).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Another person's session is not found, and stays.
    let (s, b) = api(
        &app,
        reqwest::Method::DELETE,
        &format!("/account/sessions/{}", theirs.id),
        &writer,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_eq!(
        live_ids(&app, &other.user.id).await,
        std::slice::from_ref(&theirs.id)
    );
    for garbage in ["x", "ses_", "ses_%00", &"ses_a".repeat(40)] {
        let (s, _) = api(
            &app,
            reqwest::Method::DELETE,
            &format!("/account/sessions/{garbage}"),
            &writer,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{garbage}");
    }

    let (s, _) = api(&app, reqwest::Method::DELETE, &path, &writer).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(live_ids(&app, &g.user.id).await, [mine[0].id.clone()]);
    let (s, _) = api(&app, reqwest::Method::DELETE, &path, &writer).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
