//! The pages in a real headless Chromium (the pages must work in a real browser), driven over
//! WebDriver (`fantoccini`) through Debian's `chromedriver`: sign in, pick an organization,
//! approve, and land on the client's redirect URI with a code; then the deny path. A
//! screenshot of the consent page is written to `$CARGO_TARGET_TMPDIR/consent.png`.
//!
//! Then two-step sign-in: an authenticator app set up from its QR page and asked for after the
//! password (screenshots `two-factor-setup.png`, `two-factor-codes.png`, `second-factor.png`);
//! and passkeys, with WebDriver's virtual authenticator, checked by a relying party built on
//! openid-client (`passkeys.png`, `login-passkey.png`).
//!
//! Runs when `CASTELLAN_TEST_BROWSER=1` (and then fails, never skips, when Chromium or
//! chromedriver is missing); otherwise it says it was not asked to run.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a test fails on an unwrap or expect, with its location, and prints what it saw"
)]

use crate::support::browser::{asked_to_run, browser, product_scopes, sign_in, start_driver};
use crate::support::logout::{logout_claims, receiver, wait_for};
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

/// Types `text` into the field `id` once it is on the page.
async fn type_into(c: &Client, id: &str, text: &str) {
    c.wait()
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id} ({e})"))
        .send_keys(text)
        .await
        .unwrap();
}

/// The text of the element `id`.
async fn text_of(c: &Client, id: &str) -> String {
    c.wait()
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id} ({e})"))
        .text()
        .await
        .unwrap()
}

/// Clicks `css` and waits for the page it leads to.
async fn click(c: &Client, css: &str) {
    let e = c
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} ({e})"));
    crate::support::browser::click_to_next_page(c, e).await;
}

/// Saves a screenshot of what the browser shows as `name` in `$CARGO_TARGET_TMPDIR`.
async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

/// Two-step sign-in in Chromium: the person sets up an authenticator app from its QR page (the
/// code computed here from the key shown), keeps the recovery codes, signs out; a relying party
/// asking `acr_values=urn:castellan:acr:mfa` gets them through the password and a recovery
/// code, then (signed out again) the password and the app's next code; each ID token, verified
/// against the JWKS, says `acr` mfa and `amr` pwd otp mfa. No page needs JavaScript.
#[tokio::test]
async fn an_authenticator_app_is_set_up_and_asked_for_in_chromium() {
    if !asked_to_run() {
        return;
    }
    let (_driver, driver_url) = start_driver().await;
    let app = TestApp::spawn_with(product_scopes).await;
    let (redirect, _) = callback_server().await;
    let client = app
        .create_client(json!({
            "name": "Closient Agent",
            "scope": SCOPES,
            "clientKind": "public",
            "grantTypes": ["authorization_code"],
            "redirectUris": [redirect],
            "tokenEndpointAuthMethod": "none",
        }))
        .await;
    let client_id = client["id"].as_str().unwrap().to_owned();
    add_person(&app, "tom@example.com", &["Acme Retail"]).await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path(), 1000).await;

    // Set up the app from the account page.
    c.goto(&app.url("/login")).await.unwrap();
    sign_in(&c, "tom@example.com", PASSWORD).await;
    wait_for_url(&c, &app.url("/account")).await;
    c.goto(&app.url("/account/two-factor")).await.unwrap();
    type_into(&c, "start-password", PASSWORD).await;
    click(&c, "#start-app").await;
    c.wait().for_element(Locator::Css(".qr svg")).await.unwrap();
    screenshot(&c, "two-factor-setup.png").await;
    let secret = text_of(&c, "totp-secret").await.replace(' ', "");
    let now = chrono::Utc::now().timestamp();
    let step = castellan_crypto::totp::step_at(now);
    type_into(
        &c,
        "confirm-code",
        &castellan_crypto::totp::code_at(&secret, step).unwrap(),
    )
    .await;
    click(&c, "#confirm-app").await;
    let codes = c
        .wait()
        .for_element(Locator::Id("recovery-codes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let codes: Vec<&str> = codes.split_whitespace().collect();
    assert_eq!(codes.len(), 10, "{codes:?}");
    screenshot(&c, "two-factor-codes.png").await;

    let (verifier, challenge) = pkce();
    let authorize = app.url(&authorize_query(&[
        ("response_type", "code"),
        ("client_id", &client_id),
        ("redirect_uri", &redirect),
        ("scope", "openid products:read"),
        ("state", "s"),
        ("acr_values", "urn:castellan:acr:mfa"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]));
    let id_token_claims = |landed: url::Url| {
        let app = &app;
        let client_id = client_id.clone();
        let redirect = redirect.clone();
        let verifier = verifier.clone();
        async move {
            let code = param(&landed, "code").expect("a code");
            let res = app
                .http
                .post(app.url("/oauth/token"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", client_id.as_str()),
                    ("code", code.as_str()),
                    ("code_verifier", verifier.as_str()),
                    ("redirect_uri", redirect.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let body: serde_json::Value = res.json().await.unwrap();
            let id_token = body["id_token"].as_str().expect("an id_token").to_owned();
            castellan_testkit::people::verify_id_token(app, &id_token)
                .await
                .1
        }
    };

    // Signed out, the relying party's request: the password, then a recovery code.
    for round in 0..2 {
        c.goto(&app.url("/account")).await.unwrap();
        click(&c, "form[action='/account/logout'] button").await;
        c.goto(&authorize).await.unwrap();
        sign_in(&c, "tom@example.com", PASSWORD).await;
        c.wait().for_element(Locator::Id("code")).await.unwrap();
        let code = if round == 0 {
            screenshot(&c, "second-factor.png").await;
            codes[0].to_owned()
        } else {
            // The app's next code: the one that confirmed it is used up.
            let wait = (step + 1) * 30 - chrono::Utc::now().timestamp();
            if wait > 0 {
                tokio::time::sleep(Duration::from_secs(wait.unsigned_abs())).await;
            }
            let now = chrono::Utc::now().timestamp();
            castellan_crypto::totp::code_at(&secret, castellan_crypto::totp::step_at(now)).unwrap()
        };
        type_into(&c, "code", &code).await;
        click(&c, "button[type=submit]").await;
        if round == 0 {
            click(&c, "#approve").await;
        }
        let landed = wait_for_url(&c, &redirect).await;
        let claims = id_token_claims(landed).await;
        assert_eq!(claims["acr"], "urn:castellan:acr:mfa", "{claims}");
        assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]), "{claims}");
    }

    // The recovery code used in the first round is used up.
    c.goto(&app.url("/account/two-factor")).await.unwrap();
    let state = text_of(&c, "codes-left").await;
    assert!(state.contains("Recovery codes left: 9."), "{state}");
    c.close().await.unwrap();
}

/// Finishes the authorization-code flow the browser `landed` from as a relying party built on
/// openid-client (`tests/browser/rp.mjs`): the claims of the ID token the library validated
/// (discovery from `issuer`, the redirect's `iss` and `state`, PKCE, the signature against the
/// JWKS, `iss`, `aud`, `exp`), and the ID token.
async fn relying_party_claims(
    issuer: &str,
    client_id: &str,
    landed: &url::Url,
    verifier: &str,
    state: &str,
) -> (serde_json::Value, String) {
    let out = tokio::process::Command::new("node")
        // `localhost` is 127.0.0.1, where the server listens (not ::1).
        .arg("--dns-result-order=ipv4first")
        .arg("rp.mjs")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser"))
        .env("ISSUER", issuer)
        .env("CLIENT_ID", client_id)
        .env("CALLBACK_URL", landed.as_str())
        .env("VERIFIER", verifier)
        .env("STATE", state)
        .output()
        .await
        .expect("node runs (npm ci in tests/browser)");
    assert!(
        out.status.success(),
        "openid-client refused the flow: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id_token = out["id_token"].as_str().expect("an ID token").to_owned();
    (out["claims"].take(), id_token)
}

/// A command of WebDriver's WebAuthn extension (a virtual authenticator), which `fantoccini`
/// does not issue itself: `path` under `/session/{id}/webauthn/`.
#[derive(Debug)]
struct WebAuthnCommand {
    method: http::Method,
    path: String,
    body: Option<serde_json::Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthnCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(serde_json::Value::to_string),
        )
    }
}

/// Adds WebDriver's virtual authenticator to the browser: a platform authenticator keeping
/// discoverable credentials, whose user is present and verified. Answers its id.
async fn virtual_authenticator(c: &Client) -> String {
    let added = c
        .issue_cmd(WebAuthnCommand {
            method: http::Method::POST,
            path: "authenticator".to_owned(),
            body: Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserConsenting": true,
                "isUserVerified": true,
            })),
        })
        .await
        .unwrap();
    added.as_str().expect("an authenticator id").to_owned()
}

/// Passkeys in Chromium, with WebDriver's virtual authenticator (a platform authenticator
/// keeping discoverable credentials and verifying its user): the person adds a passkey on the
/// account's passkeys page (the password asked again), the authenticator holds it as a resident
/// credential, the person signs out; their password then leads to the second step, which the
/// passkey answers; signed out again, a relying party asking `acr_values=…:mfa` gets them
/// through **Sign in with a passkey** alone, no email, no password; the ID token, validated by
/// a relying party built on openid-client, says `acr` mfa and `amr` hwk mfa. The relying party
/// then signs the person out (RP-Initiated Logout with the ID token as the hint) and its
/// back-channel endpoint receives the session's logout token, verified here. Screenshots
/// `passkeys.png`, `second-factor-passkey.png` and `login-passkey.png`.
#[tokio::test]
async fn a_passkey_is_added_and_signs_in_in_chromium() {
    if !asked_to_run() {
        return;
    }
    let (_driver, driver_url) = start_driver().await;
    let app = TestApp::spawn_as_localhost_issuer(product_scopes).await;
    // WebAuthn needs a domain name: the browser goes to the issuer, http://localhost:PORT.
    let site = app.state.config.issuer.clone();
    let at = |path: &str| format!("{site}{path}");
    let (redirect, _) = callback_server().await;
    let (logout_uri, logout_tokens) = receiver(0).await;
    let client = app
        .create_client(json!({
            "name": "Closient Agent",
            "scope": SCOPES,
            "clientKind": "public",
            "grantTypes": ["authorization_code"],
            "redirectUris": [redirect],
            "postLogoutRedirectUris": [redirect],
            "backchannelLogoutUri": logout_uri,
            "tokenEndpointAuthMethod": "none",
        }))
        .await;
    let client_id = client["id"].as_str().unwrap().to_owned();
    let (user_id, _) = add_person(&app, "pat@example.com", &["Acme Retail"]).await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path(), 1000).await;
    let authenticator = virtual_authenticator(&c).await;

    // Add a passkey from the account's passkeys page.
    c.goto(&at("/login")).await.unwrap();
    sign_in(&c, "pat@example.com", PASSWORD).await;
    wait_for_url(&c, &at("/account")).await;
    c.goto(&at("/account/passkeys")).await.unwrap();
    type_into(&c, "passkey-name", "Chromium").await;
    type_into(&c, "passkey-password", PASSWORD).await;
    click(&c, "#add-passkey").await;
    wait_for_url(&c, &at("/account/passkeys?done=added")).await;
    let listed = text_of(&c, "passkeys-list").await;
    assert!(listed.contains("Chromium"), "{listed}");
    screenshot(&c, "passkeys.png").await;
    let held = c
        .issue_cmd(WebAuthnCommand {
            method: http::Method::GET,
            path: format!("authenticator/{authenticator}/credentials"),
            body: None,
        })
        .await
        .unwrap();
    let held = held.as_array().expect("credentials");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["isResidentCredential"], true, "{held:?}");
    assert_eq!(held[0]["rpId"], "localhost", "{held:?}");

    // Signed out, the password now leads to the second step, where the passkey answers.
    c.goto(&at("/account")).await.unwrap();
    click(&c, "form[action='/account/logout'] button").await;
    c.goto(&at("/login")).await.unwrap();
    sign_in(&c, "pat@example.com", PASSWORD).await;
    c.wait()
        .for_element(Locator::Css("#use-passkey:not([hidden])"))
        .await
        .unwrap();
    screenshot(&c, "second-factor-passkey.png").await;
    click(&c, "#use-passkey").await;
    wait_for_url(&c, &at("/account")).await;

    // Signed out, a relying party asks for a second factor: the passkey alone answers.
    c.goto(&at("/account")).await.unwrap();
    click(&c, "form[action='/account/logout'] button").await;
    let (verifier, challenge) = pkce();
    let authorize = at(&authorize_query(&[
        ("response_type", "code"),
        ("client_id", &client_id),
        ("redirect_uri", &redirect),
        ("scope", "openid products:read"),
        ("state", "s"),
        ("acr_values", "urn:castellan:acr:mfa"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]));
    c.goto(&authorize).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#sign-in-passkey:not([hidden])"))
        .await
        .unwrap();
    screenshot(&c, "login-passkey.png").await;
    click(&c, "#sign-in-passkey").await;
    click(&c, "#approve").await;
    let landed = wait_for_url(&c, &redirect).await;
    let (claims, id_token) = relying_party_claims(&site, &client_id, &landed, &verifier, "s").await;
    assert_eq!(claims["acr"], "urn:castellan:acr:mfa", "{claims}");
    assert_eq!(claims["amr"], json!(["hwk", "mfa"]), "{claims}");

    // The relying party signs the person out (RP-Initiated Logout): with its ID token as the
    // hint, no question is asked, the browser comes back with its `state`, and the relying
    // party's back-channel endpoint gets a logout token for the session.
    let logout = format!(
        "{}?{}",
        at("/oauth/logout"),
        form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", &id_token)
            .append_pair("post_logout_redirect_uri", &redirect)
            .append_pair("state", "bye")
            .finish()
    );
    c.goto(&logout).await.unwrap();
    let back = wait_for_url(&c, &redirect).await;
    assert_eq!(param(&back, "state").as_deref(), Some("bye"), "{back}");
    let tokens = wait_for(&logout_tokens, 1).await;
    let told = logout_claims(&app, &tokens[0]).await;
    assert_eq!(told["aud"], json!(client_id), "{told}");
    assert_eq!(told["sub"], json!(user_id), "{told}");
    assert!(told["sid"].is_string(), "{told}");
    assert_eq!(told["sid"], claims["sid"], "{told}");
    assert_eq!(told["iss"], json!(site), "{told}");
    c.goto(&at("/account")).await.unwrap();
    wait_for_url(&c, &at("/login")).await;
    c.close().await.unwrap();
}

/// A passkeys-only policy in Chromium: a member without a passkey signs in with their password
/// and is led to register one (the set-up page's button, the virtual authenticator), then the
/// session starts with `amr` `pwd hwk`; signed out, their password leads to the second step,
/// which offers only the passkey. Screenshot `passkey-setup.png`.
#[tokio::test]
async fn a_passkeys_only_policy_leads_to_registering_one_in_chromium() {
    if !asked_to_run() {
        return;
    }
    let (_driver, driver_url) = start_driver().await;
    let app = TestApp::spawn_as_localhost_issuer(product_scopes).await;
    let site = app.state.config.issuer.clone();
    let at = |path: &str| format!("{site}{path}");
    let (user_id, orgs) = add_person(&app, "ria@example.com", &["Acme Retail"]).await;
    app.store
        .set_second_factor_policy(&orgs[0], castellan_core::authn::SecondFactorPolicy::Passkey)
        .await
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path(), 1000).await;
    virtual_authenticator(&c).await;

    c.goto(&at("/login")).await.unwrap();
    sign_in(&c, "ria@example.com", PASSWORD).await;
    c.wait()
        .for_element(Locator::Css("#register-passkey:not([hidden])"))
        .await
        .unwrap();
    screenshot(&c, "passkey-setup.png").await;
    click(&c, "#register-passkey").await;
    wait_for_url(&c, &at("/account")).await;
    let sessions = app
        .store
        .list_sessions(&user_id, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].amr.stored(), "pwd hwk");
    assert_eq!(app.store.list_passkeys(&user_id).await.unwrap().len(), 1);

    // Signed out, the password leads to the passkey alone.
    click(&c, "form[action='/account/logout'] button").await;
    c.goto(&at("/login")).await.unwrap();
    sign_in(&c, "ria@example.com", PASSWORD).await;
    c.wait()
        .for_element(Locator::Css("#use-passkey:not([hidden])"))
        .await
        .unwrap();
    assert!(c.find(Locator::Id("code")).await.is_err(), "no code field");
    click(&c, "#use-passkey").await;
    wait_for_url(&c, &at("/account")).await;
    c.close().await.unwrap();
}
