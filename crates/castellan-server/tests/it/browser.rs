//! The pages in a real headless Chromium (the pages must work in a real browser), driven over
//! WebDriver (`fantoccini`) through Debian's `chromedriver`: sign in, pick an organization,
//! approve, and land on the client's redirect URI with a code; then the deny path. A
//! screenshot of the consent page is written to `$CARGO_TARGET_TMPDIR/consent.png`.
//!
//! Runs when `CASTELLAN_TEST_BROWSER=1` (and then fails, never skips, when Chromium or
//! chromedriver is missing); otherwise it says it was not asked to run.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location, and prints what it saw"
)]

use crate::support::browser::{asked_to_run, browser, product_scopes, sign_in, start_driver};
use crate::support::pages::*;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use castellan_testkit::TestApp;
use fantoccini::{Client, Locator};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tiny client: its redirect URI records every query it receives.
async fn callback_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/callback",
            get(
                |State(seen): State<Arc<Mutex<Vec<String>>>>, RawQuery(q): RawQuery| async move {
                    seen.lock().unwrap().push(q.unwrap_or_default());
                    axum::response::Html(
                        "<!doctype html><title>client</title><p>back at the client</p>",
                    )
                },
            ),
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{}/callback", addr.port()), seen)
}

/// Waits until the browser is on a page whose URL starts with `prefix`.
async fn wait_for_url(c: &Client, prefix: &str) -> url::Url {
    for _ in 0..100 {
        let u = c.current_url().await.unwrap();
        if u.as_str().starts_with(prefix) {
            return u;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let u = c.current_url().await.unwrap();
    let src = c.source().await.unwrap_or_default();
    panic!("still on {u}, not {prefix}: {src:.2000}");
}

fn param(u: &url::Url, name: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn sign_in_choose_an_organization_approve_and_deny_in_chromium() {
    if !asked_to_run() {
        return;
    }
    let (_driver, driver_url) = start_driver().await;
    let app = TestApp::spawn_with(product_scopes).await;
    let (redirect, seen) = callback_server().await;
    let client = app
        .create_client(json!({
            "name": "Closient Agent",
            "scope": SCOPES,
            "clientKind": "public",
            "grantTypes": ["authorization_code", "refresh_token"],
            "redirectUris": [redirect],
            "tokenEndpointAuthMethod": "none",
        }))
        .await;
    let client_id = client["id"].as_str().unwrap().to_owned();
    let (_, orgs) = add_person(&app, "mia@example.com", &["Acme Retail", "Beta Foods"]).await;
    let (_, challenge) = pkce();
    let authorize = |scope: &str, state: &str| {
        app.url(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", &redirect),
            ("scope", scope),
            ("state", state),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
    };

    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path(), 1000).await;
    c.goto(&authorize(
        "openid products:read products:write",
        "approve-1",
    ))
    .await
    .unwrap();
    sign_in(&c, "mia@example.com", PASSWORD).await;

    // The consent page: the client, the write warning, the organization picker.
    let approve = match c.wait().for_element(Locator::Id("approve")).await {
        Ok(e) => e,
        Err(e) => panic!(
            "no consent page ({e}): {} {:.3000}",
            c.current_url().await.unwrap(),
            c.source().await.unwrap_or_default()
        ),
    };
    let text = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("Closient Agent"), "{text}");
    assert!(text.contains("can change data"), "{text}");
    assert!(text.contains("This app asks to change data"), "{text}");
    c.find(Locator::Css(&format!(
        "input[name=organization][value='{}']",
        orgs[1]
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let png = c.screenshot().await.unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("consent.png");
    std::fs::write(&path, png).unwrap();
    println!("consent page screenshot: {}", path.display());
    approve.click().await.unwrap();

    let landed = wait_for_url(&c, &redirect).await;
    assert_eq!(param(&landed, "state").as_deref(), Some("approve-1"));
    assert!(param(&landed, "code").is_some());
    assert_eq!(
        param(&landed, "iss").as_deref(),
        Some("http://localhost:8000")
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
    let code = param(&landed, "code").unwrap();
    let hash = castellan_crypto::hash_secret(&code).0;
    match app
        .store
        .redeem_code(&hash, chrono::Utc::now())
        .await
        .unwrap()
    {
        castellan_store::people::CodeRedemption::Fresh(stored) => {
            assert_eq!(stored.organization_id.as_deref(), Some(orgs[1].as_str()));
        }
        other => panic!("{other:?}"),
    }

    // Deny: more scope than consented, so the page again; the browser lands with the error.
    c.goto(&authorize("openid products:read offline_access", "deny-1"))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("deny"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let landed = wait_for_url(&c, &redirect).await;
    assert_eq!(param(&landed, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&landed, "state").as_deref(), Some("deny-1"));
    assert!(param(&landed, "code").is_none());
    assert_eq!(seen.lock().unwrap().len(), 2);
    c.close().await.unwrap();
}

/// The device page in Chromium (RFC 8628): the person opens the complete verification URI,
/// signs in, finds the code prefilled, continues, reads the warning and the scopes, allows;
/// the device's next poll gets the person's tokens.
#[tokio::test]
async fn a_device_is_connected_in_chromium() {
    if !asked_to_run() {
        return;
    }
    let (_driver, driver_url) = start_driver().await;
    let app = TestApp::spawn_with(|c| {
        product_scopes(c);
        c.device.interval_seconds = 1;
    })
    .await;
    let grant = "urn:ietf:params:oauth:grant-type:device_code";
    let client = app
        .create_client(json!({
            "name": "Castellan CLI",
            "scope": "openid products:read",
            "clientKind": "public",
            "tokenEndpointAuthMethod": "none",
            "grantTypes": [grant],
        }))
        .await;
    let client_id = client["id"].as_str().unwrap().to_owned();
    let (person, _) = add_person(&app, "tv@example.com", &["Acme Retail"]).await;
    let codes: serde_json::Value = app
        .http
        .post(app.url("/oauth/device_authorization"))
        .form(&[
            ("client_id", client_id.as_str()),
            ("scope", "openid products:read"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = codes["user_code"].as_str().unwrap();

    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path(), 1000).await;
    c.goto(&app.url(&format!("/device?user_code={user_code}")))
        .await
        .unwrap();
    sign_in(&c, "tv@example.com", PASSWORD).await;
    let field = c
        .wait()
        .for_element(Locator::Id("user_code"))
        .await
        .unwrap();
    assert_eq!(
        field.prop("value").await.unwrap().as_deref(),
        Some(user_code)
    );
    let go = c.find(Locator::Id("continue")).await.unwrap();
    crate::support::browser::click_to_next_page(&c, go).await;
    let warning = c
        .wait()
        .for_element(Locator::Id("device-warning"))
        .await
        .unwrap();
    assert!(warning.text().await.unwrap().contains(user_code));
    let page = c.source().await.unwrap();
    assert!(
        page.contains("Castellan CLI") && page.contains("See your products"),
        "{page:.2000}"
    );
    let allow = c.find(Locator::Id("approve")).await.unwrap();
    crate::support::browser::click_to_next_page(&c, allow).await;
    let done = c
        .wait()
        .for_element(Locator::Id("device-done"))
        .await
        .unwrap();
    assert!(done.text().await.unwrap().contains("return to your device"));
    c.close().await.unwrap();

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let tokens: serde_json::Value = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", grant),
            ("client_id", client_id.as_str()),
            ("device_code", codes["device_code"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["user_id"], person.as_str(), "{tokens}");
    assert!(tokens["id_token"].is_string());
}
