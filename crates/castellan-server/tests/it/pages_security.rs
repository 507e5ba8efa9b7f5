//! The pages against hostile input (RFC 9700 §4.1, §4.7, §4.16): CSRF,
//! throttled logins, untrusted clients and redirect URIs, open-redirect attempts, clickjacking
//! headers, cookie flags, and garbage of every size — always a 4xx or the error page, never a
//! 5xx, and nothing changes.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::pages::*;
use castellan_core::Environment;
use castellan_testkit::TestApp;
use std::fmt::Write as _;

async fn login_page(app: &TestApp, b: &Browser) -> (String, Page) {
    let client_id = public_client(app).await;
    let (_, challenge) = pkce();
    let page = b
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("scope", "openid products:read"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    assert!(page.is_login_form());
    (client_id, page)
}

fn set_cookies(p: &Page) -> Vec<String> {
    p.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_or_origin_are_refused() {
    let app = TestApp::spawn().await;
    let (user_id, _) = add_person(&app, "eve@example.com", &["Acme"]).await;
    let b = Browser::new(&app);
    let (_, login) = login_page(&app, &b).await;
    let request = login.hidden("request");
    for csrf in ["", "wrong", &"A".repeat(43)] {
        let res = b
            .post(
                "/login",
                &[
                    ("csrf", csrf),
                    ("request", &request),
                    ("email", "eve@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(res.status, 403, "csrf {csrf:?}");
        assert!(set_cookies(&res)
            .iter()
            .all(|c| !c.starts_with("castellan_session=")));
    }
    // The right token from another site.
    let res = page(
        b.http
            .post(format!("{}/login", b.base))
            .header("origin", "https://evil.example")
            .form(&[
                ("csrf", login.hidden("csrf").as_str()),
                ("request", &request),
                ("email", "eve@example.com"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, 403);
    // A fresh browser with no CSRF cookie but a copied token.
    let other = Browser::new(&app);
    let res = other
        .post(
            "/login",
            &[
                ("csrf", &login.hidden("csrf")),
                ("request", &request),
                ("email", "eve@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status, 403);

    // Signed in now, the consent decision, revoke and logout need the token too.
    let consent = sign_in(&b, &login, "eve@example.com", PASSWORD).await;
    assert!(consent.is_consent_form());
    let res = b
        .post(
            "/oauth/authorize/decision",
            &[
                ("csrf", "forged"),
                ("request", &consent.hidden("request")),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(res.status, 403);
    assert!(res.location.is_none());
    assert!(app
        .store
        .consents_of_user(&user_id)
        .await
        .unwrap()
        .is_empty());
    let ok = decide(&b, &consent, "approve", None).await;
    assert!(ok.param("code").is_some());
    let consents = app.store.consents_of_user(&user_id).await.unwrap();
    assert_eq!(consents.len(), 1);
    let res = b
        .post(
            "/account/connected-apps/revoke",
            &[("csrf", "forged"), ("consent", &consents[0].id)],
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(app.store.consents_of_user(&user_id).await.unwrap().len(), 1);
    let res = b.post("/account/logout", &[("csrf", "")]).await;
    assert_eq!(res.status, 403);
    assert_eq!(b.get("/account").await.status, 200, "still signed in");
}

#[tokio::test]
async fn connected_apps_are_listed_and_revoked_and_logout_ends_the_session() {
    let app = TestApp::spawn().await;
    let (user_id, _) = add_person(&app, "fay@example.com", &["Acme"]).await;
    let b = Browser::new(&app);
    let (_, login) = login_page(&app, &b).await;
    let consent = sign_in(&b, &login, "fay@example.com", PASSWORD).await;
    decide(&b, &consent, "approve", None).await;
    let account = b.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("fay@example.com"));
    let apps = b.get("/account/connected-apps").await;
    assert_eq!(apps.status, 200);
    assert!(apps.body.contains("Closient CLI"));
    assert!(apps.body.contains("Acme"));
    assert!(apps.body.contains("products:read"));
    let consent_id = apps.hidden("consent");
    let res = b
        .post(
            "/account/connected-apps/revoke",
            &[("csrf", &apps.hidden("csrf")), ("consent", &consent_id)],
        )
        .await;
    assert_eq!(res.status, 303);
    assert!(app
        .store
        .consents_of_user(&user_id)
        .await
        .unwrap()
        .is_empty());
    assert!(b
        .get("/account/connected-apps")
        .await
        .body
        .contains("No app has access"));
    // Someone else's consent id is not found.
    let res = b
        .post(
            "/account/connected-apps/revoke",
            &[("csrf", &apps.hidden("csrf")), ("consent", &consent_id)],
        )
        .await;
    assert_eq!(res.status, 404);
    let res = b
        .post("/account/logout", &[("csrf", &apps.hidden("csrf"))])
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location.as_deref(), Some("/login"));
    let after = b.get("/account").await;
    assert_eq!(after.status, 303, "signed out");
}

#[tokio::test]
async fn logins_are_throttled_and_never_say_whether_the_email_exists() {
    let app = TestApp::spawn().await;
    add_person(&app, "gus@example.com", &[]).await;
    let b = Browser::new(&app);
    let (_, login) = login_page(&app, &b).await;
    let attempt = |email: &'static str, password: &'static str| {
        let csrf = login.hidden("csrf");
        let request = login.hidden("request");
        let b = &b;
        async move {
            b.post(
                "/login",
                &[
                    ("csrf", csrf.as_str()),
                    ("request", request.as_str()),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await
        }
    };
    let unknown = attempt("nobody@example.com", "whatever-password").await;
    let wrong = attempt("gus@example.com", "wrong-password").await;
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(unknown.status, 401);
    for p in [&unknown, &wrong] {
        assert!(p.body.contains("Invalid email or password"));
        assert!(
            p.is_login_form(),
            "the form again, still carrying the request"
        );
        assert!(!p.hidden("request").is_empty());
    }
    for _ in 0..4 {
        assert_eq!(
            attempt("gus@example.com", "wrong-password").await.status,
            401
        );
    }
    // Delayed: even the right password is refused while the delay runs (it is not checked),
    // and no session starts.
    let right = attempt("gus@example.com", PASSWORD).await;
    assert_eq!(right.status, 429);
    assert!(right.body.contains("Too many sign-in attempts"));
    assert!(right.headers.contains_key("retry-after"));
    assert!(set_cookies(&right)
        .iter()
        .all(|c| !c.starts_with("castellan_session=")));
    // Another account from the same address is not locked by this one's failures.
    add_person(&app, "hal@example.com", &[]).await;
    let other = attempt("hal@example.com", PASSWORD).await;
    assert_eq!(other.status, 303);
}

/// A wrong-password attempt on the login page of `b` (its form `login`) for `email`.
async fn guess(b: &Browser, login: &Page, email: &str, password: &str) -> Page {
    b.post(
        "/login",
        &[
            ("csrf", login.hidden("csrf").as_str()),
            ("email", email),
            ("password", password),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_guesses_never_get_past_the_free_attempts() {
    let app = TestApp::spawn().await;
    add_person(&app, "max@example.com", &[]).await;
    let b = std::sync::Arc::new(Browser::new(&app));
    let login = std::sync::Arc::new(b.get("/login").await);
    // 16 guesses at once (under the per-IP policy's 20 per minute): only the 5 free ones may
    // reach the password check; the rest are refused without it.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (b, login) = (std::sync::Arc::clone(&b), std::sync::Arc::clone(&login));
        tasks.spawn(async move {
            guess(&b, &login, "max@example.com", &format!("guess number {i}")).await
        });
    }
    let (mut checked, mut delayed) = (0, 0);
    while let Some(p) = tasks.join_next().await {
        let p = p.unwrap();
        match p.status.as_u16() {
            401 => checked += 1,
            429 => {
                assert!(p.headers.contains_key("retry-after"));
                delayed += 1;
            }
            s => panic!("answered {s}"),
        }
    }
    assert_eq!((checked, delayed), (5, 11));
}

#[tokio::test]
async fn each_further_attempt_waits_twice_as_long_but_is_never_locked_out() {
    let clock = std::sync::Arc::new(castellan_testkit::ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(
        |_| {},
        std::sync::Arc::<castellan_testkit::ManualClock>::clone(&clock),
    )
    .await;
    add_person(&app, "ned@example.com", &[]).await;
    let b = Browser::new(&app);
    let login = b.get("/login").await;
    for _ in 0..5 {
        assert_eq!(
            guess(&b, &login, "ned@example.com", "nope").await.status,
            401
        );
    }
    for wait in [1, 2, 4, 8] {
        let refused = guess(&b, &login, "ned@example.com", "nope").await;
        assert_eq!(refused.status, 429);
        assert_eq!(refused.headers["retry-after"], wait.to_string());
        // A refused attempt does not make the wait longer.
        let again = guess(&b, &login, "ned@example.com", PASSWORD).await;
        assert_eq!(again.headers["retry-after"], wait.to_string());
        clock.advance(chrono::Duration::seconds(wait));
        assert_eq!(
            guess(&b, &login, "ned@example.com", "nope").await.status,
            401
        );
    }
    // The person gets in after the wait with the right password: a delay, not a lockout.
    clock.advance(chrono::Duration::seconds(16));
    let right = guess(&b, &login, "ned@example.com", PASSWORD).await;
    assert_eq!(right.status, 303, "{}", right.body);
}

#[tokio::test]
async fn untrusted_clients_and_redirect_uris_get_an_error_page_and_no_redirect() {
    let app = TestApp::spawn().await;
    let client_id = public_client(&app).await;
    let (two, _) = confidential_client(&app, &[REDIRECT, "https://app.example/cb"]).await;
    let (_, challenge) = pkce();
    let b = Browser::new(&app);
    let base = |id: &str, redirect: Option<&str>| {
        let mut p = vec![
            ("response_type", "code".to_owned()),
            ("client_id", id.to_owned()),
            ("scope", "openid".to_owned()),
            ("state", "s".to_owned()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
        ];
        if let Some(r) = redirect {
            p.push(("redirect_uri", r.to_owned()));
        }
        let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        authorize_query(&refs)
    };
    let cases =
        vec![
        base("no-such-client", Some(REDIRECT)),
        base("bad\u{0}id", Some(REDIRECT)),
        base(&"x".repeat(300), Some(REDIRECT)),
        "/oauth/authorize?response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback"
            .to_owned(),
        base(&client_id, Some("https://evil.example/callback")),
        base(&client_id, Some(&format!("{REDIRECT}/extra"))),
        base(&client_id, Some(&format!("{REDIRECT}?next=https://evil.example"))),
        base(&client_id, Some(&format!("{REDIRECT}#frag"))),
        base(&client_id, Some("//evil.example/callback")),
        base(&client_id, Some("HTTP://127.0.0.1:9/callback")),
        base(&two, None),
        format!("{}&client_id={client_id}", base(&client_id, Some(REDIRECT))),
        format!("{}&redirect_uri=x", base(&client_id, Some(REDIRECT))),
        format!("/oauth/authorize?client_id={client_id}&junk={}", "a".repeat(9000)),
    ];
    for url in cases {
        let res = b.get(&url).await;
        assert_eq!(res.status, 400, "{url}");
        assert!(res.location.is_none(), "{url}");
        assert!(res.body.contains("Request refused"), "{url}");
        assert!(!res.body.contains("evil.example"), "nothing echoed");
    }
}

#[tokio::test]
async fn after_login_the_browser_only_ever_goes_to_this_servers_authorize_endpoint() {
    let app = TestApp::spawn().await;
    add_person(&app, "ivy@example.com", &[]).await;
    let b = Browser::new(&app);
    let (client_id, _) = login_page(&app, &b).await;
    // Each attempt from a signed-out browser: after a sign-in, only the session's token counts.
    let fresh = || async {
        let b = Browser::new(&app);
        let csrf = b.get("/login").await.hidden("csrf");
        (b, csrf)
    };
    for request in [
        "https://evil.example/steal",
        "//evil.example",
        "/\\evil.example",
        "state=x",
        "client_id=\r\nLocation: https://evil.example",
    ] {
        let (b, csrf) = fresh().await;
        let res = b
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("request", request),
                    ("email", "ivy@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        match res.status.as_u16() {
            400 => assert!(res.location.is_none()),
            303 => {
                let loc = res.location.unwrap();
                assert!(loc.starts_with("/oauth/authorize?"), "{request}: {loc}");
                assert!(!loc.contains('\n') && !loc.contains('\r'));
            }
            s => panic!("{request}: {s}"),
        }
    }
    // An altered request with a foreign redirect URI comes back to the error page.
    let evil = format!(
        "client_id={client_id}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code"
    );
    let (b, csrf) = fresh().await;
    let res = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("request", &evil),
                ("email", "ivy@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    let next = b.get(res.location.as_deref().unwrap()).await;
    assert_eq!(next.status, 400);
    assert!(next.location.is_none());
}

#[tokio::test]
async fn every_page_carries_the_clickjacking_and_cache_headers() {
    let app = TestApp::spawn().await;
    add_person(&app, "jo@example.com", &["A", "B"]).await;
    let b = Browser::new(&app);
    let (_, login) = login_page(&app, &b).await;
    let consent = sign_in(&b, &login, "jo@example.com", PASSWORD).await;
    let mut pages = vec![login, consent];
    for path in [
        "/login",
        "/account",
        "/account/connected-apps",
        "/oauth/authorize?client_id=nope",
        "/assets/castellan.css",
    ] {
        pages.push(b.get(path).await);
    }
    for p in &pages {
        let h = |n: &str| p.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(h("x-frame-options").as_deref(), Some("DENY"));
        let csp = h("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("default-src 'self'") && csp.contains("form-action 'self'"));
        assert!(csp.contains("base-uri 'self'"), "{csp}");
        if p.body.contains("<form") {
            assert_eq!(h("cache-control").as_deref(), Some("no-store"));
            assert!(p.body.contains("<html lang=\"en\">"));
        }
        if p.body.contains("type=\"email\"") || p.body.contains("type=\"radio\"") {
            assert!(p.body.contains("<label for="), "inputs are labelled");
        }
    }
    let css = b.get("/assets/castellan.css").await;
    assert!(css.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn cookies_are_http_only_same_site_and_secure_outside_local() {
    // Outside `local` the names carry the `__Host-` prefix: Secure, Path=/ and no Domain, so
    // only this exact host over https can set them.
    for (env, secure, prefix) in [
        (Environment::Local, false, ""),
        (Environment::Testing, true, "__Host-"),
    ] {
        let app = TestApp::spawn_with(|c| {
            c.environment = env;
            if env == Environment::Testing {
                c.issuer = "https://auth.testing.example".into();
            }
        })
        .await;
        add_person(&app, "kim@example.com", &[]).await;
        let b = Browser::new(&app);
        let (_, login) = login_page(&app, &b).await;
        let mut cookies = set_cookies(&login);
        let session_name = format!("{prefix}castellan_session=");
        let csrf_name = format!("{prefix}castellan_csrf=");
        // Post with the token as a browser on https would; read the session cookie itself.
        let csrf = login.hidden("csrf");
        let res = page(
            b.http
                .post(format!("{}/login", b.base))
                .header("cookie", format!("{csrf_name}{csrf}"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("request", &login.hidden("request")),
                    ("email", "kim@example.com"),
                    ("password", PASSWORD),
                ])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(res.status, 303, "{}", res.body);
        cookies.extend(set_cookies(&res));
        assert!(cookies.iter().any(|c| c.starts_with(&session_name)));
        assert!(cookies.iter().any(|c| c.starts_with(&csrf_name)));
        for c in &cookies {
            assert!(c.starts_with(prefix), "{env:?}: {c}");
            assert!(c.contains("HttpOnly"), "{c}");
            assert!(c.contains("SameSite=Lax"), "{c}");
            assert!(c.contains("Path=/;"), "{c}");
            assert!(!c.to_ascii_lowercase().contains("domain"), "{c}");
            assert_eq!(c.contains("Secure"), secure, "{env:?}: {c}");
        }
        let value = cookie_value(&set_cookies(&res), &session_name);
        assert_eq!(value.len(), 43, "256-bit id");
        // Stored hashed: the raw value is not a key of the store, its hash is.
        let hash = castellan_crypto::hash_secret(&value).0;
        assert!(app
            .store
            .get_session(&hash, chrono::Utc::now())
            .await
            .unwrap()
            .is_some());
        // Outside `local` the unprefixed names are not read: a cookie planted under the old
        // name does not sign anyone in.
        if env == Environment::Testing {
            let planted = page(
                b.http
                    .get(format!("{}/account", b.base))
                    .header("cookie", format!("castellan_session={value}"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(planted.location.as_deref(), Some("/login"));
            let prefixed = page(
                b.http
                    .get(format!("{}/account", b.base))
                    .header("cookie", format!("{session_name}{value}"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(prefixed.status, 200);
        }
    }
}

/// The value of the cookie set as `name=` (`name` including the `=`).
fn cookie_value(set_cookies: &[String], name: &str) -> String {
    set_cookies
        .iter()
        .find(|c| c.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {set_cookies:?}"))
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches(name)
        .to_owned()
}

/// A form post with exactly the given `Cookie` header (as an attacker who planted cookies
/// would make the browser send).
async fn post_with_cookies(b: &Browser, path: &str, cookie: &str, form: &[(&str, &str)]) -> Page {
    page(
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}{path}", b.base))
            .header("origin", &b.base)
            .header("cookie", cookie)
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// One sign-in attempt from a fresh browser carrying the device cookie `device` (if any),
/// seen by the server as coming from `address` (through the trusted local proxy) or from the
/// proxy itself.
async fn attempt_from(
    app: &TestApp,
    email: &str,
    password: &str,
    device: Option<&str>,
    address: Option<&str>,
) -> Page {
    let fresh = Browser::new(app);
    let login = fresh.get("/login").await;
    let csrf = cookie_value(&set_cookies(&login), "castellan_csrf=");
    let mut cookies = format!("castellan_csrf={csrf}");
    if let Some(d) = device {
        let _ = write!(cookies, "; castellan_device={d}");
    }
    let mut req = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/login", app.base))
        .header("origin", &app.base)
        .header("cookie", cookies);
    if let Some(a) = address {
        req = req.header("x-forwarded-for", a);
    }
    let form = [
        ("csrf", login.hidden("csrf")),
        ("email", email.to_owned()),
        ("password", password.to_owned()),
    ];
    page(req.form(&form).send().await.unwrap()).await
}

/// Guesses spread over many addresses keep the account-wide delay running (it delays every
/// unknown browser, the owner's new ones too), but never delay the person on a browser that
/// signed in to the account before: that browser is counted on its own. A device cookie of
/// another account, or an altered one, is not recognised; a known browser guessing wrong is
/// delayed like an address.
#[tokio::test]
async fn guesses_from_many_addresses_never_delay_the_owner_on_a_known_browser() {
    let clock = std::sync::Arc::new(castellan_testkit::ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(
        |c| c.http.trusted_proxies = vec!["127.0.0.0/8".into(), "::1".into()],
        std::sync::Arc::<castellan_testkit::ManualClock>::clone(&clock),
    )
    .await;
    add_person(&app, "ola@example.com", &[]).await;
    add_person(&app, "eve@example.com", &[]).await;
    let known = |email: &'static str| {
        let app = &app;
        async move {
            let signed_in = attempt_from(app, email, PASSWORD, None, None).await;
            assert_eq!(signed_in.status, 303, "{}", signed_in.body);
            let set = set_cookies(&signed_in);
            let device = set
                .iter()
                .find(|c| c.starts_with("castellan_device="))
                .unwrap_or_else(|| panic!("no device cookie in {set:?}"));
            assert!(device.contains("HttpOnly") && device.contains("SameSite=Lax"));
            assert!(device.contains("Max-Age=7776000"), "{device}");
            cookie_value(&set, "castellan_device=")
        }
    };
    let owners = known("ola@example.com").await;
    let eves = known("eve@example.com").await;

    // The attack: one wrong guess from each of 21 addresses. The 21st finds the account-wide
    // delay running.
    for i in 1..=20 {
        let p = attempt_from(
            &app,
            "ola@example.com",
            "guess",
            None,
            Some(&format!("203.0.113.{i}")),
        )
        .await;
        assert_eq!(p.status, 401, "guess {i}");
    }
    let p = attempt_from(&app, "ola@example.com", "guess", None, Some("203.0.113.21")).await;
    assert_eq!(p.status, 429);
    // A browser the account does not know waits, even with the right password.
    let unknown = attempt_from(&app, "ola@example.com", PASSWORD, None, None).await;
    assert_eq!(unknown.status, 429);
    // Another account's device cookie, or an altered one, does not help.
    let other = attempt_from(&app, "ola@example.com", PASSWORD, Some(&eves), None).await;
    assert_eq!(other.status, 429);
    let mut altered = owners.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let forged = attempt_from(&app, "ola@example.com", PASSWORD, Some(&altered), None).await;
    assert_eq!(forged.status, 429);
    // The owner's own browser gets in at once.
    let owner = attempt_from(&app, "ola@example.com", PASSWORD, Some(&owners), None).await;
    assert_eq!(owner.status, 303, "{}", owner.body);
    // Their sign-in did not end the account-wide delay (no new free guesses for the attacker).
    let p = attempt_from(&app, "ola@example.com", "guess", None, Some("203.0.113.22")).await;
    assert_eq!(p.status, 429);
    // A known browser guessing wrong is delayed on its own, like one address.
    for _ in 0..5 {
        let p = attempt_from(&app, "ola@example.com", "guess", Some(&owners), None).await;
        assert_eq!(p.status, 401);
    }
    let p = attempt_from(&app, "ola@example.com", PASSWORD, Some(&owners), None).await;
    assert_eq!(p.status, 429);
    assert_eq!(p.headers["retry-after"], "1");
}

#[tokio::test]
async fn after_sign_in_only_the_sessions_own_csrf_token_is_accepted() {
    let app = TestApp::spawn().await;
    add_person(&app, "lee@example.com", &["A"]).await;
    let b = Browser::new(&app);
    let login = b.get("/login").await;
    let before = login.hidden("csrf");
    let signed_in = b
        .post(
            "/login",
            &[
                ("csrf", before.as_str()),
                ("email", "lee@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let session = cookie_value(&set_cookies(&signed_in), "castellan_session=");

    // 1. The token the login page showed before sign-in.
    let res = b
        .post("/account/logout", &[("csrf", before.as_str())])
        .await;
    assert_eq!(res.status, 403, "a pre-sign-in token: {}", res.body);

    // 2. A double-submit pair the attacker knows (its own login page's), planted beside the
    // victim's session: cookie and field agree, but neither is the session's.
    let attacker = Browser::new(&app);
    let planted = attacker.get("/login").await.hidden("csrf");
    let res = post_with_cookies(
        &b,
        "/account/logout",
        &format!("castellan_session={session}; castellan_csrf={planted}"),
        &[("csrf", planted.as_str())],
    )
    .await;
    assert_eq!(
        res.status, 403,
        "a planted double-submit pair: {}",
        res.body
    );

    // 3. The token of another session of the same person.
    let other = Browser::new(&app);
    let other_login = other.get("/login").await;
    let res = other
        .post(
            "/login",
            &[
                ("csrf", other_login.hidden("csrf").as_str()),
                ("email", "lee@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    let other_token = other.get("/account").await.hidden("csrf");
    let res = post_with_cookies(
        &b,
        "/account/logout",
        &format!("castellan_session={session}; castellan_csrf={other_token}"),
        &[("csrf", other_token.as_str())],
    )
    .await;
    assert_eq!(res.status, 403, "another session's token: {}", res.body);

    // Sign-in renewed the double-submit cookie too.
    let renewed = cookie_value(&set_cookies(&signed_in), "castellan_csrf=");
    assert_ne!(renewed, before);

    // Nothing above signed the browser out; its own page's token does.
    let account = b.get("/account").await;
    assert_eq!(account.status, 200);
    let own = account.hidden("csrf");
    assert_ne!(
        own, renewed,
        "the signed-in token is the session's, not the cookie's"
    );
    let res = b.post("/account/logout", &[("csrf", own.as_str())]).await;
    assert_eq!(res.status, 303);
    assert_eq!(b.get("/account").await.location.as_deref(), Some("/login"));
}

#[tokio::test]
async fn garbage_of_any_size_or_shape_is_a_4xx() {
    let app = TestApp::spawn().await;
    let b = Browser::new(&app);
    let (client_id, login) = login_page(&app, &b).await;
    let gets = [
        format!("/oauth/authorize?{}", "a=b&".repeat(3000)),
        "/oauth/authorize?%FF%FE=%00%01".to_owned(),
        format!("/oauth/authorize?client_id={client_id}&state=%FF%00&response_type=code"),
        "/oauth/authorize?client_id=%00".to_owned(),
        "/oauth/authorize".to_owned(),
        "/oauth/authorize?&&&==&".to_owned(),
    ];
    for g in &gets {
        let res = b.get(g).await;
        assert!(
            res.status.is_client_error() || res.status == 302 || res.status == 200,
            "{g}: {}",
            res.status
        );
    }
    // Oversized and odd cookies are ignored or refused, never a 5xx.
    for cookie in [
        format!("castellan_session={}", "A".repeat(5000)),
        "castellan_session=%00%01; castellan_csrf=;;; =x; ==".to_owned(),
        "castellan_session".to_owned(),
        format!("castellan_session={}", "A".repeat(43)),
    ] {
        let res = app
            .http
            .get(app.url("/account"))
            .header("cookie", cookie.clone())
            .send()
            .await
            .unwrap();
        assert!(
            res.status().as_u16() < 500,
            "{cookie:.40}: {}",
            res.status()
        );
    }
    // Forms: oversized, wrong type, binary, repeated fields.
    let csrf = login.hidden("csrf");
    let big = "x".repeat(100_000);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "application/x-www-form-urlencoded",
            format!("csrf={csrf}&email={big}").into_bytes(),
        ),
        ("application/json", br#"{"csrf":"x"}"#.to_vec()),
        (
            "application/x-www-form-urlencoded",
            vec![0xff, 0xfe, 0x00, b'=', 0x80],
        ),
        (
            "application/x-www-form-urlencoded",
            format!("csrf={csrf}&csrf={csrf}").into_bytes(),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("csrf={csrf}&email=%00&password=%FF").into_bytes(),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("csrf={csrf}&request={}", "q".repeat(9000)).into_bytes(),
        ),
    ];
    for path in [
        "/login",
        "/oauth/authorize/decision",
        "/account/logout",
        "/account/connected-apps/revoke",
    ] {
        for (ct, body) in &bodies {
            let res = b
                .http
                .post(format!("{}{path}", b.base))
                .header("content-type", *ct)
                .header("origin", &b.base)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            // A well-formed token makes some of these valid (sign-out works); none is a 5xx.
            assert!(status < 500 && status != 200, "{path} {ct}: {status}");
        }
    }
    // A long password is refused like any wrong one.
    let res = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("request", ""),
                ("email", "a@b.c"),
                ("password", &"p".repeat(5000)),
            ],
        )
        .await;
    assert_eq!(res.status, 401);
}

#[tokio::test]
async fn the_per_ip_login_policy_counts_every_sign_in_attempt() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit.policies.insert(
            "tiny-login".into(),
            castellan_limit::PolicyConfig {
                windows: vec![castellan_limit::Window {
                    limit: 3,
                    seconds: 3600,
                }],
            },
        );
        c.rate_limit.per_ip.login = "tiny-login".into();
    })
    .await;
    add_person(&app, "lou@example.com", &[]).await;
    let b = Browser::new(&app);
    let (_, login) = login_page(&app, &b).await;
    let form = |email: &'static str| {
        vec![
            ("csrf", login.hidden("csrf")),
            ("request", login.hidden("request")),
            ("email", email.to_owned()),
            ("password", PASSWORD.to_owned()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let refs: Vec<(&str, String)> = f;
        let b = &b;
        async move {
            let refs: Vec<(&str, &str)> = refs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            b.post("/login", &refs).await
        }
    };
    let first = send(form("nobody@example.com")).await;
    assert_eq!(first.status, 401);
    assert_eq!(first.headers["ratelimit-limit"], "3");
    send(form("nobody@example.com")).await;
    assert_eq!(send(form("lou@example.com")).await.status, 303);
    // From the same address, a browser not signed in (the one above now needs its session's
    // token): the fourth attempt is over the per-IP policy.
    let other = Browser::new(&app);
    let (_, other_login) = login_page(&app, &other).await;
    let refused = other
        .post(
            "/login",
            &[
                ("csrf", other_login.hidden("csrf").as_str()),
                ("request", other_login.hidden("request").as_str()),
                ("email", "lou@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, 429);
    assert!(refused.headers.contains_key("retry-after"));
    assert!(refused.body.contains("Too many sign-in attempts"));
    assert!(refused.is_login_form());
}

/// Runs the flow for a public client and answers (client id, code, verifier).
async fn a_code(app: &TestApp, email: &str) -> (String, String, String) {
    let client_id = public_client(app).await;
    add_person(app, email, &[]).await;
    let (verifier, challenge) = pkce();
    let b = Browser::new(app);
    let login = b
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "openid offline_access"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    let consent = sign_in(&b, &login, email, PASSWORD).await;
    let back = decide(&b, &consent, "approve", None).await;
    (client_id, back.param("code").unwrap(), verifier)
}

#[tokio::test]
async fn a_replayed_code_or_a_wrong_verifier_is_invalid_grant() {
    let app = TestApp::spawn().await;
    let (client_id, code, _) = a_code(&app, "pat@example.com").await;
    let (other_verifier, _) = pkce();
    let (status, body) = exchange(&app, &client_id, &code, &other_verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    let (client_id, code, verifier2) = a_code(&app, "quin@example.com").await;
    let (status, first) = exchange(&app, &client_id, &code, &verifier2).await;
    assert_eq!(status, 200, "{first}");
    let (status, body) = exchange(&app, &client_id, &code, &verifier2).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // The replay revoked what the first use issued.
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}
