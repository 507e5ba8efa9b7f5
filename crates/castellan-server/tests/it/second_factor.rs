//! Two-step sign-in with an authenticator app (RFC 6238) and recovery codes, over HTTP: set-up
//! from the account page, the second step after the password, each code counting once, the
//! pending step expiring, removal needing a code, `acr_values` stepping a session up, `acr` and
//! `amr` in the ID token and introspection, and the password grant refused for such a person.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::pages::*;
use castellan_core::authn::SecondFactorPolicy;
use castellan_crypto::totp::{code_at, step_at};
use castellan_crypto::Clock;
use castellan_testkit::{ManualClock, TestApp};
use serde_json::json;
use std::sync::Arc;

const MFA: &str = "urn:castellan:acr:mfa";

/// A server on a manual clock (TOTP steps follow it), allowing `free` wrong attempts per
/// account and address before delays start.
async fn app_with_clock_allowing(free: u64) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(
        |c| c.pages.login_throttle.per_address_free = free,
        Arc::<ManualClock>::clone(&clock),
    )
    .await;
    (app, clock)
}

async fn app_with_clock() -> (TestApp, Arc<ManualClock>) {
    app_with_clock_allowing(5).await
}

/// The current code of `secret` at the test clock.
fn code_now(clock: &ManualClock, secret: &str) -> String {
    code_at(secret, step_at(clock.now().timestamp())).unwrap()
}

/// A confidential client allowed the password grant: its id and secret.
async fn password_client(app: &TestApp) -> (String, String) {
    let cli = app
        .create_client(json!({
            "name": "First-party CLI",
            "scope": "openid products:read",
            "grantTypes": ["password"],
        }))
        .await;
    (
        cli["id"].as_str().unwrap().to_owned(),
        cli["secret"].as_str().unwrap().to_owned(),
    )
}

/// A password-grant request by `client` for `username` from `address`: status and body.
async fn password_grant(
    app: &TestApp,
    client: &(String, String),
    username: &str,
    password: &str,
    address: &str,
) -> (u16, serde_json::Value) {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .header("x-forwarded-for", address)
        .basic_auth(&client.0, Some(&client.1))
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

/// The text between `id="{id}">` and the next `<`.
fn text_of(page: &Page, id: &str) -> String {
    let needle = format!("id=\"{id}\">");
    let start = page.body.find(&needle).unwrap() + needle.len();
    let end = page.body[start..].find('<').unwrap() + start;
    page.body[start..end].to_owned()
}

/// The recovery codes a page shows.
fn recovery_codes(page: &Page) -> Vec<String> {
    page.body
        .split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap()].to_owned())
        .collect()
}

/// Sets up an authenticator app from the signed-in browser `b`: answers its secret and the
/// recovery codes shown. The code that confirmed it is used up.
async fn enrol(b: &Browser, clock: &ManualClock) -> (String, Vec<String>) {
    let page = b.get("/account/two-factor").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Two-step sign-in is off"),
        "{}",
        page.body
    );
    // The password is asked again: a wrong one sets nothing up.
    let refused = b
        .post(
            "/account/two-factor/start",
            &[("csrf", &page.hidden("csrf")), ("password", "not it")],
        )
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(!refused.body.contains("<svg"));
    let started = b
        .post(
            "/account/two-factor/start",
            &[("csrf", &page.hidden("csrf")), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert!(started.body.contains("<svg"), "the QR code is on the page");
    assert_eq!(
        started.headers.get("cache-control").unwrap(),
        "no-store",
        "a page showing a secret is never cached"
    );
    let secret = text_of(&started, "totp-secret").replace(' ', "");
    assert_eq!(secret.len(), 32);
    // A wrong first code sets nothing up.
    let wrong = b
        .post(
            "/account/two-factor/confirm",
            &[
                ("csrf", &started.hidden("csrf")),
                ("secret", &started.hidden("secret")),
                ("code", "000000"),
            ],
        )
        .await;
    let wrong = if wrong.status == 200 {
        // 000000 was, by chance, the right code: the test goes on with it.
        wrong
    } else {
        assert_eq!(wrong.status, 400, "{}", wrong.body);
        assert!(wrong.body.contains("not the app"), "{}", wrong.body);
        assert_eq!(text_of(&wrong, "totp-secret").replace(' ', ""), secret);
        b.post(
            "/account/two-factor/confirm",
            &[
                ("csrf", &wrong.hidden("csrf")),
                ("secret", &wrong.hidden("secret")),
                ("code", &code_now(clock, &secret)),
            ],
        )
        .await
    };
    assert_eq!(wrong.status, 200, "{}", wrong.body);
    let codes = recovery_codes(&wrong);
    assert_eq!(codes.len(), 10, "{}", wrong.body);
    (secret, codes)
}

/// Starts an authorization request from a fresh browser and gives the password: answers the
/// browser and the page it lands on (the second-factor page for a person with one).
async fn password_step(
    app: &TestApp,
    client_id: &str,
    email: &str,
    extra: &[(&str, &str)],
) -> (Browser, Page, String) {
    let b = Browser::new(app);
    let (verifier, challenge) = pkce();
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("scope", "openid offline_access products:read"),
        ("state", "st"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    let login = b.get(&authorize_query(&q)).await;
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
    (b, after, verifier)
}

/// Posts `code` on the second-factor page `page`.
async fn second_step(b: &Browser, page: &Page, code: &str) -> Page {
    assert!(
        page.body.contains("action=\"/login/second-factor\""),
        "expected the second-factor page: {}",
        page.body
    );
    b.post(
        "/login/second-factor",
        &[
            ("csrf", &page.hidden("csrf")),
            ("request", &page.hidden("request")),
            ("code", code),
        ],
    )
    .await
}

#[tokio::test]
async fn the_app_is_asked_after_the_password_each_code_counts_once_and_tokens_say_mfa() {
    let (app, clock) = app_with_clock_allowing(50).await;
    let client_id = public_client(&app).await;
    let (user_id, _) = add_person(&app, "tia@example.com", &["Acme"]).await;
    let owner = Browser::new(&app);
    sign_in_plain(&owner, "tia@example.com").await;
    let (secret, _) = enrol(&owner, &clock).await;
    let stored = app.store.get_totp(&user_id).await.unwrap().unwrap();
    assert!(stored.confirmed_at.is_some());
    let page = owner.get("/account/two-factor").await;
    assert!(
        page.body.contains("Two-step sign-in is on"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Recovery codes left: 10."),
        "{}",
        page.body
    );

    // The password alone no longer signs in: the second-factor page, and no session yet.
    let (b, after, verifier) = password_step(&app, &client_id, "tia@example.com", &[]).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert!(after.body.contains("Enter a code"), "{}", after.body);
    assert_eq!(b.get("/account").await.status, 303, "not signed in yet");

    // The code that confirmed the set-up is used up; so is any code of an earlier step.
    let replay = second_step(&b, &after, &code_now(&clock, &secret)).await;
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert!(replay.body.contains("That code is not valid"));
    // Codes of any length or shape: refused, nothing changes, never a 5xx.
    for bad in [
        "",
        "12345",
        "1234567",
        "abcdef",
        "１２３４５６",
        &"9".repeat(5_000),
    ] {
        let res = second_step(&b, &replay, bad).await;
        assert_eq!(res.status, 401, "{bad:.20}: {}", res.body);
    }
    assert_eq!(b.get("/account").await.status, 303);

    // The next step's code signs in and continues the request.
    clock.advance(chrono::Duration::seconds(30));
    let signed_in = second_step(&b, &replay, &code_now(&clock, &secret)).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let next = signed_in.location.clone().unwrap();
    assert!(next.starts_with("/oauth/authorize?"), "{next}");
    let set_cookies: Vec<String> = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set_cookies
            .iter()
            .any(|c| c.starts_with("castellan_pending=;")),
        "the pending step is cleared: {set_cookies:?}"
    );
    let consent = b.get(&next).await;
    let back = decide(&b, &consent, "approve", None).await;
    let code = back.param("code").unwrap();
    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = castellan_testkit::oauth::claims(body["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], json!(MFA));
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["auth_time"], json!(clock.now().timestamp()));
    // The refresh token tells introspection how the person signed in.
    let refresh = body["refresh_token"].as_str().unwrap();
    let introspected = app.introspect(refresh).await;
    assert_eq!(introspected["active"], json!(true), "{introspected}");
    assert_eq!(introspected["acr"], json!(MFA), "{introspected}");
    assert_eq!(introspected["amr"], json!(["pwd", "otp", "mfa"]));
    // So do the access token (RFC 9068 §2.2.1) and its introspection.
    let access = body["access_token"].as_str().unwrap();
    let at = castellan_testkit::oauth::claims(access);
    assert_eq!(at["acr"], json!(MFA), "{at}");
    assert_eq!(at["amr"], json!(["pwd", "otp", "mfa"]), "{at}");
    assert_eq!(at["auth_time"], json!(clock.now().timestamp()), "{at}");
    let introspected = app.introspect(access).await;
    assert_eq!(introspected["active"], json!(true), "{introspected}");
    assert_eq!(introspected["acr"], json!(MFA), "{introspected}");
    assert_eq!(introspected["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(
        introspected["auth_time"],
        json!(clock.now().timestamp()),
        "{introspected}"
    );

    // The same code again, from another browser after its password: refused.
    let (b2, after2, _) = password_step(&app, &client_id, "tia@example.com", &[]).await;
    let again = second_step(&b2, &after2, &code_now(&clock, &secret)).await;
    assert_eq!(again.status, 401, "{}", again.body);
    // Failed codes are audit events.
    let query = castellan_store::audit::AuditQuery {
        kinds: vec!["second_factor.failed".to_owned()],
        ..castellan_store::audit::AuditQuery::default()
    };
    let (_, failed) = app.store.list_audit_events(&query, 50, 0).await.unwrap();
    assert!(failed >= 8, "{failed} second_factor.failed events");
    let query = castellan_store::audit::AuditQuery {
        kinds: vec!["second_factor.enrolled".to_owned()],
        ..castellan_store::audit::AuditQuery::default()
    };
    let (_, enrolled) = app.store.list_audit_events(&query, 50, 0).await.unwrap();
    assert_eq!(enrolled, 1);
}

#[tokio::test]
async fn a_recovery_code_works_once_and_removing_the_app_needs_a_code() {
    let (app, clock) = app_with_clock().await;
    let client_id = public_client(&app).await;
    let (user_id, _) = add_person(&app, "rex@example.com", &["Acme"]).await;
    let owner = Browser::new(&app);
    sign_in_plain(&owner, "rex@example.com").await;
    let (secret, codes) = enrol(&owner, &clock).await;

    // A recovery code, typed in capitals with a space, signs in once.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let (b, after, _) = password_step(&app, &client_id, "rex@example.com", &[]).await;
    let ok = second_step(&b, &after, &typed).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let (b2, after2, _) = password_step(&app, &client_id, "rex@example.com", &[]).await;
    let used = second_step(&b2, &after2, &codes[3]).await;
    assert_eq!(used.status, 401, "{}", used.body);
    let page = owner.get("/account/two-factor").await;
    assert!(
        page.body.contains("Recovery codes left: 9."),
        "{}",
        page.body
    );

    // Removal with a wrong code changes nothing.
    let removed = owner
        .post(
            "/account/two-factor/remove",
            &[("csrf", &page.hidden("csrf")), ("code", "not-a-code")],
        )
        .await;
    assert_eq!(removed.status, 401, "{}", removed.body);
    assert!(app.store.get_totp(&user_id).await.unwrap().is_some());
    // New recovery codes need a code too; the old ones stop working.
    clock.advance(chrono::Duration::seconds(30));
    let renewed = owner
        .post(
            "/account/two-factor/recovery-codes",
            &[
                ("csrf", &page.hidden("csrf")),
                ("code", &code_now(&clock, &secret)),
            ],
        )
        .await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let fresh = recovery_codes(&renewed);
    assert_eq!(fresh.len(), 10);
    let (b3, after3, _) = password_step(&app, &client_id, "rex@example.com", &[]).await;
    assert_eq!(second_step(&b3, &after3, &codes[5]).await.status, 401);
    // A recovery code removes the app; then the password alone signs in.
    let removed = owner
        .post(
            "/account/two-factor/remove",
            &[("csrf", &page.hidden("csrf")), ("code", &fresh[0])],
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert!(app.store.get_totp(&user_id).await.unwrap().is_none());
    assert_eq!(app.store.recovery_codes(&user_id).await.unwrap().left, 0);
    let (_, plain, _) = password_step(&app, &client_id, "rex@example.com", &[]).await;
    assert_eq!(plain.status, 303, "{}", plain.body);
}

#[tokio::test]
async fn the_password_step_expires_and_a_changed_password_voids_it() {
    let (app, clock) = app_with_clock().await;
    let client_id = public_client(&app).await;
    let (user_id, _) = add_person(&app, "pia@example.com", &["Acme"]).await;
    let owner = Browser::new(&app);
    sign_in_plain(&owner, "pia@example.com").await;
    let (secret, _) = enrol(&owner, &clock).await;

    let (b, after, _) = password_step(&app, &client_id, "pia@example.com", &[]).await;
    clock.advance(chrono::Duration::seconds(301));
    let late = second_step(&b, &after, &code_now(&clock, &secret)).await;
    assert_eq!(late.status, 401, "{}", late.body);
    assert!(late.is_login_form(), "back to the password: {}", late.body);
    assert!(late.body.contains("took too long"));

    // A password changed after the password step voids the step.
    let (b, after, _) = password_step(&app, &client_id, "pia@example.com", &[]).await;
    let hash = castellan_server::people::passwords::hash_password(castellan_core::Secret::new(
        "another long password",
    ))
    .await
    .unwrap();
    app.store
        .set_user_password(&user_id, &hash, None, None)
        .await
        .unwrap();
    clock.advance(chrono::Duration::seconds(30));
    let voided = second_step(&b, &after, &code_now(&clock, &secret)).await;
    assert_eq!(voided.status, 401, "{}", voided.body);
    assert!(voided.is_login_form());
    // Without any password step, the form signs no one in.
    let stranger = Browser::new(&app);
    let page = stranger.get("/login").await;
    let res = stranger
        .post(
            "/login/second-factor",
            &[
                ("csrf", &page.hidden("csrf")),
                ("request", ""),
                ("code", "123456"),
            ],
        )
        .await;
    assert_eq!(res.status, 401);
    assert!(res.is_login_form());
}

#[tokio::test]
async fn acr_values_steps_a_password_session_up_and_the_password_grant_is_refused() {
    let (app, clock) = app_with_clock().await;
    let client_id = public_client(&app).await;
    add_person(&app, "ada@example.com", &["Acme"]).await;
    let (verifier, challenge) = pkce();
    let q = |acr: Option<&str>, prompt: Option<&str>| {
        let mut p = vec![
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("scope", "openid products:read"),
            ("state", "st"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(a) = acr {
            p.push(("acr_values", a));
        }
        if let Some(pr) = prompt {
            p.push(("prompt", pr));
        }
        authorize_query(&p)
    };
    // Discovery says which classes there are.
    let discovery: serde_json::Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["acr_values_supported"],
        json!(["urn:castellan:acr:password", MFA])
    );

    // A person without a second factor: the request goes on, and the ID token says what was
    // reached.
    let b = Browser::new(&app);
    let login = b.get(&q(Some(MFA), None)).await;
    let consent = sign_in(&b, &login, "ada@example.com", PASSWORD).await;
    let code = decide(&b, &consent, "approve", None)
        .await
        .param("code")
        .unwrap();
    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = castellan_testkit::oauth::claims(body["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], json!("urn:castellan:acr:password"));
    assert_eq!(claims["amr"], json!(["pwd"]));

    // Once they set up an app, the same session is asked for it; prompt=none cannot ask.
    let (secret, _) = enrol(&b, &clock).await;
    let silent = b.get(&q(Some(MFA), Some("none"))).await;
    assert_eq!(
        silent.param("error").as_deref(),
        Some("interaction_required")
    );
    let step_up = b.get(&q(Some(MFA), None)).await;
    assert_eq!(step_up.status, 200);
    // Without acr_values the password session still goes straight through.
    assert!(b.get(&q(None, None)).await.param("code").is_some());
    clock.advance(chrono::Duration::seconds(30));
    let stepped = second_step(&b, &step_up, &code_now(&clock, &secret)).await;
    assert_eq!(stepped.status, 303, "{}", stepped.body);
    let back = b.get(stepped.location.as_deref().unwrap()).await;
    let code = back.param("code").unwrap();
    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = castellan_testkit::oauth::claims(body["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], json!(MFA));

    // The password grant has no second step: refused for this person.
    let cli = password_client(&app).await;
    let (status, body) = password_grant(&app, &cli, "ada@example.com", PASSWORD, "127.0.0.1").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("second factor"));
    // The right password is recorded as a refused sign-in, never as a success.
    let query = castellan_store::audit::AuditQuery {
        kinds: vec!["sign_in.succeeded".to_owned(), "sign_in.failed".to_owned()],
        ..castellan_store::audit::AuditQuery::default()
    };
    let (events, _) = app.store.list_audit_events(&query, 50, 0).await.unwrap();
    let grant: Vec<_> = events
        .iter()
        .filter(|e| e.detail.starts_with("password grant"))
        .collect();
    assert_eq!(grant.len(), 1, "{events:?}");
    assert_eq!(grant[0].kind, "sign_in.failed");
    assert!(
        grant[0].detail.contains("second factor"),
        "{}",
        grant[0].detail
    );
}

#[tokio::test]
async fn wrong_codes_are_delayed_like_wrong_passwords() {
    let (app, clock) = app_with_clock().await;
    let client_id = public_client(&app).await;
    add_person(&app, "ned@example.com", &["Acme"]).await;
    let owner = Browser::new(&app);
    sign_in_plain(&owner, "ned@example.com").await;
    let (secret, _) = enrol(&owner, &clock).await;
    let (b, mut page, _) = password_step(&app, &client_id, "ned@example.com", &[]).await;
    // Five wrong codes from one address are refused as wrong; then each attempt, even with
    // the right code, waits for a delay.
    for _ in 0..5 {
        page = second_step(&b, &page, "000001").await;
        assert_eq!(page.status, 401, "{}", page.body);
    }
    let delayed = second_step(&b, &page, "000002").await;
    assert_eq!(delayed.status, 429, "{}", delayed.body);
    assert!(delayed.headers.get("retry-after").is_some());
    let still = second_step(&b, &delayed, &code_now(&clock, &secret)).await;
    assert_eq!(still.status, 429, "{}", still.body);
    assert_eq!(b.get("/account").await.status, 303, "still not signed in");
    // Once the delay has passed, the right code signs in.
    clock.advance(chrono::Duration::seconds(30));
    let signed_in = second_step(&b, &still, &code_now(&clock, &secret)).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
}

/// Posts the members page's policy form for `organization` (`required` "1" or "0").
async fn require(b: &Browser, organization: &str, csrf: &str, required: &str) -> Page {
    b.post(
        "/account/members/second-factor",
        &[
            ("csrf", csrf),
            ("organization", organization),
            ("required", required),
        ],
    )
    .await
}

/// Posts the set-up form of a sign-in with `code`.
async fn set_up_step(b: &Browser, page: &Page, code: &str) -> Page {
    assert!(
        page.body.contains("action=\"/login/second-factor/setup\""),
        "expected the set-up page: {}",
        page.body
    );
    b.post(
        "/login/second-factor/setup",
        &[
            ("csrf", &page.hidden("csrf")),
            ("request", &page.hidden("request")),
            ("secret", &page.hidden("secret")),
            ("code", code),
        ],
    )
    .await
}

#[tokio::test]
async fn an_organization_can_require_a_second_factor_and_members_set_one_up_at_sign_in() {
    let (app, clock) = app_with_clock().await;
    let client_id = public_client(&app).await;
    let (owner_id, orgs) = add_person(&app, "olga@example.com", &["Acme"]).await;
    let acme = orgs[0].clone();
    app.store
        .upsert_membership(&castellan_core::user::Membership {
            organization_id: acme.clone(),
            user_id: owner_id.clone(),
            role: castellan_core::user::Role::Owner,
        })
        .await
        .unwrap();
    let (max_id, _) = add_person(&app, "max@example.com", &[]).await;
    app.store
        .upsert_membership(&castellan_core::user::Membership {
            organization_id: acme.clone(),
            user_id: max_id.clone(),
            role: castellan_core::user::Role::Manager,
        })
        .await
        .unwrap();
    let max = Browser::new(&app);
    sign_in_plain(&max, "max@example.com").await;
    assert_eq!(max.get("/account").await.status, 200);

    // An OWNER without a second factor cannot require one; with one, they can. A MANAGER
    // cannot.
    let owner = Browser::new(&app);
    sign_in_plain(&owner, "olga@example.com").await;
    let members = owner
        .get(&format!("/account/members?organization={acme}"))
        .await;
    assert!(members
        .body
        .contains("Members may sign in with a password alone"));
    let refused = require(&owner, &acme, &members.hidden("csrf"), "1").await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(
        app.store
            .organization_second_factor_policy(&acme)
            .await
            .unwrap(),
        SecondFactorPolicy::Optional
    );
    let max_page = max.get("/account/password").await;
    // Someone who is not a member at all: as if the organization did not exist.
    add_person(&app, "ian@example.com", &["Elsewhere"]).await;
    let stranger = Browser::new(&app);
    sign_in_plain(&stranger, "ian@example.com").await;
    let stranger_page = stranger.get("/account/password").await;
    let refused = require(&stranger, &acme, &stranger_page.hidden("csrf"), "1").await;
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert_eq!(
        app.store
            .organization_second_factor_policy(&acme)
            .await
            .unwrap(),
        SecondFactorPolicy::Optional
    );
    assert_eq!(
        require(&max, &acme, &max_page.hidden("csrf"), "1")
            .await
            .status,
        403
    );
    enrol(&owner, &clock).await;
    let members = owner
        .get(&format!("/account/members?organization={acme}"))
        .await;
    let on = require(&owner, &acme, &members.hidden("csrf"), "1").await;
    assert_eq!(on.status, 303, "{}", on.body);
    assert_eq!(
        app.store
            .organization_second_factor_policy(&acme)
            .await
            .unwrap(),
        SecondFactorPolicy::Any
    );
    let query = castellan_store::audit::AuditQuery {
        kinds: vec!["organization.second_factor_policy".to_owned()],
        ..castellan_store::audit::AuditQuery::default()
    };
    let (events, _) = app.store.list_audit_events(&query, 5, 0).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail, "required");
    // The OWNER's own session was a password session: it counts for nothing now either.
    assert_eq!(owner.get("/account").await.status, 303);

    // Max's password session no longer counts.
    assert_eq!(max.get("/account").await.status, 303);
    // At the next sign-in Max sets up an app before any session starts.
    let (b, setup, verifier) = password_step(&app, &client_id, "max@example.com", &[]).await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    assert!(setup.body.contains("<svg"), "{}", setup.body);
    assert_eq!(setup.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(b.get("/account").await.status, 303, "no session yet");
    let secret = text_of(&setup, "totp-secret").replace(' ', "");
    let wrong = set_up_step(&b, &setup, "not-a-code").await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(app
        .store
        .get_totp(&max_id)
        .await
        .unwrap()
        .unwrap()
        .confirmed_at
        .is_none());
    let done = set_up_step(&b, &wrong, &code_now(&clock, &secret)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(recovery_codes(&done).len(), 10);
    let next = {
        let needle = "href=\"";
        let at = done.body.find("id=\"continue\"").unwrap();
        let start = done.body[..at].rfind(needle).unwrap() + needle.len();
        let end = done.body[start..].find('"').unwrap() + start;
        unescape(&done.body[start..end])
    };
    assert!(next.starts_with("/oauth/authorize?"), "{next}");
    let consent = b.get(&next).await;
    let code = decide(&b, &consent, "approve", None)
        .await
        .param("code")
        .unwrap();
    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = castellan_testkit::oauth::claims(body["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], json!(MFA));

    // Turned off again, a password session counts once more.
    let owner2 = Browser::new(&app);
    let login = owner2.get("/login").await;
    let after = owner2
        .post(
            "/login",
            &[
                ("csrf", &login.hidden("csrf")),
                ("request", ""),
                ("email", "olga@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    clock.advance(chrono::Duration::seconds(30));
    let stored = app.store.get_totp(&owner_id).await.unwrap().unwrap();
    let owner_secret = stored.secret.expose().to_owned();
    let signed = second_step(&owner2, &after, &code_now(&clock, &owner_secret)).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let members = owner2
        .get(&format!("/account/members?organization={acme}"))
        .await;
    assert!(members
        .body
        .contains("Members must sign in with a second factor"));
    let off = require(&owner2, &acme, &members.hidden("csrf"), "0").await;
    assert_eq!(off.status, 303, "{}", off.body);
    assert_eq!(
        app.store
            .organization_second_factor_policy(&acme)
            .await
            .unwrap(),
        SecondFactorPolicy::Optional
    );
}

#[tokio::test]
async fn a_deployment_can_require_a_second_factor_of_everyone() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(
        |c| c.pages.require_second_factor = true,
        Arc::<ManualClock>::clone(&clock),
    )
    .await;
    let client_id = public_client(&app).await;
    add_person(&app, "zoe@example.com", &[]).await;
    let (b, setup, _) = password_step(&app, &client_id, "zoe@example.com", &[]).await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    assert!(
        setup.body.contains("Set up two-step sign-in"),
        "{}",
        setup.body
    );
    assert_eq!(b.get("/account").await.status, 303);
    // The password grant cannot ask for one: refused.
    let cli = password_client(&app).await;
    let (status, body) = password_grant(&app, &cli, "zoe@example.com", PASSWORD, "127.0.0.1").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

// ---------------------------------------------------------------------------------------------
// Attacks found in review: each replays the attack and must be refused.

#[tokio::test]
async fn typed_sign_in_names_cannot_delay_someone_elses_second_factor() {
    // Attack: the password grant (or login form) with the "email" `second-factor:<user id>`
    // counted under the same name as that person's code attempts, so anyone knowing a user id
    // (every ID token's `sub`) could keep their second step delayed.
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(
        |c| c.http.trusted_proxies = vec!["127.0.0.0/8".into(), "::1".into()],
        Arc::<ManualClock>::clone(&clock),
    )
    .await;
    let client_id = public_client(&app).await;
    let (user_id, _) = add_person(&app, "vic@example.com", &["Acme"]).await;
    let owner = Browser::new(&app);
    sign_in_plain(&owner, "vic@example.com").await;
    let (secret, _) = enrol(&owner, &clock).await;
    let cli = password_client(&app).await;
    // The code of the next step, unused; the attack runs within it.
    clock.advance(chrono::Duration::seconds(30));
    for n in 0..30 {
        let (status, _) = password_grant(
            &app,
            &cli,
            &format!("second-factor:{user_id}"),
            "guess",
            &format!("203.0.113.{n}"),
        )
        .await;
        assert!((400..500).contains(&status), "{status}");
    }
    let (b, after, _) = password_step(&app, &client_id, "vic@example.com", &[]).await;
    let res = second_step(&b, &after, &code_now(&clock, &secret)).await;
    assert_eq!(
        res.status, 303,
        "the person's own code is not delayed: {}",
        res.body
    );
}

#[tokio::test]
async fn setting_up_an_app_ends_the_other_sessions_and_never_shows_the_key_to_another() {
    let (app, clock) = app_with_clock().await;
    add_person(&app, "una@example.com", &["Acme"]).await;
    // Attack 1: a session signed in with a stolen password before the person set up an app
    // kept working for its whole lifetime.
    let thief = Browser::new(&app);
    sign_in_plain(&thief, "una@example.com").await;
    let owner = Browser::new(&app);
    sign_in_plain(&owner, "una@example.com").await;
    let page = owner.get("/account/two-factor").await;
    let started = owner
        .post(
            "/account/two-factor/start",
            &[("csrf", &page.hidden("csrf")), ("password", PASSWORD)],
        )
        .await;
    let secret = text_of(&started, "totp-secret").replace(' ', "");
    // Attack 2: another session of the account posts a wrong code while the owner sets up,
    // and the answer showed the owner's new key.
    let thief_page = thief.get("/account/two-factor").await;
    let peek = thief
        .post(
            "/account/two-factor/confirm",
            &[("csrf", &thief_page.hidden("csrf")), ("code", "000000")],
        )
        .await;
    assert!(
        !peek.body.replace(' ', "").contains(&secret),
        "another session never sees the key being set up"
    );
    let confirmed = owner
        .post(
            "/account/two-factor/confirm",
            &[
                ("csrf", &started.hidden("csrf")),
                ("secret", &started.hidden("secret")),
                ("code", &code_now(&clock, &secret)),
            ],
        )
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_eq!(
        thief.get("/account").await.status,
        303,
        "the other session ended"
    );
    assert_eq!(owner.get("/account").await.status, 200, "this one stays");
}

#[tokio::test]
async fn a_password_session_cannot_skip_the_checks_by_posting_the_decision() {
    // Attack: a password-only session of a person with an app posted the consent decision
    // directly with a request asking acr_values=mfa: the code was issued without the step-up.
    let (app, clock) = app_with_clock().await;
    let client_id = public_client(&app).await;
    add_person(&app, "wes@example.com", &["Acme"]).await;
    let b = Browser::new(&app);
    sign_in_plain(&b, "wes@example.com").await;
    enrol(&b, &clock).await;
    // `b` is still the password session that set the app up.
    let (_, challenge) = pkce();
    let query = authorize_query(&[
        ("response_type", "code"),
        ("client_id", &client_id),
        ("scope", "openid products:read"),
        ("state", "st"),
        ("acr_values", MFA),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let request = query.trim_start_matches("/oauth/authorize?").to_owned();
    let page = b.get("/account/password").await;
    let res = b
        .post(
            "/oauth/authorize/decision",
            &[
                ("csrf", &page.hidden("csrf")),
                ("request", &request),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(res.status, 200, "{:?} {}", res.location, res.body);
    assert!(res.location.is_none(), "no code, no redirect");
    assert!(
        res.body.contains("action=\"/login/second-factor\""),
        "the second factor is asked for: {}",
        res.body
    );
}

#[tokio::test]
async fn a_step_up_keeps_when_the_person_signed_in() {
    // Attack: POST /login/second-factor from a password session made a new session whose
    // auth_time was now, so prompt=login / max_age were met without the password.
    let (app, clock) = app_with_clock().await;
    let client_id = public_client(&app).await;
    add_person(&app, "xia@example.com", &["Acme"]).await;
    let b = Browser::new(&app);
    sign_in_plain(&b, "xia@example.com").await;
    let signed_in_at = clock.now().timestamp();
    let (secret, _) = enrol(&b, &clock).await;
    clock.advance(chrono::Duration::seconds(600));
    let (verifier, challenge) = pkce();
    let step_up = b
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("scope", "openid products:read"),
            ("state", "st"),
            ("acr_values", MFA),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    let stepped = second_step(&b, &step_up, &code_now(&clock, &secret)).await;
    assert_eq!(stepped.status, 303, "{}", stepped.body);
    let consent = b.get(stepped.location.as_deref().unwrap()).await;
    let code = decide(&b, &consent, "approve", None)
        .await
        .param("code")
        .unwrap();
    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = castellan_testkit::oauth::claims(body["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], json!(MFA));
    assert_eq!(
        claims["auth_time"],
        json!(signed_in_at),
        "the password was typed then, not at the step-up"
    );
}

#[tokio::test]
async fn ten_wrong_codes_lock_the_app_until_a_recovery_code_is_used() {
    // Attack: with the password and many addresses, guessing six-digit codes was held back
    // only by the password delays, which a right code of the person cleared.
    let (app, clock) = app_with_clock_allowing(1_000).await;
    let client_id = public_client(&app).await;
    add_person(&app, "yul@example.com", &["Acme"]).await;
    let owner = Browser::new(&app);
    sign_in_plain(&owner, "yul@example.com").await;
    let (secret, codes) = enrol(&owner, &clock).await;
    let (b, mut page, _) = password_step(&app, &client_id, "yul@example.com", &[]).await;
    for _ in 0..10 {
        page = second_step(&b, &page, "000001").await;
        assert_eq!(page.status, 401, "{}", page.body);
    }
    clock.advance(chrono::Duration::seconds(30));
    let locked = second_step(&b, &page, &code_now(&clock, &secret)).await;
    assert_eq!(locked.status, 401, "the right code is refused now");
    assert!(
        locked.body.contains("Too many wrong codes"),
        "{}",
        locked.body
    );
    let unlocked = second_step(&b, &locked, &codes[0]).await;
    assert_eq!(unlocked.status, 303, "{}", unlocked.body);
    // The app's codes work again.
    let (b2, after2, _) = password_step(&app, &client_id, "yul@example.com", &[]).await;
    clock.advance(chrono::Duration::seconds(30));
    let again = second_step(&b2, &after2, &code_now(&clock, &secret)).await;
    assert_eq!(again.status, 303, "{}", again.body);
}
