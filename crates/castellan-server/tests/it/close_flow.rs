//! A confidential client sends the person to the consent screen with only
//! `client_id` and `response_type=code`; the person picks an organization and grants or
//! declines; the code is exchanged with `client_id` + `client_secret` in a form body; the answer
//! names `organization_id` and `user_id`; refresh tokens rotate; revocation ends them.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::pages::*;
use castellan_testkit::TestApp;
use serde_json::{json, Value};

const CLOSE_CALLBACK: &str = "https://example.com/callback/close";

async fn form_post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = app
        .http
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn consent_with_organization_choice_then_code_refresh_and_revoke() {
    let app = TestApp::spawn().await;
    let (client_id, secret) = confidential_client(&app, &[CLOSE_CALLBACK]).await;
    let (user_id, orgs) =
        add_person(&app, "nia@example.com", &["Close North", "Close South"]).await;
    let b = Browser::new(&app);

    // A URL with client_id and response_type only (the one redirect URI and the
    // client's default scope apply; PKCE is optional for a confidential client).
    let login = b
        .get(
            &format!("/oauth/authorize/?client_id={client_id}&response_type=code")
                .replace("/?", "?"),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = sign_in(&b, &login, "nia@example.com", PASSWORD).await;
    assert!(consent.body.contains("Close integration"));
    assert_eq!(consent.radios("organization").len(), 2);
    let back = decide(&b, &consent, "approve", Some(&orgs[0])).await;
    assert_eq!(back.status, 302);
    let location = back.location.clone().unwrap();
    assert!(
        location.starts_with(&format!("{CLOSE_CALLBACK}?code=")),
        "{location}"
    );
    let code = back.param("code").unwrap();

    let (status, body) = form_post(
        &app,
        "/oauth/token",
        &[
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("grant_type", "authorization_code"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["organization_id"], json!(orgs[0]));
    assert_eq!(body["user_id"], json!(user_id));
    assert!(body["scope"].as_str().unwrap().contains("offline_access"));
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    // Refresh: a new refresh token; the old one is revoked (reuse is invalid_grant).
    let (status, rotated) = form_post(
        &app,
        "/oauth/token",
        &[
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["organization_id"], json!(orgs[0]));
    assert_eq!(rotated["user_id"], json!(user_id));
    let new_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, refresh);

    // Revoke application access (client credentials in the form body).
    let (status, _) = form_post(
        &app,
        "/oauth/revoke",
        &[
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("token", &new_refresh),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, dead) = form_post(
        &app,
        "/oauth/token",
        &[
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("grant_type", "refresh_token"),
            ("refresh_token", &new_refresh),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(dead["error"], "invalid_grant");
}

#[tokio::test]
async fn declining_redirects_with_access_denied() {
    let app = TestApp::spawn().await;
    let (client_id, _) = confidential_client(&app, &[CLOSE_CALLBACK]).await;
    add_person(&app, "oz@example.com", &["Close North", "Close South"]).await;
    let b = Browser::new(&app);
    let login = b
        .get(&format!(
            "/oauth/authorize?client_id={client_id}&response_type=code"
        ))
        .await;
    let consent = sign_in(&b, &login, "oz@example.com", PASSWORD).await;
    let back = decide(&b, &consent, "deny", None).await;
    assert_eq!(back.status, 302);
    assert!(back
        .location
        .as_deref()
        .unwrap()
        .starts_with(&format!("{CLOSE_CALLBACK}?error=access_denied")));
    assert!(back.param("code").is_none());
}
