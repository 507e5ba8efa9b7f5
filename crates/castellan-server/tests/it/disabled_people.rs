//! A person an operator disabled (`castellan users disable`, storage's `set_user_disabled`):
//! no sign-in (the login page and the password grant say so only to whoever knows the
//! password), their refresh and access tokens end at once, the userinfo endpoint refuses
//! them; enabled again, they sign in, and the grants that ended stay ended.

use crate::support::pages::{add_person, Browser, PASSWORD};
use castellan_testkit::people::*;
use castellan_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn password_login(
    app: &TestApp,
    c: &Cred,
    email: &str,
    password: &str,
) -> (StatusCode, Value) {
    token(
        app,
        c,
        &[
            ("grant_type", "password"),
            ("username", email),
            ("password", password),
            ("scope", "openid offline_access products:read"),
        ],
    )
    .await
}

#[tokio::test]
async fn a_disabled_person_signs_in_nowhere_and_their_grants_end() {
    // Every check reads storage at once (no cached verdict from before the change).
    let app = TestApp::spawn_with(|c| c.token.check_cache_seconds = 0).await;
    let c = code_client(
        &app,
        json!({"name": "First-party CLI", "grantTypes": ["password", "refresh_token"], "tokenFormat": "opaque"}),
    )
    .await;
    let (id, _) = add_person(&app, "ann@example.com", &["Acme"]).await;
    let (s, first) = password_login(&app, &c, "ann@example.com", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let access = first["access_token"].as_str().unwrap().to_owned();
    let refresh_token = first["refresh_token"].as_str().unwrap().to_owned();
    assert!(is_active(&app, &access).await);

    assert!(app
        .store
        .set_user_disabled(&id, Some(chrono::Utc::now()))
        .await
        .unwrap());

    // Her tokens end at once.
    assert!(!is_active(&app, &access).await);
    let (s, b) = refresh(&app, &c, &refresh_token, None).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{b}"
    );
    let res = app
        .http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // No new grant: the right password is told the account is disabled; a wrong one is not.
    let (s, b) = password_login(&app, &c, "ann@example.com", PASSWORD).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "{b}"
    );
    let (_, wrong) = password_login(&app, &c, "ann@example.com", "not the password").await;
    assert!(!wrong.to_string().contains("disabled"), "{wrong}");

    // Nor on the login page.
    let browser = Browser::new(&app);
    let login = browser.get("/login").await;
    let after = browser
        .post(
            "/login",
            &[
                ("csrf", &login.hidden("csrf")),
                ("request", &login.hidden("request")),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(after.status, 401, "{}", after.body);
    assert!(
        after.body.contains("This account is disabled"),
        "{}",
        after.body
    );

    // Enabled again: she signs in; the grant that ended stays ended.
    assert!(app.store.set_user_disabled(&id, None).await.unwrap());
    let (s, b) = password_login(&app, &c, "ann@example.com", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(!is_active(&app, &access).await);
    let (s, _) = refresh(&app, &c, &refresh_token, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// A disabled person is given no role in an organization through the members API.
#[tokio::test]
async fn a_disabled_person_is_given_no_role() {
    let app = TestApp::spawn().await;
    let (id, orgs) = add_person(&app, "ann@example.com", &["Acme"]).await;
    assert!(app
        .store
        .set_user_disabled(&id, Some(chrono::Utc::now()))
        .await
        .unwrap());
    let res = app
        .http
        .put(app.url(&format!("/organizations/{}/members/{id}", orgs[0])))
        .bearer_auth(app.admin_token().await)
        .json(&json!({"role": "OWNER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let b: Value = res.json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("disabled"), "{b}");
    assert_eq!(
        app.store.role_in(&orgs[0], &id).await.unwrap(),
        Some(castellan_core::user::Role::Manager),
        "nothing changed"
    );
}
