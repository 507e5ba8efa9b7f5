//! The UserInfo endpoint (OpenID Connect Core §5.3): claims per scope, and the RFC
//! 6750 answers when the token is missing, invalid, not a user's or lacks `openid`.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_testkit::people::*;
use castellan_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn access_token(app: &TestApp, g: &Grant, scope: &str) -> String {
    let (code, _) = issue_code(app, &g.spec(scope)).await;
    let (s, b) = exchange(app, &g.client, &code).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn userinfo_answers_the_claims_the_scopes_allow() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let t = access_token(&app, &g, "openid email profile").await;
    let res = app
        .http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let b: Value = res.json().await.unwrap();
    assert_eq!(
        b,
        json!({"sub": g.user.id, "email": g.user.email, "email_verified": false, "name": g.user.name})
    );

    // POST works too; only `openid`: only `sub`.
    let t = access_token(&app, &g, "openid").await;
    let res = app
        .http
        .post(app.url("/oauth/userinfo"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"sub": g.user.id})
    );
}

#[tokio::test]
async fn userinfo_refusals_carry_www_authenticate() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;

    let res = app
        .http
        .get(app.url("/oauth/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));

    let res = app
        .http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth("garbage.token.here")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    // A client's own token has no user behind it.
    let admin = app.admin_token().await;
    let res = app
        .http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A user's token without openid.
    let t = access_token(&app, &g, "products:read").await;
    let res = app
        .http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
}

/// A person's token minted for another API is not accepted by Castellan's own userinfo.
#[tokio::test]
async fn userinfo_refuses_a_token_for_another_audience() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let mut spec = g.spec("openid email");
    spec.resource = Some("https://third-party.example".into());
    let (code, _) = issue_code(&app, &spec).await;
    let (s, b) = exchange(&app, &g.client, &code).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let t = b["access_token"].as_str().unwrap();
    assert_eq!(claims(t)["aud"], "https://third-party.example");
    let res = app
        .http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(www.contains("error=\"invalid_token\""), "{www}");
}
