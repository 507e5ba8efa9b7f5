//! Shared by the headless-Chromium tests (the `browser` and `browser_api_keys` modules):
//! Debian's chromedriver on a free port, killed when dropped, and a headless Chromium session
//! through it (WebDriver, `fantoccini`).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_server::platform::config::{Config, ScopeEntry};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, killed when dropped.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port; panics (never skips) when Chromium or chromedriver
/// is missing.
pub async fn start_driver() -> (Driver, String) {
    for bin in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(bin).exists(),
            "CASTELLAN_TEST_BROWSER=1 but {bin} is missing: apt-get install chromium chromium-driver"
        );
    }
    let port = castellan_testkit::free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (driver, url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on port {port}");
}

/// A headless Chromium session with its own profile directory, `width` × 1100 pixels.
pub async fn browser(driver_url: &str, profile: &std::path::Path, width: u32) -> Client {
    session(driver_url, profile, width, false).await
}

/// A headless Chromium session whose viewport is `width` CSS pixels wide whatever the smallest
/// window the browser allows (a phone's width: Chromium's device emulation).
pub async fn narrow_browser(driver_url: &str, profile: &std::path::Path, width: u32) -> Client {
    session(driver_url, profile, width, true).await
}

async fn session(driver_url: &str, profile: &std::path::Path, width: u32, emulate: bool) -> Client {
    let mut options = json!({
        "binary": CHROMIUM,
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            format!("--window-size={width},1100"),
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if emulate {
        options["mobileEmulation"] =
            json!({"deviceMetrics": {"width": width, "height": 1100, "pixelRatio": 1.0}});
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("a WebDriver session")
}

/// Clicks `element` and waits until the page it was on has been replaced, so that what is
/// looked up next comes from the page the click led to, never from the old one still shown
/// while the answer is on its way. Panics when no new page comes within ten seconds.
pub async fn click_to_next_page(c: &Client, element: fantoccini::elements::Element) {
    let old = c
        .find(Locator::Css("html"))
        .await
        .expect("the page's html element");
    element.click().await.expect("click");
    for _ in 0..100 {
        // An element of a page that has gone is stale: asking it anything fails.
        if old.tag_name().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the click led to no new page; still on {}",
        c.current_url().await.unwrap()
    );
}

/// Fills the sign-in form once it is on the page, and submits it.
pub async fn sign_in(c: &Client, email: &str, password: &str) {
    c.wait()
        .for_element(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Whether the browser tests were asked to run (`CASTELLAN_TEST_BROWSER=1`); says so when not.
pub fn asked_to_run() -> bool {
    let asked = std::env::var("CASTELLAN_TEST_BROWSER").as_deref() == Ok("1");
    if !asked {
        println!("browser test not asked to run (set CASTELLAN_TEST_BROWSER=1)");
    }
    asked
}

/// The two product scopes with the descriptions the consent page shows.
pub fn product_scopes(c: &mut Config) {
    for (name, description) in [
        ("products:read", "See your products and their prices"),
        ("products:write", "Create, change and delete your products"),
    ] {
        c.scopes.push(ScopeEntry {
            name: name.into(),
            description: description.into(),
        });
    }
}

/// Clicks the copy button of a secret shown once (`#copy-key`, shown only when its script ran,
/// which the pages' CSP must allow) and answers what it said (`#copy-status`); panics when
/// the button is hidden or says nothing within five seconds.
pub async fn use_copy_button(c: &Client) -> String {
    let copy = c
        .find(Locator::Id("copy-key"))
        .await
        .expect("a copy button");
    assert!(
        copy.is_displayed().await.expect("its display"),
        "the copy script did not run (blocked by the CSP?)"
    );
    copy.click().await.expect("a click");
    for _ in 0..50 {
        let said = c
            .find(Locator::Id("copy-status"))
            .await
            .expect("the copy status")
            .text()
            .await
            .expect("its text");
        if !said.is_empty() {
            return said;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the copy button said nothing");
}
