//! Passkeys over HTTP, answered by a software passkey (`support::webauthn`): registered from the
//! account page (the password asked again), signing in without a password (a discoverable
//! credential) and as the second step after one, renamed and removed; an organization requiring
//! passkeys; and every bad answer (another site's, another relying party's, a replayed or
//! unknown ceremony, a tampered signature, a counter going backwards, malformed or oversized
//! JSON) refused with a clear message, changing nothing.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::pages::*;
use crate::support::webauthn::SoftPasskey;
use castellan_core::authn::SecondFactorPolicy;
use castellan_testkit::TestApp;
use serde_json::{json, Value};

/// A wrong answer a case builds from the options.
type Answer<'a> = Box<dyn Fn(&mut SoftPasskey, &Value) -> String + 'a>;

/// A server whose issuer is `http://localhost:<port>`: its relying party id and origin.
async fn app() -> (TestApp, String, String) {
    let app = TestApp::spawn_as_localhost_issuer(|_| {}).await;
    let origin = app.state.config.issuer.clone();
    (app, "localhost".to_owned(), origin)
}

/// Posts a form to an options path: the status and the JSON answer.
async fn options(b: &Browser, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = b
        .http
        .post(format!("{}{path}", b.base))
        .header("origin", &b.base)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// Registers `passkey` as `name` from the account's passkeys page of the signed-in browser.
async fn register(b: &Browser, passkey: &mut SoftPasskey, rp: &str, origin: &str, name: &str) {
    let page = b.get("/account/passkeys").await;
    assert_eq!(page.status, 200);
    let csrf = page.hidden("csrf");
    let (status, opts) = options(
        b,
        "/account/passkeys/options",
        &[("csrf", &csrf), ("name", name), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(status, 200, "{opts}");
    let selection = &opts["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required", "{opts}");
    assert_eq!(selection["userVerification"], "required", "{opts}");
    let answer = passkey.register(&opts, rp, origin);
    let done = b
        .post(
            "/account/passkeys",
            &[
                ("csrf", &csrf),
                ("ceremony", opts["ceremony"].as_str().unwrap()),
                ("credential", &answer.to_string()),
                ("name", name),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("/account/passkeys?done=added")
    );
}

/// A person signed in with their password in a new browser.
async fn signed_in(app: &TestApp, email: &str, orgs: &[&str]) -> (Browser, String, Vec<String>) {
    let (id, org_ids) = add_person(app, email, orgs).await;
    let b = Browser::new(app);
    sign_in_plain(&b, email).await;
    (b, id, org_ids)
}

/// The `amr` of the browser's session, as stored.
async fn session_amr(app: &TestApp, user_id: &str) -> Vec<String> {
    let sessions = app
        .store
        .list_sessions(user_id, chrono::Utc::now())
        .await
        .unwrap();
    sessions.iter().map(|s| s.amr.stored()).collect()
}

/// Starts a passkey sign-in from the login page of `b`: the page's CSRF token and the options.
async fn sign_in_options(b: &Browser) -> (String, Value) {
    let login = b.get("/login").await;
    assert!(
        login.body.contains("Sign in with a passkey"),
        "{}",
        login.body
    );
    let csrf = login.hidden("csrf");
    let (status, opts) = options(b, "/login/passkey/options", &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{opts}");
    (csrf, opts)
}

async fn answer_sign_in(b: &Browser, csrf: &str, opts: &Value, answer: &Value) -> Page {
    b.post(
        "/login/passkey",
        &[
            ("csrf", csrf),
            ("request", ""),
            ("ceremony", opts["ceremony"].as_str().unwrap_or_default()),
            ("credential", &answer.to_string()),
        ],
    )
    .await
}

#[tokio::test]
async fn a_registered_passkey_signs_in_without_a_password() {
    let (app, rp, origin) = app().await;
    let (b, id, _) = signed_in(&app, "pia@example.com", &[]).await;
    let mut passkey = SoftPasskey::new();
    register(&b, &mut passkey, &rp, &origin, "Work laptop").await;
    let page = b.get("/account/passkeys").await;
    assert!(page.body.contains("Work laptop"), "{}", page.body);
    assert!(page.body.contains("this device or key only"));
    let stored = app.store.list_passkeys(&id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name, "Work laptop");
    assert!(stored[0].last_used_at.is_none());

    // A new browser signs in with it alone: the options ask for any discoverable passkey.
    let other = Browser::new(&app);
    let (csrf, opts) = sign_in_options(&other).await;
    assert_eq!(opts["publicKey"]["userVerification"], "required");
    assert!(opts["publicKey"]["allowCredentials"]
        .as_array()
        .is_none_or(Vec::is_empty));
    assert_eq!(opts["publicKey"]["rpId"], "localhost");
    let answer = passkey.sign_in(&opts, &rp, &origin, false);
    let done = answer_sign_in(&other, &csrf, &opts, &answer).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/account"));
    assert_eq!(other.get("/account").await.status, 200);
    let amrs = session_amr(&app, &id).await;
    assert!(amrs.contains(&"hwk".to_owned()), "{amrs:?}");
    let stored = app.store.list_passkeys(&id).await.unwrap();
    assert!(stored[0].last_used_at.is_some());

    // The same answer again: the ceremony was used up.
    let again = answer_sign_in(&Browser::new(&app), &csrf, &opts, &answer).await;
    assert_eq!(again.status, 403, "a fresh browser has no CSRF cookie");
    let third = Browser::new(&app);
    let (csrf3, _) = sign_in_options(&third).await;
    let replayed = answer_sign_in(&third, &csrf3, &opts, &answer).await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    assert!(replayed.body.contains("expired or was already answered"));
    assert_eq!(third.get("/account").await.status, 303);
}

#[tokio::test]
async fn a_passkey_is_the_second_step_after_the_password() {
    let (app, rp, origin) = app().await;
    let (b, id, _) = signed_in(&app, "quin@example.com", &[]).await;
    let mut passkey = SoftPasskey::new();
    passkey.synced = true;
    register(&b, &mut passkey, &rp, &origin, "Phone").await;

    // The password alone now leads to the second step, which offers the passkey.
    let other = Browser::new(&app);
    let login = other.get("/login").await;
    let step = other
        .post(
            "/login",
            &[
                ("csrf", &login.hidden("csrf")),
                ("request", ""),
                ("email", "quin@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(step.body.contains("Use a passkey"), "{}", step.body);
    assert!(!step.body.contains("action=\"/login/second-factor\""));
    let csrf = step.hidden("csrf");
    let (status, opts) = options(&other, "/login/passkey/options", &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{opts}");
    let allowed = opts["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "{opts}");

    // Someone else's passkey does not pass for this person's.
    let (_, _, _) = signed_in(&app, "rafe@example.com", &[]).await;
    let mut stranger = SoftPasskey::new();
    let stranger_browser = Browser::new(&app);
    sign_in_plain(&stranger_browser, "rafe@example.com").await;
    register(&stranger_browser, &mut stranger, &rp, &origin, "Rafe's").await;
    let wrong = stranger.sign_in(&opts, &rp, &origin, false);
    let refused = answer_sign_in(&other, &csrf, &opts, &wrong).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body.contains("not registered here"));

    let (status, opts) = options(&other, "/login/passkey/options", &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    let answer = passkey.sign_in(&opts, &rp, &origin, false);
    let done = answer_sign_in(&other, &csrf, &opts, &answer).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let amrs = session_amr(&app, &id).await;
    assert!(amrs.contains(&"pwd swk".to_owned()), "{amrs:?}");
}

#[tokio::test]
async fn bad_answers_are_refused_and_change_nothing() {
    let (app, rp, origin) = app().await;
    let (b, id, _) = signed_in(&app, "sol@example.com", &[]).await;
    let page = b.get("/account/passkeys").await;
    let csrf = page.hidden("csrf");
    let start = || async {
        let (status, opts) = options(
            &b,
            "/account/passkeys/options",
            &[("csrf", &csrf), ("name", "Key"), ("password", PASSWORD)],
        )
        .await;
        assert_eq!(status, 200, "{opts}");
        opts
    };
    let finish = |opts: Value, credential: String| {
        let b = &b;
        let csrf = csrf.clone();
        async move {
            b.post(
                "/account/passkeys",
                &[
                    ("csrf", csrf.as_str()),
                    ("ceremony", opts["ceremony"].as_str().unwrap_or("")),
                    ("credential", &credential),
                    ("name", "Key"),
                ],
            )
            .await
        }
    };

    // The password is asked again: a stolen session alone adds no passkey.
    let (status, body) = options(
        &b,
        "/account/passkeys/options",
        &[("csrf", &csrf), ("name", "Key"), ("password", "wrong")],
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "That is not your current password.");

    let cases: Vec<(&str, Answer<'_>, u16, &str)> = vec![
        (
            "another site",
            Box::new(|p, o| {
                p.register(o, "localhost", "http://evil.example")
                    .to_string()
            }),
            400,
            "answered another site",
        ),
        (
            "another relying party",
            Box::new(|p, o| p.register(o, "evil.example", &origin).to_string()),
            400,
            "another relying party",
        ),
        (
            "no user verification",
            Box::new(|p, o| {
                p.verified = false;
                let a = p.register(o, "localhost", &origin).to_string();
                p.verified = true;
                a
            }),
            400,
            "did not verify you",
        ),
        (
            "malformed JSON",
            Box::new(|_, _| "{\"id\": [".to_owned()),
            400,
            "could not be read",
        ),
        (
            "not a credential",
            Box::new(|_, _| "{\"id\": \"AAAA\", \"type\": \"public-key\"}".to_owned()),
            400,
            "could not be read",
        ),
        (
            "oversized",
            Box::new(|_, _| format!("\"{}\"", "A".repeat(13_000))),
            400,
            "too long",
        ),
    ];
    for (what, answer, status, message) in cases {
        let opts = start().await;
        let mut passkey = SoftPasskey::new();
        let credential = answer(&mut passkey, &opts);
        let res = finish(opts, credential).await;
        assert_eq!(res.status, status, "{what}: {}", res.body);
        assert!(res.body.contains(message), "{what}: {}", res.body);
        assert!(
            app.store.list_passkeys(&id).await.unwrap().is_empty(),
            "{what}"
        );
    }

    // A ceremony that does not exist, of any length, and one answered twice.
    for ceremony in ["", "x", &"y".repeat(5_000)] {
        let res = b
            .post(
                "/account/passkeys",
                &[
                    ("csrf", &csrf),
                    ("ceremony", ceremony),
                    ("credential", "{}"),
                    ("name", "Key"),
                ],
            )
            .await;
        assert_eq!(res.status, 400, "{}", res.body);
        assert!(res.body.contains("expired or was already answered"));
    }
    let opts = start().await;
    let mut passkey = SoftPasskey::new();
    let answer = passkey.register(&opts, &rp, &origin).to_string();
    assert_eq!(finish(opts.clone(), answer.clone()).await.status, 303);
    let again = finish(opts, answer).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert_eq!(app.store.list_passkeys(&id).await.unwrap().len(), 1);

    // The same passkey registered twice.
    let opts = start().await;
    let dup = passkey.register(&opts, &rp, &origin).to_string();
    let res = finish(opts, dup).await;
    assert_eq!(res.status, 409, "{}", res.body);
    assert_eq!(app.store.list_passkeys(&id).await.unwrap().len(), 1);

    // Sign-in answers: a tampered signature, another site, a counter going backwards.
    let other = Browser::new(&app);
    let (csrf2, opts) = sign_in_options(&other).await;
    let tampered = passkey.sign_in(&opts, &rp, &origin, true);
    let res = answer_sign_in(&other, &csrf2, &opts, &tampered).await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("did not verify"), "{}", res.body);
    let (_, opts) = sign_in_options(&other).await;
    let elsewhere = passkey.sign_in(&opts, &rp, "http://evil.example", false);
    let res = answer_sign_in(&other, &csrf2, &opts, &elsewhere).await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("another site"), "{}", res.body);
    let (_, opts) = sign_in_options(&other).await;
    let good = passkey.sign_in(&opts, &rp, &origin, false);
    assert_eq!(
        answer_sign_in(&other, &csrf2, &opts, &good).await.status,
        303
    );
    let stored = app.store.list_passkeys(&id).await.unwrap();
    let clone_browser = Browser::new(&app);
    let (csrf3, opts) = sign_in_options(&clone_browser).await;
    // A copy of the authenticator, behind the original: its counter goes backwards.
    passkey.rewind(2);
    let cloned = passkey.sign_in(&opts, &rp, &origin, false);
    let res = answer_sign_in(&clone_browser, &csrf3, &opts, &cloned).await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("counter went backwards"), "{}", res.body);
    assert_eq!(clone_browser.get("/account").await.status, 303);
    assert_eq!(app.store.list_passkeys(&id).await.unwrap(), stored);
}

#[tokio::test]
async fn passkeys_are_renamed_and_removed_with_the_password() {
    let (app, rp, origin) = app().await;
    let (b, id, _) = signed_in(&app, "tia@example.com", &[]).await;
    let mut passkey = SoftPasskey::new();
    register(&b, &mut passkey, &rp, &origin, "Old name").await;
    let stored = app.store.list_passkeys(&id).await.unwrap();
    let pk = stored[0].id.clone();
    let page = b.get("/account/passkeys").await;
    let csrf = page.hidden("csrf");
    let res = b
        .post(
            "/account/passkeys/rename",
            &[("csrf", &csrf), ("passkey", &pk), ("name", "New name")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(
        app.store.list_passkeys(&id).await.unwrap()[0].name,
        "New name"
    );
    let res = b
        .post(
            "/account/passkeys/rename",
            &[("csrf", &csrf), ("passkey", &pk), ("name", " \u{7} ")],
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.body);

    // Another person's browser cannot touch it.
    let (other, _, _) = signed_in(&app, "uma@example.com", &[]).await;
    let other_csrf = other.get("/account/passkeys").await.hidden("csrf");
    let res = other
        .post(
            "/account/passkeys/remove",
            &[
                ("csrf", &other_csrf),
                ("passkey", &pk),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status, 404, "{}", res.body);

    let res = b
        .post(
            "/account/passkeys/remove",
            &[("csrf", &csrf), ("passkey", &pk), ("password", "wrong")],
        )
        .await;
    assert_eq!(res.status, 401, "{}", res.body);
    assert_eq!(app.store.list_passkeys(&id).await.unwrap().len(), 1);
    let res = b
        .post(
            "/account/passkeys/remove",
            &[("csrf", &csrf), ("passkey", &pk), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert!(app.store.list_passkeys(&id).await.unwrap().is_empty());

    // It no longer signs in.
    let fresh = Browser::new(&app);
    let (csrf, opts) = sign_in_options(&fresh).await;
    let answer = passkey.sign_in(&opts, &rp, &origin, false);
    let res = answer_sign_in(&fresh, &csrf, &opts, &answer).await;
    assert_eq!(res.status, 401, "{}", res.body);
    assert!(res.body.contains("not registered here"));
}

#[tokio::test]
async fn an_organization_can_require_passkeys() {
    let (app, rp, origin) = app().await;
    let (_, id, orgs) = signed_in(&app, "vic@example.com", &["Acme Retail"]).await;
    app.store
        .set_second_factor_policy(&orgs[0], SecondFactorPolicy::Passkey)
        .await
        .unwrap();
    // A new sign-in with the password leads to registering a passkey, then the session starts.
    let b = Browser::new(&app);
    let login = b.get("/login").await;
    let step = b
        .post(
            "/login",
            &[
                ("csrf", &login.hidden("csrf")),
                ("request", ""),
                ("email", "vic@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(step.body.contains("Register a passkey"), "{}", step.body);
    assert_eq!(b.get("/account").await.status, 303, "no session yet");
    let csrf = step.hidden("csrf");
    let (status, opts) = options(
        &b,
        "/login/passkey/setup/options",
        &[("csrf", &csrf), ("name", "Laptop")],
    )
    .await;
    assert_eq!(status, 200, "{opts}");
    let mut passkey = SoftPasskey::new();
    let answer = passkey.register(&opts, &rp, &origin);
    let done = b
        .post(
            "/login/passkey/setup",
            &[
                ("csrf", &csrf),
                ("request", ""),
                ("ceremony", opts["ceremony"].as_str().unwrap()),
                ("credential", &answer.to_string()),
                ("name", "Laptop"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(b.get("/account").await.status, 200);
    assert!(session_amr(&app, &id).await.contains(&"pwd hwk".to_owned()));

    // Without the pending password step, nothing registers.
    let stranger = Browser::new(&app);
    let csrf = stranger.get("/login").await.hidden("csrf");
    let (status, body) = options(
        &stranger,
        "/login/passkey/setup/options",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 401, "{body}");

    // Requiring passkeys needs one's own: an OWNER without one is refused.
    let (owner, owner_id, owner_orgs) = signed_in(&app, "wes@example.com", &["Wes Ltd"]).await;
    app.store
        .upsert_membership(&castellan_core::user::Membership {
            organization_id: owner_orgs[0].clone(),
            user_id: owner_id,
            role: castellan_core::user::Role::Owner,
        })
        .await
        .unwrap();
    let members = owner
        .get(&format!("/account/members?organization={}", owner_orgs[0]))
        .await;
    let res = owner
        .post(
            "/account/members/second-factor",
            &[
                ("csrf", &members.hidden("csrf")),
                ("organization", &owner_orgs[0]),
                ("required", "passkey"),
            ],
        )
        .await;
    assert_eq!(res.status, 409, "{}", res.body);
    assert!(res.body.contains("Add a passkey for yourself first"));
    assert_eq!(
        app.store
            .organization_second_factor_policy(&owner_orgs[0])
            .await
            .unwrap(),
        SecondFactorPolicy::Optional
    );
}

/// The password step of `email` in a new browser: the browser and the page it led to.
async fn password_step(app: &TestApp, email: &str) -> (Browser, Page) {
    let b = Browser::new(app);
    let login = b.get("/login").await;
    let step = b
        .post(
            "/login",
            &[
                ("csrf", &login.hidden("csrf")),
                ("request", ""),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.body);
    (b, step)
}

#[tokio::test]
async fn the_password_alone_registers_no_passkey_for_a_person_with_a_second_factor() {
    let (app, rp, origin) = app().await;
    // A person with a passkey, and one with an authenticator app.
    let (b, owner, _) = signed_in(&app, "xia@example.com", &[]).await;
    let mut theirs = SoftPasskey::new();
    register(&b, &mut theirs, &rp, &origin, "Xia's key").await;
    let (app_user, _) = add_person(&app, "yan@example.com", &[]).await;
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let now = chrono::Utc::now();
    assert!(app.store.start_totp(&app_user, secret, now).await.unwrap());
    assert!(app
        .store
        .confirm_totp(&app_user, secret, 1, &[[9; 32]], now)
        .await
        .unwrap());
    for (email, id) in [("xia@example.com", &owner), ("yan@example.com", &app_user)] {
        // Someone who knows the password gets the second step, then tries to register their
        // own passkey instead of proving the second factor.
        let (attacker, step) = password_step(&app, email).await;
        let csrf = step.hidden("csrf");
        let (status, body) = options(
            &attacker,
            "/login/passkey/setup/options",
            &[("csrf", &csrf), ("name", "Mine")],
        )
        .await;
        assert_eq!(status, 403, "{email}: {body}");
        let before = app.store.list_passkeys(id).await.unwrap().len();
        let mut stolen = SoftPasskey::new();
        let done = attacker
            .post(
                "/login/passkey/setup",
                &[
                    ("csrf", &csrf),
                    ("request", ""),
                    ("ceremony", body["ceremony"].as_str().unwrap_or("x")),
                    (
                        "credential",
                        &stolen
                            .register(&json!({"publicKey": {"challenge": "AAAA", "user": {"id": "AAAA"}}}), &rp, &origin)
                            .to_string(),
                    ),
                    ("name", "Mine"),
                ],
            )
            .await;
        assert_eq!(done.status, 403, "{email}: {}", done.body);
        assert_eq!(app.store.list_passkeys(id).await.unwrap().len(), before);
        assert_eq!(attacker.get("/account").await.status, 303, "{email}");
    }
    // Nor with a real registration ceremony of the person's (started from their account):
    // the set-up answer itself checks what the pending sign-in may do.
    let csrf = b.get("/account/passkeys").await.hidden("csrf");
    let (status, opts) = options(
        &b,
        "/account/passkeys/options",
        &[("csrf", &csrf), ("name", "Second"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(status, 200, "{opts}");
    let (attacker, step) = password_step(&app, "xia@example.com").await;
    let mut stolen = SoftPasskey::new();
    let done = attacker
        .post(
            "/login/passkey/setup",
            &[
                ("csrf", &step.hidden("csrf")),
                ("request", ""),
                ("ceremony", opts["ceremony"].as_str().unwrap()),
                (
                    "credential",
                    &stolen.register(&opts, &rp, &origin).to_string(),
                ),
                ("name", "Mine"),
            ],
        )
        .await;
    assert_eq!(done.status, 403, "{}", done.body);
    assert_eq!(app.store.list_passkeys(&owner).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_person_with_an_app_proves_it_before_registering_a_required_passkey() {
    let (app, rp, origin) = app().await;
    let (id, orgs) = add_person(&app, "zed@example.com", &["Acme Retail"]).await;
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let now = chrono::Utc::now();
    assert!(app.store.start_totp(&id, secret, now).await.unwrap());
    assert!(app
        .store
        .confirm_totp(&id, secret, 1, &[[9; 32]], now)
        .await
        .unwrap());
    app.store
        .set_second_factor_policy(&orgs[0], SecondFactorPolicy::Passkey)
        .await
        .unwrap();
    // The password leads to the app's code, which leads to registering a passkey.
    let (b, step) = password_step(&app, "zed@example.com").await;
    assert!(
        step.body.contains("action=\"/login/second-factor\""),
        "{}",
        step.body
    );
    let code = castellan_crypto::totp::code_at(
        secret,
        castellan_crypto::totp::step_at(chrono::Utc::now().timestamp()),
    )
    .unwrap();
    let set_up = b
        .post(
            "/login/second-factor",
            &[
                ("csrf", &step.hidden("csrf")),
                ("request", ""),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(set_up.status, 200, "{}", set_up.body);
    assert!(
        set_up.body.contains("Register a passkey"),
        "{}",
        set_up.body
    );
    assert_eq!(b.get("/account").await.status, 303, "no session yet");
    let csrf = set_up.hidden("csrf");
    let (status, opts) = options(
        &b,
        "/login/passkey/setup/options",
        &[("csrf", &csrf), ("name", "Laptop")],
    )
    .await;
    assert_eq!(status, 200, "{opts}");
    let mut passkey = SoftPasskey::new();
    let done = b
        .post(
            "/login/passkey/setup",
            &[
                ("csrf", &csrf),
                ("request", ""),
                ("ceremony", opts["ceremony"].as_str().unwrap()),
                (
                    "credential",
                    &passkey.register(&opts, &rp, &origin).to_string(),
                ),
                ("name", "Laptop"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(b.get("/account").await.status, 200);
    assert!(session_amr(&app, &id)
        .await
        .contains(&"pwd otp hwk".to_owned()));
    // From now on the passkey is what is asked for: the code form is gone.
    let (_, next_time) = password_step(&app, "zed@example.com").await;
    assert!(
        next_time.body.contains("Use a passkey"),
        "{}",
        next_time.body
    );
    assert!(!next_time.body.contains("action=\"/login/second-factor\""));
}
