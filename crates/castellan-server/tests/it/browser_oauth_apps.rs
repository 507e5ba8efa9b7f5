//! The OAuth apps page in a real headless Chromium (WebDriver through Debian's
//! `chromedriver`): an OWNER opens Account → OAuth apps, registers a server-side app, reads its
//! secret from the page and uses the copy button (its script must pass the pages' CSP), gives
//! it a new secret with the default overlap (both secrets then authenticate), and deletes it.
//! A screenshot of the page showing the new secret is written to
//! `$CARGO_TARGET_TMPDIR/oauth-apps.png`. The sessions page is opened too: it lists this
//! browser's session as "this browser", with Chromium named as the device.
//!
//! Runs when `CASTELLAN_TEST_BROWSER=1` (and then fails, never skips, when Chromium or
//! chromedriver is missing); otherwise it says it was not asked to run.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location, and prints what it saw"
)]

use crate::support::browser::{
    asked_to_run, browser, click_to_next_page, product_scopes, sign_in, start_driver,
    use_copy_button,
};
use crate::support::pages::*;
use castellan_core::user::{Membership, Role};
use castellan_testkit::TestApp;
use fantoccini::{Client, Locator};
use reqwest::StatusCode;

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c.wait().for_element(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => panic!(
            "no {css} ({e}) on {}: {:.3000}",
            c.current_url().await.unwrap(),
            c.source().await.unwrap_or_default()
        ),
    }
}

async fn secret_works(app: &TestApp, client_id: &str, secret: &str) -> bool {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "unknown"),
        ])
        .send()
        .await
        .unwrap();
    res.status() == StatusCode::BAD_REQUEST
}

async fn shown_secret(c: &Client) -> (String, String) {
    let secret = wait_for(c, "#new-key")
        .await
        .prop("value")
        .await
        .unwrap()
        .expect("the secret in its field");
    let id = c
        .find(Locator::Id("new-client-id"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (id, secret)
}

#[tokio::test]
async fn register_copy_rotate_and_delete_an_oauth_app_in_chromium() {
    if !asked_to_run() {
        return;
    }
    let (_driver, driver_url) = start_driver().await;
    let app = TestApp::spawn_with(product_scopes).await;
    let (olga, orgs) = add_person(&app, "olga@example.com", &["Acme Retail"]).await;
    app.store
        .upsert_membership(&Membership {
            organization_id: orgs[0].clone(),
            user_id: olga.clone(),
            role: Role::Owner,
        })
        .await
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path(), 1200).await;

    c.goto(&app.url("/login")).await.unwrap();
    sign_in(&c, "olga@example.com", PASSWORD).await;
    match c.wait().for_element(Locator::LinkText("OAuth apps")).await {
        Ok(link) => link.click().await.unwrap(),
        Err(e) => panic!("no account page ({e}): {:.3000}", c.source().await.unwrap()),
    }
    wait_for(&c, "#register-app").await;
    wait_for(&c, "#app-name")
        .await
        .send_keys("Close integration")
        .await
        .unwrap();
    c.find(Locator::Id("app-redirect-uris"))
        .await
        .unwrap()
        .send_keys("https://close.example/oauth/callback")
        .await
        .unwrap();
    for scope in ["openid", "products:read"] {
        c.find(Locator::Css(&format!("input[name=scope][value='{scope}']")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    click_to_next_page(&c, c.find(Locator::Id("register-app")).await.unwrap()).await;
    let (client_id, secret) = shown_secret(&c).await;
    assert!(!secret.is_empty());
    use_copy_button(&c).await;
    let png = c.screenshot().await.unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("oauth-apps.png");
    std::fs::write(&path, png).unwrap();
    println!("OAuth apps page screenshot: {}", path.display());
    assert!(secret_works(&app, &client_id, &secret).await);

    // A new secret with the default overlap: the old one still works meanwhile.
    let rotate = wait_for(&c, &format!("tr#app-{client_id} button.rotate")).await;
    click_to_next_page(&c, rotate).await;
    let (same_id, second) = shown_secret(&c).await;
    assert_eq!(same_id, client_id);
    assert_ne!(second, secret);
    let until = c
        .find(Locator::Id("previous-until"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(until.contains("still works until"), "{until}");
    assert!(secret_works(&app, &client_id, &secret).await);
    assert!(secret_works(&app, &client_id, &second).await);

    // Delete it.
    let delete = wait_for(&c, &format!("tr#app-{client_id} button.delete")).await;
    click_to_next_page(&c, delete).await;
    wait_for(&c, "#apps-empty").await;
    assert_eq!(app.store.get_client(&client_id).await.unwrap(), None);

    // The sessions page names this browser.
    c.goto(&app.url("/account/sessions")).await.unwrap();
    let row = wait_for(&c, "tr.current").await;
    let text = row.text().await.unwrap();
    assert!(text.contains("Chrom"), "{text}");
    assert!(text.contains("this browser"), "{text}");
    c.close().await.unwrap();
}
