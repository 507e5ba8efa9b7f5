//! The console pages in a real headless Chromium, 320 px wide: every page of the account area
//! (account, API keys, connected apps, sessions, password, two-step sign-in and its set-up,
//! OAuth apps with a new secret shown,
//! members with an invitation link, audit log), the sign-in, password-reset and invitation pages
//! pass axe-core (<https://github.com/dequelabs/axe-core>, run in the page through WebDriver)
//! with no serious or critical violation, and none is wider than the window. The forms are
//! driven from the keyboard only: signing in, inviting a member, registering an OAuth app
//! (Tab, typing, Space and Enter; no click).
//!
//! Runs when `CASTELLAN_TEST_BROWSER=1` (and then fails, never skips, when Chromium,
//! chromedriver or axe-core — `npm ci` in `tests/browser` — is missing).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location, and prints what it saw"
)]

use crate::support::browser::{asked_to_run, narrow_browser, product_scopes, start_driver};
use crate::support::pages::*;
use castellan_core::user::{Membership, Role};
use castellan_testkit::TestApp;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use std::time::Duration;

/// axe-core's script, installed by `npm ci` in `tests/browser`.
fn axe_script() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/browser/node_modules/axe-core/axe.min.js"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e} (run `npm ci` in crates/castellan-server/tests/browser)")
    })
}

/// The serious and critical axe-core violations of the page shown, and what makes it wider
/// than the window (empty when nothing does).
async fn check_page(c: &Client, axe: &str) -> (Vec<String>, Vec<String>) {
    c.execute(axe, Vec::new()).await.expect("axe-core loads");
    let found = c
        .execute_async(
            r"const done = arguments[arguments.length - 1];
              axe.run(document, {resultTypes: ['violations']})
                .then(r => done(r.violations
                  .filter(v => v.impact === 'serious' || v.impact === 'critical')
                  .map(v => v.id + ': ' + v.help + ' at ' +
                       v.nodes.map(n => n.target.join(' ')).join(', '))))
                .catch(e => done(['axe failed: ' + e]));",
            Vec::new(),
        )
        .await
        .expect("axe-core runs");
    let violations = found
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    let wider = c
        .execute(
            r"if (document.documentElement.scrollWidth <= window.innerWidth + 1) { return []; }
              return Array.from(document.querySelectorAll('body *'))
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                .slice(0, 8)
                .map(e => e.tagName + '#' + e.id + '.' + e.className);",
            Vec::new(),
        )
        .await
        .expect("the elements wider than the window");
    let wider = wider
        .as_array()
        .map(|a| a.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    (violations, wider)
}

/// Presses Tab until the element `id` has the focus (at most 80 times).
async fn tab_to(c: &Client, id: &str) {
    for _ in 0..80 {
        let active = c.active_element().await.unwrap();
        if active.attr("id").await.unwrap().as_deref() == Some(id) {
            return;
        }
        active.send_keys(&Key::Tab.to_string()).await.unwrap();
    }
    panic!(
        "Tab never reached #{id} on {}",
        c.current_url().await.unwrap()
    );
}

/// Types into the focused element.
async fn type_keys(c: &Client, keys: &str) {
    c.active_element()
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

/// Presses Enter on the focused element and waits for the next page.
async fn enter(c: &Client) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    type_keys(c, &Key::Enter.to_string()).await;
    for _ in 0..100 {
        if old.tag_name().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "Enter led to no new page on {}",
        c.current_url().await.unwrap()
    );
}

#[tokio::test]
async fn console_pages_are_accessible_narrow_and_keyboard_driven_in_chromium() {
    if !asked_to_run() {
        return;
    }
    let axe = axe_script();
    let (_driver, driver_url) = start_driver().await;
    let app = TestApp::spawn_with(product_scopes).await;
    let (olga, orgs) = add_person(&app, "olga@example.com", &["Acme Retail"]).await;
    let acme = orgs[0].clone();
    app.store
        .upsert_membership(&Membership {
            organization_id: acme.clone(),
            user_id: olga.clone(),
            role: Role::Owner,
        })
        .await
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let c = narrow_browser(&driver_url, profile.path(), 320).await;
    c.goto(&app.url("/login")).await.unwrap();
    let width = c
        .execute("return window.innerWidth;", Vec::new())
        .await
        .unwrap();
    assert_eq!(
        width,
        serde_json::json!(320),
        "the viewport is not 320 px wide"
    );
    let mut problems = Vec::new();
    let mut look = |path: String, found: (Vec<String>, Vec<String>)| {
        if !found.0.is_empty() {
            problems.push(format!("{path}: {:?}", found.0));
        }
        if !found.1.is_empty() {
            problems.push(format!("{path}: wider than 320 px: {:?}", found.1));
        }
    };

    // Signed out.
    for path in ["/login", "/password-reset"] {
        c.goto(&app.url(path)).await.unwrap();
        look(path.to_owned(), check_page(&c, &axe).await);
    }

    // Sign in with the keyboard only.
    c.goto(&app.url("/login")).await.unwrap();
    tab_to(&c, "email").await;
    type_keys(&c, "olga@example.com").await;
    tab_to(&c, "password").await;
    type_keys(&c, PASSWORD).await;
    enter(&c).await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/account"),
        "{}",
        c.current_url().await.unwrap()
    );

    // Invite a member with the keyboard only (no mail server: the link is shown).
    c.goto(&app.url("/account/members")).await.unwrap();
    tab_to(&c, "invite-email").await;
    type_keys(&c, "newbie@example.com").await;
    tab_to(&c, "invite-role").await;
    type_keys(&c, "M").await;
    tab_to(&c, "invite").await;
    enter(&c).await;
    let pending = app
        .store
        .pending_invitations(&acme, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].role, Some(Role::Manager));
    let link = c
        .find(Locator::Id("new-key"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    look(
        "/account/members (invitation link shown)".into(),
        check_page(&c, &axe).await,
    );

    // Register an OAuth app with the keyboard only.
    c.goto(&app.url("/account/oauth-apps")).await.unwrap();
    tab_to(&c, "app-name").await;
    type_keys(&c, "Keyboard app").await;
    tab_to(&c, "app-redirect-uris").await;
    type_keys(&c, "https://keys.example/cb").await;
    tab_to(&c, "app-scope-1").await;
    type_keys(&c, &Key::Space.to_string()).await;
    tab_to(&c, "register-app").await;
    enter(&c).await;
    let apps = app.store.organization_clients(&acme).await.unwrap();
    assert_eq!(apps.len(), 1, "{}", c.source().await.unwrap());
    assert_eq!(apps[0].name, "Keyboard app");
    look(
        "/account/oauth-apps (new secret shown)".into(),
        check_page(&c, &axe).await,
    );

    // Every page of the account area.
    for path in [
        "/account",
        "/account/api-keys",
        "/account/connected-apps",
        "/account/sessions",
        "/account/password",
        "/account/oauth-apps",
        "/account/members",
        "/account/audit",
        "/account/passkeys",
        "/account/two-factor",
    ] {
        c.goto(&app.url(path)).await.unwrap();
        look(path.to_owned(), check_page(&c, &axe).await);
    }
    // Setting up an authenticator app: the QR code and the key.
    c.find(Locator::Id("start-password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    let start = c.find(Locator::Id("start-app")).await.unwrap();
    crate::support::browser::click_to_next_page(&c, start).await;
    look(
        "/account/two-factor (setting up)".into(),
        check_page(&c, &axe).await,
    );
    let png = c.screenshot().await.unwrap();
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("audit-320.png");
    std::fs::write(&shot, png).unwrap();
    println!("audit page at 320 px: {}", shot.display());

    // The invitation page, signed out.
    c.goto(&app.url("/account")).await.unwrap();
    let logout = c
        .find(Locator::Css("form[action='/account/logout'] button"))
        .await
        .unwrap();
    crate::support::browser::click_to_next_page(&c, logout).await;
    let path = link
        .strip_prefix(&app.state.config.issuer)
        .expect("a link of this server");
    c.goto(&app.url(path)).await.unwrap();
    look("/invitation".into(), check_page(&c, &axe).await);

    assert!(problems.is_empty(), "{problems:#?}");
    c.close().await.unwrap();
}
