//! The connected-apps API: a user lists the apps they consented to and revokes
//! one; revoking ends its refresh tokens and the access tokens issued from them.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_testkit::people::*;
use castellan_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn tokens(app: &TestApp, client: &Cred, g: &Grant, scope: &str) -> Value {
    let spec = CodeSpec::new(client, &g.user, Some(&g.org), scope);
    let (code, _) = issue_code(app, &spec).await;
    let (s, b) = exchange(app, client, &code).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn list(app: &TestApp, bearer: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .get(app.url("/account/connected-apps"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn delete(app: &TestApp, bearer: &str, id: &str) -> StatusCode {
    app.http
        .delete(app.url(&format!("/account/connected-apps/{id}")))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_user_lists_and_revokes_connected_apps() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let partner = code_client(&app, json!({"name": "Partner"})).await;
    let partner_tokens = tokens(&app, &partner, &g, "offline_access products:read").await;
    // The user's own dashboard app holds the account scopes.
    let mine = tokens(&app, &g.client, &g, "account:read account:write").await;
    let me = mine["access_token"].as_str().unwrap();

    let (s, b) = list(&app, me).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["count"], 2);
    let apps = b["results"].as_array().unwrap();
    let partner_app = apps
        .iter()
        .find(|a| a["client_id"] == partner.id.as_str())
        .unwrap();
    assert_eq!(partner_app["client_name"], "Partner");
    assert_eq!(partner_app["scope"], "offline_access products:read");
    assert_eq!(partner_app["organization_id"], g.org.as_str());
    assert_eq!(partner_app["organization_name"], "Acme");
    let consent_id = partner_app["id"].as_str().unwrap();

    let partner_at = partner_tokens["access_token"].as_str().unwrap();
    assert!(is_active(&app, partner_at).await);
    assert_eq!(delete(&app, me, consent_id).await, StatusCode::NO_CONTENT);
    assert!(!is_active(&app, partner_at).await);
    let (s, b) = refresh(
        &app,
        &partner,
        partner_tokens["refresh_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(delete(&app, me, consent_id).await, StatusCode::NOT_FOUND);

    let (_, b) = list(&app, me).await;
    assert_eq!(b["count"], 1);
    // The user's own token is untouched.
    assert!(is_active(&app, me).await);
}

#[tokio::test]
async fn the_api_needs_a_users_token_with_the_account_scopes() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let read_only = tokens(&app, &g.client, &g, "account:read").await;
    let read_only = read_only["access_token"].as_str().unwrap();
    let (s, _) = list(&app, read_only).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        delete(&app, read_only, "anything").await,
        StatusCode::FORBIDDEN
    );

    let none = tokens(&app, &g.client, &g, "products:read").await;
    let (s, _) = list(&app, none["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let admin = app.admin_token().await;
    let (s, _) = list(&app, &admin).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = list(&app, "not-a-token").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Another user's consent is not found.
    let other = user(&app, "other@example.com", None).await;
    member(&app, &g.org, &other.id, castellan_core::user::Role::Viewer).await;
    let theirs = Grant {
        client: g.client.clone(),
        user: other,
        org: g.org.clone(),
    };
    tokens(&app, &g.client, &theirs, "products:read").await;
    let their_consent = app.store.consents_of_user(&theirs.user.id).await.unwrap()[0]
        .id
        .clone();
    let writer = tokens(&app, &g.client, &g, "account:write").await;
    assert_eq!(
        delete(
            &app,
            writer["access_token"].as_str().unwrap(),
            &their_consent
        )
        .await,
        StatusCode::NOT_FOUND
    );
}
