//! The account's API-keys page in a real headless Chromium, driven over
//! WebDriver (`fantoccini`) through Debian's `chromedriver`: sign in, open Account → API keys,
//! create a key, read it from the page, use the copy button (its script must pass the pages'
//! CSP), disable it, create and revoke another, and check the statuses on the list and with
//! introspection. A screenshot of the page showing the new key is written to
//! `$CARGO_TARGET_TMPDIR/api-keys.png` (next to the `browser` module's `consent.png`).
//!
//! Runs when `CASTELLAN_TEST_BROWSER=1` (and then fails, never skips, when Chromium or
//! chromedriver is missing); otherwise it says it was not asked to run. The driver helpers
//! are shared with the `browser` module (`support::browser`).
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
use castellan_store::api_keys::{ApiKeyOwner, ApiKeyStatus};
use castellan_testkit::TestApp;
use fantoccini::{Client, Locator};

async fn page_text(c: &Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits for the element `css`, showing the page when it does not come.
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

/// Fills and sends the create form; answers the key read from the answer page.
async fn create_key(c: &Client, name: &str, scope: &str) -> String {
    wait_for(c, "#key-name")
        .await
        .send_keys(name)
        .await
        .unwrap();
    c.find(Locator::Css(&format!("input[name=scope][value='{scope}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Id("key-expiry"))
        .await
        .unwrap()
        .select_by_value("30")
        .await
        .unwrap();
    // The page that shows a new key holds the form too: wait for the answer's page, or the
    // old page's key would be read again.
    click_to_next_page(c, c.find(Locator::Id("create-key")).await.unwrap()).await;
    wait_for(c, "#new-key")
        .await
        .prop("value")
        .await
        .unwrap()
        .expect("the key in its field")
}

/// The status shown on the list for key `id`.
async fn listed_status(c: &Client, id: &str) -> String {
    let row = wait_for(c, &format!("tr#key-{id}")).await;
    let status = row
        .find(Locator::Css("td.status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        row.attr("data-status").await.unwrap().as_deref(),
        Some(status.as_str())
    );
    status
}

/// Clicks the button `css` of key `id`'s row and waits for the list to come back.
async fn act_on(c: &Client, id: &str, css: &str) {
    let button = c
        .find(Locator::Css(&format!("tr#key-{id} {css}")))
        .await
        .unwrap();
    click_to_next_page(c, button).await;
    wait_for(c, "#create-key").await;
}

#[tokio::test]
async fn create_copy_disable_and_revoke_api_keys_in_chromium() {
    if !asked_to_run() {
        return;
    }
    let (_driver, driver_url) = start_driver().await;
    let app = TestApp::spawn_with(product_scopes).await;
    let (user_id, _) = add_person(&app, "mia@example.com", &["Acme Retail"]).await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path(), 1200).await;

    // Sign in, then Account → API keys.
    c.goto(&app.url("/login")).await.unwrap();
    sign_in(&c, "mia@example.com", PASSWORD).await;
    match c.wait().for_element(Locator::LinkText("API keys")).await {
        Ok(link) => link.click().await.unwrap(),
        Err(e) => panic!("no account page ({e}): {:.3000}", c.source().await.unwrap()),
    }
    wait_for(&c, "#create-key").await;
    assert!(page_text(&c).await.contains("You have no API keys yet"));

    // Create a key: shown once, with a working copy button.
    let key = create_key(&c, "nightly export", "products:read").await;
    assert!(
        key.starts_with("csb_D") && key.split('_').count() == 3,
        "{key}"
    );
    let text = page_text(&c).await;
    assert!(text.contains("you will not see this again"), "{text}");
    use_copy_button(&c).await;
    let png = c.screenshot().await.unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("api-keys.png");
    std::fs::write(&path, png).unwrap();
    println!("API-keys page screenshot: {}", path.display());
    assert_eq!(app.introspect(&key).await["active"], true);

    // The list shows the prefix and last four, not the key.
    let keys = app
        .store
        .list_api_keys(&ApiKeyOwner::Creator(user_id.clone()), 10, 0, true)
        .await
        .unwrap()
        .results;
    let first = keys[0].clone();
    let cell = c
        .find(Locator::Css(&format!("tr#key-{} .key-shown", first.id)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        cell,
        format!("{}…{}", first.visible_prefix, first.last_four)
    );
    assert_eq!(listed_status(&c, &first.id).await, "active");

    // A second key, to revoke.
    let second_key = create_key(&c, "old job", "products:read").await;
    assert_ne!(second_key, key);
    c.goto(&app.url("/account/api-keys")).await.unwrap();
    wait_for(&c, "#create-key").await;
    assert!(!c.source().await.unwrap().contains(&key));
    let second = app
        .store
        .list_api_keys(&ApiKeyOwner::Creator(user_id.clone()), 10, 0, true)
        .await
        .unwrap()
        .results
        .into_iter()
        .find(|k| k.name == "old job")
        .unwrap();

    act_on(&c, &first.id, "button.disable").await;
    assert_eq!(listed_status(&c, &first.id).await, "disabled");
    act_on(&c, &second.id, "button.revoke").await;
    assert_eq!(listed_status(&c, &second.id).await, "revoked");
    assert_eq!(listed_status(&c, &first.id).await, "disabled");
    // A revoked key has no buttons left; a disabled one can be enabled.
    assert!(c
        .find(Locator::Css(&format!("tr#key-{} button", second.id)))
        .await
        .is_err());
    c.find(Locator::Css(&format!("tr#key-{} button.enable", first.id)))
        .await
        .unwrap();

    let i = app.introspect(&key).await;
    assert_eq!(
        (i["active"].as_bool(), i["status"].as_str()),
        (Some(false), Some("disabled"))
    );
    let i = app.introspect(&second_key).await;
    assert_eq!(
        (i["active"].as_bool(), i["status"].as_str()),
        (Some(false), Some("revoked"))
    );
    let stored = |id: String| {
        let store = std::sync::Arc::clone(&app.store);
        async move { store.get_api_key(&id).await.unwrap().unwrap().status }
    };
    assert_eq!(stored(first.id.clone()).await, ApiKeyStatus::Disabled);
    assert_eq!(stored(second.id.clone()).await, ApiKeyStatus::Revoked);
    c.close().await.unwrap();
}
