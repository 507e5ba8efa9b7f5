//! The resource-owner password grant (RFC 6749 §4.3): only for clients allowed it,
//! one generic answer for wrong credentials, the organization rule, throttling under the
//! `login` rate-limit policy, and tokens that behave like any user's grant.

use castellan_core::user::Role;
use castellan_limit::{PolicyConfig, Window};
use castellan_testkit::people::*;
use castellan_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

async fn password_client(app: &TestApp) -> Cred {
    code_client(
        app,
        json!({"name": "First-party CLI", "grantTypes": ["password", "refresh_token"]}),
    )
    .await
}

async fn login(
    app: &TestApp,
    c: &Cred,
    username: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
    ];
    form.extend_from_slice(extra);
    token(app, c, &form).await
}

#[tokio::test]
async fn an_allowed_client_gets_a_users_tokens() {
    let app = TestApp::spawn().await;
    let c = password_client(&app).await;
    let u = user(&app, "ann@example.com", Some(PASSWORD)).await;
    let o = org(&app, "Acme").await;
    member(&app, &o, &u.id, Role::Owner).await;

    // The email is normalised before lookup.
    let (s, b) = login(
        &app,
        &c,
        " Ann@Example.COM ",
        PASSWORD,
        &[("scope", "openid offline_access products:read")],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user_id"], u.id.as_str());
    assert_eq!(b["organization_id"], o.as_str());
    assert_eq!(b["scope"], "openid offline_access products:read");
    let at = b["access_token"].as_str().unwrap();
    assert_eq!(claims(at)["sub"], u.id.as_str());
    assert!(claims(at)["gid"].is_string());
    assert!(is_active(&app, at).await);
    let (_, id) = verify_id_token(&app, b["id_token"].as_str().unwrap()).await;
    assert_eq!(id["sub"], u.id.as_str());

    // Its refresh token rotates like any other, and the grant is a connected app.
    let (s, r) = refresh(&app, &c, b["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let consents = app.store.consents_of_user(&u.id).await.unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0].client_id, c.id);
}

#[tokio::test]
async fn clients_not_allowed_the_grant_are_refused() {
    let app = TestApp::spawn().await;
    let c = code_client(&app, json!({})).await;
    user(&app, "ann@example.com", Some(PASSWORD)).await;
    let (s, b) = login(&app, &c, "ann@example.com", PASSWORD, &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "unauthorized_client");
}

#[tokio::test]
async fn wrong_credentials_get_one_generic_answer() {
    let app = TestApp::spawn().await;
    let c = password_client(&app).await;
    user(&app, "ann@example.com", Some(PASSWORD)).await;
    let (s1, wrong_password) = login(&app, &c, "ann@example.com", "not the password", &[]).await;
    let (s2, unknown_user) = login(&app, &c, "bob@example.com", PASSWORD, &[]).await;
    let (s3, not_an_email) = login(&app, &c, "bob", PASSWORD, &[]).await;
    for (s, b) in [
        (s1, &wrong_password),
        (s2, &unknown_user),
        (s3, &not_an_email),
    ] {
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["error"], "invalid_grant");
    }
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(unknown_user, not_an_email);
    assert!(!wrong_password.to_string().contains("not the password"));

    let (s, b) = token(
        &app,
        &c,
        &[("grant_type", "password"), ("username", "a@b.c")],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn the_organization_is_the_only_one_or_the_one_named() {
    let app = TestApp::spawn().await;
    let c = password_client(&app).await;
    let u = user(&app, "ann@example.com", Some(PASSWORD)).await;
    let acme = org(&app, "Acme").await;
    let globex = org(&app, "Globex").await;
    let other = org(&app, "Not hers").await;
    member(&app, &acme, &u.id, Role::Viewer).await;
    member(&app, &globex, &u.id, Role::Manager).await;

    let (s, b) = login(&app, &c, "ann@example.com", PASSWORD, &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_grant");
    assert!(b["error_description"]
        .as_str()
        .unwrap()
        .contains("organization_id"));

    let (s, b) = login(
        &app,
        &c,
        "ann@example.com",
        PASSWORD,
        &[("organization_id", &globex)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["organization_id"], globex.as_str());
    assert_eq!(
        claims(b["access_token"].as_str().unwrap())["org"],
        globex.as_str()
    );

    let (s, b) = login(
        &app,
        &c,
        "ann@example.com",
        PASSWORD,
        &[("organization_id", &other)],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_grant");
}

#[tokio::test]
async fn attempts_are_throttled_under_the_login_policy() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit.policies.insert(
            "login".to_owned(),
            PolicyConfig {
                windows: vec![Window::new(3, 3600)],
            },
        );
    })
    .await;
    let c = password_client(&app).await;
    user(&app, "ann@example.com", Some(PASSWORD)).await;
    for _ in 0..3 {
        let (s, b) = login(&app, &c, "ann@example.com", "guess", &[]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    }
    // Past the limit even the right password is refused.
    let (s, b) = login(&app, &c, "ann@example.com", PASSWORD, &[]).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_passwords_never_get_past_the_free_attempts() {
    let app = TestApp::spawn().await;
    let c = std::sync::Arc::new(password_client(&app).await);
    user(&app, "bea@example.com", Some(PASSWORD)).await;
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (app, c) = (std::sync::Arc::clone(&app), std::sync::Arc::clone(&c));
        tasks.spawn(
            async move { login(&app, &c, "bea@example.com", &format!("guess {i}"), &[]).await },
        );
    }
    let (mut checked, mut delayed) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (s, b) = r.unwrap();
        match s {
            StatusCode::BAD_REQUEST => {
                assert_eq!(b["error"], "invalid_grant");
                checked += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(b["retry_after"].as_u64().unwrap() >= 1, "{b}");
                delayed += 1;
            }
            s => panic!("answered {s}: {b}"),
        }
    }
    assert_eq!((checked, delayed), (5, 11));
}

#[tokio::test]
async fn the_password_grant_and_the_login_page_share_the_delays() {
    // Time stands still, so the first delay cannot run out while the test works.
    let clock = std::sync::Arc::new(castellan_testkit::ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(|_| {}, clock).await;
    let c = password_client(&app).await;
    user(&app, "cal@example.com", Some(PASSWORD)).await;
    for _ in 0..5 {
        let (s, b) = login(&app, &c, "cal@example.com", "guess", &[]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    }
    // The grant is delayed now, with the right password too …
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("client_id", c.id.as_str()),
            ("client_secret", c.secret.as_str()),
            ("grant_type", "password"),
            ("username", "cal@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.headers()["cache-control"], "no-store");
    // … and so is the login page, from the same address.
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = http.get(app.url("/login")).send().await.unwrap();
    let body = page.text().await.unwrap();
    let needle = "name=\"csrf\" value=\"";
    let start = body.find(needle).unwrap() + needle.len();
    let csrf = &body[start..start + 43];
    let res = http
        .post(app.url("/login"))
        .header("origin", app.base.as_str())
        .form(&[
            ("csrf", csrf),
            ("email", "cal@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_persons_token_never_carries_introspect() {
    let app = TestApp::spawn().await;
    // A client allowed `introspect` (a resource server that also signs people in).
    let c = code_client(
        &app,
        json!({
            "name": "Resource server CLI",
            "scope": "openid products:read introspect",
            "grantTypes": ["password", "client_credentials"],
        }),
    )
    .await;
    let u = user(&app, "ann@example.com", Some(PASSWORD)).await;

    // Asked for: refused, nothing minted.
    let (s, b) = login(
        &app,
        &c,
        "ann@example.com",
        PASSWORD,
        &[("scope", "introspect")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_scope", "{b}");
    let (s, b) = login(
        &app,
        &c,
        "ann@example.com",
        PASSWORD,
        &[("scope", "openid introspect")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

    // The client's default scopes leave it out for a person.
    let (s, b) = login(&app, &c, "ann@example.com", PASSWORD, &[]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user_id"], u.id.as_str());
    assert_eq!(b["scope"], "openid products:read", "{b}");
    let at = b["access_token"].as_str().unwrap();
    assert!(!claims(at)["scope"]
        .as_str()
        .unwrap()
        .split(' ')
        .any(|s| s == "introspect"));

    // The client acting for itself keeps it.
    let (s, b) = token(
        &app,
        &c,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "introspect"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["scope"], "introspect");
}

/// A client allowed administrative scopes does not pass them on to a person
/// who is not an administrator, asked for or by default, nor through a refresh; the token does
/// not open the management API.
#[tokio::test]
async fn a_person_without_the_admin_flag_never_gets_an_administrative_scope() {
    let app = TestApp::spawn().await;
    let c = code_client(
        &app,
        json!({
            "name": "Console",
            "grantTypes": ["password", "refresh_token"],
            "scope": "offline_access products:read manage_api_keys view_api_keys manage_api_clients",
        }),
    )
    .await;
    let u = user(&app, "viewer@example.com", Some(PASSWORD)).await;
    let o = org(&app, "Acme").await;
    member(&app, &o, &u.id, Role::Viewer).await;

    for asked in [
        Some("offline_access products:read manage_api_keys view_api_keys manage_api_clients"),
        None,
    ] {
        let extra: Vec<(&str, &str)> = asked.map(|s| ("scope", s)).into_iter().collect();
        let (s, b) = login(&app, &c, "viewer@example.com", PASSWORD, &extra).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["scope"], "offline_access products:read", "{asked:?}");
        let at = b["access_token"].as_str().unwrap();
        assert_eq!(claims(at)["scope"], "offline_access products:read");
        let res = app
            .http
            .get(app.url("/api-keys"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = app
            .http
            .get(app.url("/api-clients"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        let (s, r) = refresh(&app, &c, b["refresh_token"].as_str().unwrap(), None).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["scope"], "offline_access products:read");
    }
}
