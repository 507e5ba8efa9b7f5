//! Signing out at a relying party's request (OpenID Connect RP-Initiated Logout 1.0):
//! `end_session_endpoint` in discovery, an `id_token_hint` for the signed-in person signing
//! out at once, a confirmation page without one, `post_logout_redirect_uri` only when
//! registered (exact match) and `state` returned, and every malformed request an error page;
//! back-channel logout tokens sent to the clients of an ended session, verified here.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::logout::{logout_claims, receiver, wait_for};
use crate::support::pages::*;
use castellan_testkit::TestApp;
use serde_json::json;

const AFTER: &str = "https://app.example/signed-out";

/// A public client registering `AFTER` as where it sends people after signing them out.
async fn client(app: &TestApp) -> String {
    let c = app
        .create_client(json!({
            "name": "Closient Web",
            "scope": SCOPES,
            "clientKind": "public",
            "grantTypes": ["authorization_code"],
            "redirectUris": [REDIRECT],
            "postLogoutRedirectUris": [AFTER],
            "tokenEndpointAuthMethod": "none",
        }))
        .await;
    assert_eq!(c["postLogoutRedirectUris"], json!([AFTER]), "{c}");
    c["id"].as_str().unwrap().to_owned()
}

/// Signs `email` in through the client and answers the browser and its ID token.
async fn signed_in(app: &TestApp, client_id: &str, email: &str) -> (Browser, String) {
    let b = Browser::new(app);
    let (verifier, challenge) = pkce();
    let login = b
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("scope", "openid"),
            ("state", "st"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    let consent = sign_in(&b, &login, email, PASSWORD).await;
    // A consent given before is remembered: straight back with a code.
    let back = if consent.status == 302 {
        consent
    } else {
        decide(&b, &consent, "approve", None).await
    };
    let code = back.param("code").unwrap();
    let (status, body) = exchange(app, client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    (b, body["id_token"].as_str().unwrap().to_owned())
}

fn logout_query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.extend_pairs(pairs.iter());
    format!("/oauth/logout?{}", s.finish())
}

#[tokio::test]
async fn a_hint_for_the_signed_in_person_signs_out_and_returns_to_the_client() {
    let app = TestApp::spawn().await;
    let client_id = client(&app).await;
    add_person(&app, "lea@example.com", &["Acme"]).await;
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
        discovery["end_session_endpoint"],
        json!("http://localhost:8000/oauth/logout")
    );
    let (b, id_token) = signed_in(&app, &client_id, "lea@example.com").await;
    assert_eq!(b.get("/account").await.status, 200);
    let res = b
        .get(&logout_query(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", AFTER),
            ("state", "bye 1"),
        ]))
        .await;
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(
        res.location.as_deref(),
        Some("https://app.example/signed-out?state=bye+1")
    );
    assert_eq!(b.get("/account").await.status, 303, "signed out");
    // Signed out already: the same request just goes back.
    let again = b
        .get(&logout_query(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", AFTER),
        ]))
        .await;
    assert_eq!(again.location.as_deref(), Some(AFTER));
    // As a form post too (§2), without a redirect URI: the signed-out page.
    let (b2, id_token2) = signed_in(&app, &client_id, "lea@example.com").await;
    let posted = b2
        .post("/oauth/logout", &[("id_token_hint", &id_token2)])
        .await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert!(
        posted.body.contains("You are signed out"),
        "{}",
        posted.body
    );
    assert_eq!(b2.get("/account").await.status, 303);
    // A form posted from the client's own site comes without the session cookie
    // (SameSite=Lax): it is sent on to the GET, which the browser makes with the cookie.
    let (b3, id_token3) = signed_in(&app, &client_id, "lea@example.com").await;
    let cross_site = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = cross_site
        .post(app.url("/oauth/logout"))
        .header("origin", "https://app.example")
        .form(&[
            ("id_token_hint", id_token3.as_str()),
            ("post_logout_redirect_uri", AFTER),
            ("state", "x\r\nSet-Cookie: evil=1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(next.starts_with("/oauth/logout?"), "{next}");
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(b3.get("/account").await.status, 200, "not signed out yet");
    let out = b3.get(&next).await;
    assert_eq!(out.status, 302, "{}", out.body);
    assert!(out.location.as_deref().unwrap().starts_with(AFTER));
    assert_eq!(
        b3.get("/account").await.status,
        303,
        "signed out by the GET"
    );
}

#[tokio::test]
async fn an_old_id_token_of_the_person_asks_before_signing_out() {
    // Attack: any past ID token of the person (leaked from a log, an old app) signed them
    // out at once, without asking.
    let app = TestApp::spawn().await;
    let client_id = client(&app).await;
    add_person(&app, "ora@example.com", &["Acme"]).await;
    let (old, old_token) = signed_in(&app, &client_id, "ora@example.com").await;
    let out = old
        .get(&logout_query(&[("id_token_hint", &old_token)]))
        .await;
    assert_eq!(out.status, 200);
    // A new session of the same person; the old token names the old session.
    let (b, _) = signed_in(&app, &client_id, "ora@example.com").await;
    let asked = b.get(&logout_query(&[("id_token_hint", &old_token)])).await;
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("id=\"sign-out\""), "{}", asked.body);
    assert_eq!(b.get("/account").await.status, 200, "still signed in");
}

#[tokio::test]
async fn without_a_hint_the_person_is_asked_first() {
    let app = TestApp::spawn().await;
    let client_id = client(&app).await;
    add_person(&app, "max@example.com", &["Acme"]).await;
    let (b, _) = signed_in(&app, &client_id, "max@example.com").await;
    let ask = b
        .get(&logout_query(&[
            ("client_id", &client_id),
            ("post_logout_redirect_uri", AFTER),
            ("state", "s1"),
        ]))
        .await;
    assert_eq!(ask.status, 200);
    assert!(ask.body.contains("Closient Web"), "{}", ask.body);
    assert!(ask.body.contains("id=\"sign-out\""));
    assert_eq!(b.get("/account").await.status, 200, "nothing ended yet");
    // Staying keeps the session.
    let form = |decision: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", ask.hidden("csrf")),
            ("client_id", ask.hidden("client_id")),
            (
                "post_logout_redirect_uri",
                ask.hidden("post_logout_redirect_uri"),
            ),
            ("state", ask.hidden("state")),
            ("decision", decision.to_owned()),
        ]
    };
    let stay = form("stay");
    let stay: Vec<(&str, &str)> = stay.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let stayed = b.post("/oauth/logout/confirm", &stay).await;
    assert_eq!(stayed.location.as_deref(), Some("/account"));
    assert_eq!(b.get("/account").await.status, 200);
    // Without the CSRF token nothing happens.
    let forged: Vec<(&str, &str)> = stay
        .iter()
        .filter(|(k, _)| *k != "csrf")
        .map(|(k, v)| (*k, *v))
        .collect();
    assert_eq!(b.post("/oauth/logout/confirm", &forged).await.status, 403);
    // Signing out ends the session and goes back with the state.
    let out = form("sign-out");
    let out: Vec<(&str, &str)> = out.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = b.post("/oauth/logout/confirm", &out).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("https://app.example/signed-out?state=s1")
    );
    assert_eq!(b.get("/account").await.status, 303);
    // A hint for someone else than the browser's person: asked too.
    add_person(&app, "ivy@example.com", &["Beta"]).await;
    let (_, ivy_token) = signed_in(&app, &client_id, "ivy@example.com").await;
    let (b3, _) = signed_in(&app, &client_id, "max@example.com").await;
    let asked = b3
        .get(&logout_query(&[("id_token_hint", &ivy_token)]))
        .await;
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("id=\"sign-out\""), "{}", asked.body);
    assert_eq!(b3.get("/account").await.status, 200);
}

#[tokio::test]
async fn unregistered_redirects_and_malformed_requests_are_refused_on_a_page() {
    let app = TestApp::spawn().await;
    let client_id = client(&app).await;
    let other = public_client(&app).await;
    add_person(&app, "kim@example.com", &["Acme"]).await;
    let (b, id_token) = signed_in(&app, &client_id, "kim@example.com").await;
    let access_token = app.admin_token().await;
    let long = "x".repeat(20_000);
    for (pairs, says) in [
        (
            vec![
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ],
            "not one the client registered",
        ),
        (
            vec![
                ("id_token_hint", id_token.as_str()),
                (
                    "post_logout_redirect_uri",
                    "https://app.example/signed-out/",
                ),
            ],
            "not one the client registered",
        ),
        (
            vec![("post_logout_redirect_uri", AFTER)],
            "needs id_token_hint or client_id",
        ),
        (
            vec![
                ("client_id", other.as_str()),
                ("post_logout_redirect_uri", AFTER),
            ],
            "not one the client registered",
        ),
        (
            vec![
                ("id_token_hint", id_token.as_str()),
                ("client_id", other.as_str()),
            ],
            "not the client of id_token_hint",
        ),
        (vec![("id_token_hint", "not.a.token")], "not an ID token"),
        (
            vec![("id_token_hint", access_token.as_str())],
            "not an ID token",
        ),
        (vec![("id_token_hint", long.as_str())], "not an ID token"),
        (vec![("client_id", "nobody")], "unknown client"),
    ] {
        let res = b.get(&logout_query(&pairs)).await;
        assert_eq!(res.status, 400, "{pairs:?}: {}", res.body);
        assert!(res.location.is_none(), "never a redirect: {pairs:?}");
        assert!(res.body.contains(says), "{pairs:?}: {}", res.body);
    }
    let twice = b
        .get(&format!(
            "/oauth/logout?client_id={client_id}&client_id={client_id}"
        ))
        .await;
    assert_eq!(twice.status, 400);
    assert_eq!(b.get("/account").await.status, 200, "still signed in");
    // An ID token of another server (another key) is no hint either.
    let forged = {
        let (key, _) = castellan_crypto::SigningKey::generate(
            castellan_crypto::Algorithm::Es256,
            "k-other".into(),
        )
        .unwrap();
        castellan_crypto::jws::sign(
            &key,
            "JWT",
            &json!({"iss": "http://localhost:8000", "sub": "x", "aud": client_id}),
        )
        .unwrap()
    };
    let res = b.get(&logout_query(&[("id_token_hint", &forged)])).await;
    assert_eq!(res.status, 400);
}

#[tokio::test]
async fn post_logout_redirect_uris_follow_the_redirect_uri_rules() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .post(app.url("/api-clients"))
        .bearer_auth(app.admin_token().await)
        .json(&json!({
            "name": "Bad",
            "scope": "openid",
            "clientKind": "public",
            "grantTypes": ["authorization_code"],
            "redirectUris": [REDIRECT],
            "postLogoutRedirectUris": ["https://app.example/#fragment"],
            "tokenEndpointAuthMethod": "none",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body.to_string().contains("postLogoutRedirectUris"),
        "{body}"
    );
}

/// A client with a back-channel logout URI.
async fn backchannel_client(app: &TestApp, uri: &str) -> String {
    let c = app
        .create_client(json!({
            "name": "Closient Portal",
            "scope": SCOPES,
            "clientKind": "public",
            "grantTypes": ["authorization_code"],
            "redirectUris": [REDIRECT],
            "postLogoutRedirectUris": [AFTER],
            "backchannelLogoutUri": uri,
            "backchannelLogoutSessionRequired": true,
            "tokenEndpointAuthMethod": "none",
        }))
        .await;
    assert_eq!(c["backchannelLogoutUri"], json!(uri), "{c}");
    c["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn ending_a_session_sends_each_of_its_clients_a_signed_logout_token() {
    let app = TestApp::spawn().await;
    let discovery: serde_json::Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["backchannel_logout_supported"], json!(true));
    assert_eq!(
        discovery["backchannel_logout_session_supported"],
        json!(true)
    );
    // The first delivery fails: the token is sent again.
    let (uri, seen) = receiver(1).await;
    let client_id = backchannel_client(&app, &uri).await;
    let (user_id, _) = add_person(&app, "bea@example.com", &["Acme"]).await;
    let (b, id_token) = signed_in(&app, &client_id, "bea@example.com").await;
    let id_claims = castellan_testkit::oauth::claims(&id_token);
    let sid = id_claims["sid"]
        .as_str()
        .expect("the ID token names its session")
        .to_owned();
    assert!(sid.starts_with("ses_"), "{sid}");
    let out = b
        .get(&logout_query(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", AFTER),
        ]))
        .await;
    assert_eq!(
        out.status, 302,
        "the sign-out answers at once: {}",
        out.body
    );
    let tokens = wait_for(&seen, 2).await;
    assert_eq!(
        tokens[0], tokens[1],
        "the same token, tried again after a failure"
    );
    let claims = logout_claims(&app, &tokens[1]).await;
    assert_eq!(claims["iss"], json!("http://localhost:8000"));
    assert_eq!(claims["aud"], json!(client_id));
    assert_eq!(claims["sub"], json!(user_id));
    assert_eq!(claims["sid"], json!(sid));
    assert_eq!(
        claims["events"],
        json!({"http://schemas.openid.net/event/backchannel-logout": {}})
    );
    assert!(claims.get("nonce").is_none());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    // Told once: nothing more comes.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn signing_a_session_out_from_the_sessions_page_tells_its_clients() {
    let app = TestApp::spawn().await;
    let (uri, seen) = receiver(0).await;
    let client_id = backchannel_client(&app, &uri).await;
    add_person(&app, "cal@example.com", &["Acme"]).await;
    let (_, id_token) = signed_in(&app, &client_id, "cal@example.com").await;
    let sid = castellan_testkit::oauth::claims(&id_token)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another browser of the same person signs the first one out.
    let other = Browser::new(&app);
    sign_in_plain(&other, "cal@example.com").await;
    let page = other.get("/account/sessions").await;
    let ended = other
        .post(
            "/account/sessions/end",
            &[("csrf", &page.hidden("csrf")), ("session", &sid)],
        )
        .await;
    assert_eq!(ended.status, 303, "{}", ended.body);
    let tokens = wait_for(&seen, 1).await;
    let claims = logout_claims(&app, &tokens[0]).await;
    assert_eq!(claims["sid"], json!(sid));
    assert_eq!(claims["aud"], json!(client_id));
}

#[tokio::test]
async fn a_backchannel_logout_uri_follows_the_outbound_rules() {
    let app = TestApp::spawn().await;
    for bad in [
        "ftp://rp.example/logout",
        "http://10.0.0.1/logout",
        "https://rp.example/logout#x",
        "not a url",
    ] {
        let res = app
            .http
            .post(app.url("/api-clients"))
            .bearer_auth(app.admin_token().await)
            .json(&json!({
                "name": "Bad",
                "scope": "openid",
                "clientKind": "public",
                "grantTypes": ["authorization_code"],
                "redirectUris": [REDIRECT],
                "backchannelLogoutUri": bad,
                "tokenEndpointAuthMethod": "none",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(body.to_string().contains("backchannelLogoutUri"), "{body}");
    }
}

#[tokio::test]
async fn signing_in_again_keeps_the_session_and_tells_no_client() {
    // A step-up or a fresh sign-in of the same person replaced the session, and every client
    // signed in with it was sent a logout token.
    let app = TestApp::spawn().await;
    let (uri, seen) = receiver(0).await;
    let client_id = backchannel_client(&app, &uri).await;
    add_person(&app, "dov@example.com", &["Acme"]).await;
    let (b, id_token) = signed_in(&app, &client_id, "dov@example.com").await;
    let sid = castellan_testkit::oauth::claims(&id_token)["sid"].clone();
    // prompt=login: a fresh sign-in of the same person.
    let (verifier, challenge) = pkce();
    let login = b
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("scope", "openid"),
            ("prompt", "login"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    let back = sign_in(&b, &login, "dov@example.com", PASSWORD).await;
    let code = back.param("code").unwrap();
    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let again = castellan_testkit::oauth::claims(body["id_token"].as_str().unwrap());
    assert_eq!(again["sid"], sid, "the same session, under a new cookie");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(seen.lock().unwrap().is_empty(), "no client was told");
    // Someone else signing in in this browser ends the session: its client is told.
    add_person(&app, "eli@example.com", &["Beta"]).await;
    let page = b.get("/account/password").await;
    let switched = b
        .post(
            "/login",
            &[
                ("csrf", &page.hidden("csrf")),
                ("request", ""),
                ("email", "eli@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(switched.status, 303, "{}", switched.body);
    let tokens = wait_for(&seen, 1).await;
    assert_eq!(logout_claims(&app, &tokens[0]).await["sid"], sid);
    // One token in all: the fresh sign-in above sent none.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_password_change_tells_the_clients_of_the_sessions_it_ends() {
    let app = TestApp::spawn().await;
    let (uri, seen) = receiver(0).await;
    let client_id = backchannel_client(&app, &uri).await;
    add_person(&app, "fay@example.com", &["Acme"]).await;
    let (b, id_token) = signed_in(&app, &client_id, "fay@example.com").await;
    let sid = castellan_testkit::oauth::claims(&id_token)["sid"].clone();
    let page = b.get("/account/password").await;
    let changed = b
        .post(
            "/account/password",
            &[
                ("csrf", &page.hidden("csrf")),
                ("current", PASSWORD),
                ("new", "a brand new password"),
                ("confirm", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    let tokens = wait_for(&seen, 1).await;
    let claims = logout_claims(&app, &tokens[0]).await;
    assert_eq!(claims["sid"], sid);
    assert_eq!(claims["aud"], json!(client_id));
}

#[tokio::test]
async fn sessions_an_operator_ends_are_told_by_the_upkeep_and_expired_ones_are_not() {
    use castellan_crypto::Clock;
    let clock = std::sync::Arc::new(castellan_testkit::ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(
        |_| {},
        std::sync::Arc::<castellan_testkit::ManualClock>::clone(&clock),
    )
    .await;
    let (uri, seen) = receiver(0).await;
    let client_id = backchannel_client(&app, &uri).await;
    let (cal, _) = add_person(&app, "cal@example.com", &["Acme"]).await;
    let (_b, id_token) = signed_in(&app, &client_id, "cal@example.com").await;
    let sid = castellan_testkit::oauth::claims(&id_token)["sid"].clone();
    // What `castellan users disable` does: storage ends the sessions; the command line runs no
    // delivery.
    app.store
        .set_user_disabled(&cal, Some(clock.now()))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(seen.lock().unwrap().is_empty());
    // The upkeep tells the client, once.
    castellan_server::platform::upkeep::run_once(&app.state).await;
    let tokens = wait_for(&seen, 1).await;
    let claims = logout_claims(&app, &tokens[0]).await;
    assert_eq!(claims["sid"], sid, "{claims}");
    assert_eq!(claims["sub"], json!(cal), "{claims}");
    castellan_server::platform::upkeep::run_once(&app.state).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().len(), 1);

    // A session that expires is not a sign-out: its clients are not told.
    add_person(&app, "dee@example.com", &["Acme"]).await;
    signed_in(&app, &client_id, "dee@example.com").await;
    clock.advance(chrono::Duration::seconds(
        i64::from(app.state.config.pages.session_seconds) + 60,
    ));
    castellan_server::platform::upkeep::run_once(&app.state).await;
    castellan_server::platform::upkeep::run_once(&app.state).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// Refreshes `refresh` as the public client `client_id`; answers (status, body).
async fn refresh(app: &TestApp, client_id: &str, refresh: &str) -> (u16, serde_json::Value) {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn a_client_that_asks_for_it_loses_the_sessions_refresh_tokens_at_logout() {
    let app = TestApp::spawn().await;
    let mut clients = Vec::new();
    for revokes in [true, false] {
        let c = app
            .create_client(json!({
                "name": if revokes { "Closient Strict" } else { "Closient Offline" },
                "scope": SCOPES,
                "clientKind": "public",
                "grantTypes": ["authorization_code", "refresh_token"],
                "redirectUris": [REDIRECT],
                "postLogoutRedirectUris": [AFTER],
                "logoutRevokesRefreshTokens": revokes,
                "tokenEndpointAuthMethod": "none",
            }))
            .await;
        assert_eq!(c["logoutRevokesRefreshTokens"], json!(revokes), "{c}");
        clients.push(c["id"].as_str().unwrap().to_owned());
    }
    add_person(&app, "eve@example.com", &["Acme"]).await;
    let b = Browser::new(&app);
    let mut tokens = Vec::new();
    for (i, client_id) in clients.iter().enumerate() {
        let (verifier, challenge) = pkce();
        let first = b
            .get(&authorize_query(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("scope", "openid offline_access"),
                ("state", "st"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ]))
            .await;
        let consent = if i == 0 {
            sign_in(&b, &first, "eve@example.com", PASSWORD).await
        } else {
            first
        };
        let back = decide(&b, &consent, "approve", None).await;
        let code = back.param("code").unwrap();
        let (status, body) = exchange(&app, client_id, &code, &verifier).await;
        assert_eq!(status, 200, "{body}");
        tokens.push((
            body["id_token"].as_str().unwrap().to_owned(),
            body["refresh_token"]
                .as_str()
                .expect("a refresh token")
                .to_owned(),
        ));
    }
    let out = b
        .get(&logout_query(&[
            ("id_token_hint", &tokens[0].0),
            ("post_logout_redirect_uri", AFTER),
        ]))
        .await;
    assert_eq!(out.status, 302, "{}", out.body);
    // The strict client's refresh family dies with the session (in the background, soon).
    let family = |token: &str| {
        let hash = castellan_crypto::refresh_token_key(token);
        let app = &app;
        async move {
            app.store
                .find_refresh_token(&hash)
                .await
                .unwrap()
                .expect("a stored refresh token")
                .family_id
        }
    };
    let strict = family(&tokens[0].1).await;
    let mut revoked = false;
    for _ in 0..50 {
        if app.store.is_family_revoked(&strict).await.unwrap() {
            revoked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(revoked, "the strict client's family was revoked");
    let (status, body) = refresh(&app, &clients[0], &tokens[0].1).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let offline = family(&tokens[1].1).await;
    assert!(!app.store.is_family_revoked(&offline).await.unwrap());
    // The other keeps its offline access (Back-Channel Logout 1.0 §2.7).
    let (status, body) = refresh(&app, &clients[1], &tokens[1].1).await;
    assert_eq!(status, 200, "{body}");
}
