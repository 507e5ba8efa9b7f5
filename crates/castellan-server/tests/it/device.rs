//! Device authorization (RFC 8628) over HTTP: a device asks for codes, polls; a person signs
//! in on the device page, types the code, sees the client, the scopes and the warning, and
//! allows or denies; the device then gets the person's tokens once, or `access_denied`.
//! Polling too often is `slow_down`; a code past its life is `expired_token`; code typing is
//! rate-limited; bad codes of any shape are refused with a clear page.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::pages::{add_person, Browser, Page, PASSWORD};
use castellan_server::platform::config::Config;
use castellan_testkit::oauth::claims;
use castellan_testkit::{ManualClock, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn config(c: &mut Config) {
    c.device.interval_seconds = 1;
    crate::support::browser::product_scopes(c);
}

/// A public client allowed the device grant (and refresh tokens).
async fn device_client(app: &TestApp) -> String {
    let c = app
        .create_client(json!({
            "name": "Castellan CLI",
            "scope": "openid offline_access products:read products:write",
            "clientKind": "public",
            "tokenEndpointAuthMethod": "none",
            "grantTypes": [GRANT, "refresh_token"],
        }))
        .await;
    c["id"].as_str().unwrap().to_owned()
}

async fn start(app: &TestApp, client_id: &str, scope: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", client_id), ("scope", scope)])
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn poll(app: &TestApp, client_id: &str, device_code: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", GRANT),
            ("client_id", client_id),
            ("device_code", device_code),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

fn error(answer: &(StatusCode, Value)) -> String {
    assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{}", answer.1);
    answer.1["error"].as_str().unwrap().to_owned()
}

/// Signs in on the device page (reached with `?user_code=`), types the code, and answers the
/// consent page.
async fn to_consent(app: &TestApp, b: &Browser, email: &str, user_code: &str) -> Page {
    let login = b.get(&format!("/device?user_code={user_code}")).await;
    assert!(login.is_login_form(), "{}", login.body);
    let after = b
        .post(
            "/login",
            &[
                ("csrf", &login.hidden("csrf")),
                ("request", &login.hidden("request")),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(after.status, 303, "{}", after.body);
    let next = after.location.clone().unwrap();
    assert_eq!(next, format!("/device?user_code={user_code}"));
    let form = b.get(&next).await;
    assert_eq!(form.status, 200);
    assert_eq!(form.hidden("user_code"), user_code, "prefilled");
    let _ = app;
    b.post(
        "/device",
        &[
            ("csrf", &form.hidden("csrf")),
            ("user_code", &user_code.to_lowercase()),
        ],
    )
    .await
}

#[tokio::test]
async fn the_metadata_advertises_the_endpoint_and_the_grant() {
    let app = TestApp::spawn().await;
    let doc = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(
        doc["device_authorization_endpoint"],
        app.state.config.endpoint("/oauth/device_authorization")
    );
    assert!(doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!(GRANT)));
}

#[tokio::test]
async fn a_person_allows_a_device_which_gets_their_tokens_once() {
    let app = TestApp::spawn_with(config).await;
    let client_id = device_client(&app).await;
    let (person, orgs) = add_person(&app, "dev@example.com", &["Acme", "Beta"]).await;
    let (status, codes) = start(&app, &client_id, "openid offline_access products:read").await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    let user_code = codes["user_code"].as_str().unwrap().to_owned();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(
        codes["verification_uri"],
        app.state.config.endpoint("/device")
    );
    assert_eq!(
        codes["verification_uri_complete"],
        format!(
            "{}?user_code={user_code}",
            app.state.config.endpoint("/device")
        )
    );
    assert_eq!(codes["expires_in"], 600);
    assert_eq!(codes["interval"], 1);
    let device_code = codes["device_code"].as_str().unwrap().to_owned();
    assert_eq!(
        error(&poll(&app, &client_id, &device_code).await),
        "authorization_pending"
    );

    let b = Browser::new(&app);
    let consent = to_consent(&app, &b, "dev@example.com", &user_code).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("Castellan CLI"));
    assert!(consent.body.contains("id=\"device-warning\""));
    assert!(consent.body.contains(&user_code));
    assert!(consent.body.contains("See your products"));
    let done = decide(&b, &consent, "approve", Some(&orgs[1])).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Your device is connected"));

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, tokens) = poll(&app, &client_id, &device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["user_id"], person.as_str());
    assert_eq!(tokens["organization_id"], orgs[1].as_str());
    assert!(tokens["refresh_token"].is_string());
    assert!(tokens["id_token"].is_string());
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["sub"], person.as_str());
    assert_eq!(access["client_id"], client_id.as_str());
    assert!(access["gid"].is_string());
    // The ID token says when the person signed in, not when the device redeemed.
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert!(
        id["auth_time"].as_i64().unwrap() < access["iat"].as_i64().unwrap(),
        "{id}"
    );
    // Once only.
    assert_eq!(
        error(&poll(&app, &client_id, &device_code).await),
        "invalid_grant"
    );
    // The same code on the page is no longer pending.
    let again = b
        .post(
            "/device",
            &[("csrf", &done_csrf(&b).await), ("user_code", &user_code)],
        )
        .await;
    assert_eq!(again.status, 400);
    assert!(
        again.body.contains("unknown or has expired"),
        "{}",
        again.body
    );
}

/// Answers the device consent page.
async fn decide(b: &Browser, consent: &Page, decision: &str, org: Option<&str>) -> Page {
    let csrf = consent.hidden("csrf");
    let user_code = consent.hidden("user_code");
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("user_code", user_code.as_str()),
        ("decision", decision),
    ];
    if let Some(o) = org {
        form.push(("organization", o));
    }
    b.post("/device/decision", &form).await
}

/// The CSRF token of a fresh device form.
async fn done_csrf(b: &Browser) -> String {
    b.get("/device").await.hidden("csrf")
}

#[tokio::test]
async fn a_denial_polling_too_often_and_an_expired_code_answer_the_rfcs_errors() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(
        |c| {
            c.device.interval_seconds = 5;
            c.device.code_seconds = 60;
        },
        Arc::<ManualClock>::clone(&clock),
    )
    .await;
    let client_id = device_client(&app).await;
    add_person(&app, "den@example.com", &[]).await;
    let (_, codes) = start(&app, &client_id, "products:read").await;
    let device_code = codes["device_code"].as_str().unwrap().to_owned();
    assert_eq!(
        error(&poll(&app, &client_id, &device_code).await),
        "authorization_pending"
    );
    assert_eq!(
        error(&poll(&app, &client_id, &device_code).await),
        "slow_down"
    );
    clock.advance(chrono::Duration::seconds(11));
    assert_eq!(
        error(&poll(&app, &client_id, &device_code).await),
        "authorization_pending"
    );

    let b = Browser::new(&app);
    let consent = to_consent(
        &app,
        &b,
        "den@example.com",
        codes["user_code"].as_str().unwrap(),
    )
    .await;
    let done = decide(&b, &consent, "deny", None).await;
    assert!(done.body.contains("Request denied"), "{}", done.body);
    assert_eq!(
        error(&poll(&app, &client_id, &device_code).await),
        "access_denied"
    );

    let (_, later) = start(&app, &client_id, "products:read").await;
    clock.advance(chrono::Duration::seconds(61));
    let late = later["device_code"].as_str().unwrap();
    assert_eq!(error(&poll(&app, &client_id, late).await), "expired_token");
}

#[tokio::test]
async fn bad_requests_and_bad_codes_change_nothing() {
    let app = TestApp::spawn_with(config).await;
    let client_id = device_client(&app).await;
    // A client not given the grant; an unknown client; an unknown device code; another
    // client's device code; a missing device code.
    let plain = app
        .create_client(
            json!({"name": "web", "scope": "products:read", "clientKind": "public",
            "tokenEndpointAuthMethod": "none", "grantTypes": ["refresh_token"]}),
        )
        .await;
    let (status, body) = start(&app, plain["id"].as_str().unwrap(), "products:read").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unauthorized_client");
    let (status, _) = start(&app, "nobody", "products:read").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, body) = start(&app, &client_id, "admin:everything").await;
    assert_eq!(body["error"], "invalid_scope");
    assert_eq!(
        error(&poll(&app, &client_id, "garbage").await),
        "invalid_grant"
    );
    assert_eq!(
        error(&poll(&app, &client_id, &"x".repeat(5000)).await),
        "invalid_grant"
    );
    let other = device_client(&app).await;
    let (_, codes) = start(&app, &client_id, "products:read").await;
    let device_code = codes["device_code"].as_str().unwrap();
    assert_eq!(
        error(&poll(&app, &other, device_code).await),
        "invalid_grant"
    );
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[("grant_type", GRANT), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // The page: codes of every shape, then the rate limit on typing them.
    add_person(&app, "typo@example.com", &[]).await;
    let b = Browser::new(&app);
    let consent = to_consent(
        &app,
        &b,
        "typo@example.com",
        codes["user_code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(consent.status, 200);
    for typed in [
        "",
        "BCDF",
        "AAAA-AAAA",
        "BCDF-GHJ1",
        "<script>",
        &"B".repeat(500),
    ] {
        let page = b
            .post(
                "/device",
                &[("csrf", &done_csrf(&b).await), ("user_code", typed)],
            )
            .await;
        assert_eq!(page.status, 400, "{typed}");
        assert!(page.body.contains("id=\"device-error\""), "{typed}");
        assert!(!page.body.contains("<script>"), "escaped");
    }
    let mut limited = false;
    for _ in 0..30 {
        let page = b
            .post(
                "/device",
                &[("csrf", &done_csrf(&b).await), ("user_code", "BCDF-GHJK")],
            )
            .await;
        if page.status == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "typing codes is rate-limited");
    // Nothing was decided: the device still waits.
    assert_eq!(
        error(&poll(&app, &client_id, device_code).await),
        "authorization_pending"
    );
}

/// The attack the person undoes: they approved a device (say, a phisher's), then revoked it
/// under Connected apps before the device polled. The device gets nothing.
#[tokio::test]
async fn a_device_whose_access_was_revoked_before_it_polled_gets_nothing() {
    let app = TestApp::spawn_with(config).await;
    let client_id = device_client(&app).await;
    let (person, _) = add_person(&app, "rev@example.com", &[]).await;
    let (_, codes) = start(&app, &client_id, "offline_access products:read").await;
    let b = Browser::new(&app);
    let consent = to_consent(
        &app,
        &b,
        "rev@example.com",
        codes["user_code"].as_str().unwrap(),
    )
    .await;
    let done = decide(&b, &consent, "approve", None).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let consents = app.store.consents_of_user(&person).await.unwrap();
    assert_eq!(consents.len(), 1);
    app.store
        .revoke_consent(&person, &consents[0].id, chrono::Utc::now())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let answer = poll(&app, &client_id, codes["device_code"].as_str().unwrap()).await;
    assert_eq!(error(&answer), "access_denied", "{}", answer.1);
    assert!(answer.1.get("access_token").is_none());
}

/// The attack on the organization choice: a person picks an organization they do not belong
/// to. Refused, and nothing is decided: the device still waits.
#[tokio::test]
async fn a_device_cannot_be_approved_for_someone_elses_organization() {
    let app = TestApp::spawn_with(config).await;
    let client_id = device_client(&app).await;
    add_person(&app, "own@example.com", &["Own"]).await;
    let (_, foreign) = add_person(&app, "other@example.com", &["Foreign"]).await;
    let (_, codes) = start(&app, &client_id, "products:read").await;
    let b = Browser::new(&app);
    let consent = to_consent(
        &app,
        &b,
        "own@example.com",
        codes["user_code"].as_str().unwrap(),
    )
    .await;
    let refused = decide(&b, &consent, "approve", Some(&foreign[0])).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let device_code = codes["device_code"].as_str().unwrap();
    assert_eq!(
        error(&poll(&app, &client_id, device_code).await),
        "authorization_pending"
    );
}
