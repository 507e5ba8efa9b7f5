//! The authorization-code flow over HTTP like a real client: authorization code + PKCE through
//! the login and consent pages (RFC 6749 §4.1, RFC 7636, RFC 9207).

use crate::support::pages::*;
use base64::Engine;
use castellan_crypto::Clock;
use castellan_testkit::TestApp;
use serde_json::{json, Value};

const ISSUER: &str = "http://localhost:8000";

#[tokio::test]
async fn public_client_with_pkce_gets_a_code_then_tokens() {
    let app = TestApp::spawn().await;
    let client_id = public_client(&app).await;
    let (user_id, orgs) = add_person(&app, "ann@example.com", &["Acme"]).await;
    let (verifier, challenge) = pkce();
    let b = Browser::new(&app);

    let login = b
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "openid products:read products:write"),
            ("state", "xyz 123"),
            ("nonce", "n-0S6"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("Closient CLI"));
    let consent = sign_in(&b, &login, "Ann@Example.com", PASSWORD).await;
    assert_eq!(
        consent.status, 200,
        "{:?} {}",
        consent.location, consent.body
    );
    assert!(consent.body.contains("Closient CLI"));
    assert!(
        consent.body.contains("can change data"),
        "write scope marked"
    );
    assert!(consent.body.contains("This app asks to change data"));
    assert!(
        consent.radios("organization").is_empty(),
        "one org: no picker"
    );
    assert!(consent.body.contains("Acme"));

    let back = decide(&b, &consent, "approve", None).await;
    assert_eq!(back.status, 302);
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(back.param("state").as_deref(), Some("xyz 123"));
    assert_eq!(back.param("iss").as_deref(), Some(ISSUER));
    let code = back.param("code").unwrap();
    assert_eq!(code.len(), 43);

    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    assert!(body["id_token"].is_string(), "openid asked: id_token");
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access: no refresh"
    );
    assert_eq!(body["organization_id"], json!(orgs[0]));
    assert_eq!(body["user_id"], json!(user_id));
    assert_eq!(body["scope"], "openid products:read products:write");
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_state() {
    let app = TestApp::spawn().await;
    let client_id = public_client(&app).await;
    add_person(&app, "bob@example.com", &["Acme"]).await;
    let (_, challenge) = pkce();
    let b = Browser::new(&app);
    let login = b
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("scope", "products:read"),
            ("state", "s1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    let consent = sign_in(&b, &login, "bob@example.com", PASSWORD).await;
    assert!(
        !consent.body.contains("This app asks to change data"),
        "read only: no warning"
    );
    let back = decide(&b, &consent, "deny", None).await;
    assert_eq!(back.status, 302);
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(back.param("error").as_deref(), Some("access_denied"));
    assert_eq!(back.param("state").as_deref(), Some("s1"));
    assert_eq!(back.param("iss").as_deref(), Some(ISSUER));
    assert!(back.param("code").is_none());
    // Nothing was consented to.
    let (uid, ()) = (
        app.store
            .find_user_by_email("bob@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        (),
    );
    assert!(app.store.consents_of_user(&uid).await.unwrap().is_empty());
}

#[tokio::test]
async fn remembered_consent_skips_the_page_unless_prompt_consent() {
    let app = TestApp::spawn().await;
    let client_id = public_client(&app).await;
    add_person(&app, "cy@example.com", &["Acme"]).await;
    let b = Browser::new(&app);
    let q = |scope: &str, prompt: Option<&str>| {
        let (_, challenge) = pkce();
        let mut p = vec![
            ("response_type", "code".to_owned()),
            ("client_id", client_id.clone()),
            ("scope", scope.to_owned()),
            ("state", "st".to_owned()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".to_owned()),
        ];
        if let Some(pr) = prompt {
            p.push(("prompt", pr.to_owned()));
        }
        let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        authorize_query(&refs)
    };
    let login = b.get(&q("openid products:read products:write", None)).await;
    let consent = sign_in(&b, &login, "cy@example.com", PASSWORD).await;
    let first = decide(&b, &consent, "approve", None).await;
    assert!(first.param("code").is_some());

    // Same or fewer scopes: straight back with a code.
    let again = b.get(&q("products:read", None)).await;
    assert_eq!(again.status, 302, "{}", again.body);
    assert!(again.param("code").is_some());
    assert_eq!(again.param("state").as_deref(), Some("st"));
    // More scopes: the page again.
    let more = b.get(&q("products:read offline_access", None)).await;
    assert!(more.is_consent_form());
    // prompt=consent: the page even when remembered.
    let forced = b.get(&q("products:read", Some("consent"))).await;
    assert!(forced.is_consent_form());
    // prompt=none with consent: a code; prompt=none without: consent_required.
    let silent = b.get(&q("products:read", Some("none"))).await;
    assert!(silent.param("code").is_some());
    let silent = b
        .get(&q("products:read offline_access", Some("none")))
        .await;
    assert_eq!(silent.param("error").as_deref(), Some("consent_required"));
    // prompt=login: the login page again, then back without looping.
    let relogin = b.get(&q("products:read", Some("login"))).await;
    assert!(relogin.is_login_form());
    let after = sign_in(&b, &relogin, "cy@example.com", PASSWORD).await;
    assert_eq!(after.status, 302);
    assert!(after.param("code").is_some());
}

#[tokio::test]
async fn prompt_none_without_session_is_login_required() {
    let app = TestApp::spawn().await;
    let client_id = public_client(&app).await;
    let (_, challenge) = pkce();
    let b = Browser::new(&app);
    let res = b
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("scope", "openid"),
            ("state", "q"),
            ("prompt", "none"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    assert_eq!(res.status, 302);
    assert_eq!(res.param("error").as_deref(), Some("login_required"));
    assert_eq!(res.param("state").as_deref(), Some("q"));
    assert_eq!(res.param("iss").as_deref(), Some(ISSUER));
}

#[tokio::test]
async fn organization_picker_binds_the_chosen_organization() {
    let app = TestApp::spawn().await;
    let client_id = public_client(&app).await;
    let (user_id, orgs) = add_person(&app, "dee@example.com", &["Alpha", "Beta"]).await;
    let (verifier, challenge) = pkce();
    let b = Browser::new(&app);
    let login = b
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("scope", "openid offline_access products:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    let consent = sign_in(&b, &login, "dee@example.com", PASSWORD).await;
    let radios = consent.radios("organization");
    assert_eq!(radios.len(), 2, "{}", consent.body);
    assert!(radios.contains(&orgs[1]));
    // An organization the person is not in is refused.
    let bad = decide(&b, &consent, "approve", Some("org_not_mine")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.location.is_none());
    let back = decide(&b, &consent, "approve", Some(&orgs[1])).await;
    assert_eq!(back.status, 302);
    assert!(back.param("state").is_none());
    let code = back.param("code").unwrap();
    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["organization_id"], json!(orgs[1]));
    assert_eq!(body["user_id"], json!(user_id));
    assert!(
        body["refresh_token"].is_string(),
        "offline_access: refresh token"
    );
    // The access token carries the chosen organization as its `org` claim.
    let payload = body["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["org"], json!(orgs[1]));
    assert_eq!(claims["sub"], json!(user_id));
    let consents = app.store.consents_of_user(&user_id).await.unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(
        consents[0].organization_id.as_deref(),
        Some(orgs[1].as_str())
    );
}

#[tokio::test]
async fn invalid_requests_go_back_to_the_client_with_the_error() {
    let app = TestApp::spawn().await;
    let client_id = public_client(&app).await;
    let cc = app
        .create_client(json!({"name": "machine", "scope": "products:read",
            "redirectUris": [REDIRECT]}))
        .await;
    let machine = cc["id"].as_str().unwrap().to_owned();
    let (_, challenge) = pkce();
    let b = Browser::new(&app);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("response_type", "code"),
                ("client_id", &client_id),
                ("scope", "openid"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", &client_id),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", &client_id),
                ("scope", "openid"),
                ("code_challenge", &challenge),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", &client_id),
                ("scope", "admin:write"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("response_type", "token"),
                ("client_id", &client_id),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "unsupported_response_type",
        ),
        (
            vec![
                ("client_id", &client_id),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", &client_id),
                ("scope", "openid"),
                ("prompt", "sometimes"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", &client_id),
                ("scope", "openid"),
                ("scope", "products:read"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", &machine),
                ("scope", "products:read"),
            ],
            "unauthorized_client",
        ),
    ];
    for (mut params, error) in cases {
        params.push(("state", "keep-me"));
        let res = b.get(&authorize_query(&params)).await;
        assert_eq!(res.status, 302, "{params:?}: {}", res.body);
        assert!(res.location.as_deref().unwrap().starts_with(REDIRECT));
        assert_eq!(res.param("error").as_deref(), Some(error), "{params:?}");
        assert_eq!(res.param("state").as_deref(), Some("keep-me"));
        assert_eq!(res.param("iss").as_deref(), Some(ISSUER));
        assert!(res.param("error_description").is_some());
    }
}

/// RFC 8252 §7.3: for an `http` loopback IP literal only the port may differ from the
/// registered redirect URI; never for `localhost`, `https`, another path, query or host.
#[tokio::test]
async fn a_loopback_ip_redirect_uri_may_name_any_port_and_nothing_else() {
    let app = TestApp::spawn().await;
    let c = app
        .create_client(json!({
            "name": "Native app",
            "scope": SCOPES,
            "clientKind": "public",
            "grantTypes": ["authorization_code"],
            "redirectUris": [
                "http://127.0.0.1/callback",
                "http://[::1]:8080/cb",
                "http://localhost:8080/callback",
                "https://127.0.0.1/secure",
            ],
            "tokenEndpointAuthMethod": "none",
        }))
        .await;
    let client_id = c["id"].as_str().unwrap().to_owned();
    let (_, challenge) = pkce();
    let b = Browser::new(&app);
    let ask = |redirect: &str, scope: &str| {
        authorize_query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", redirect),
            ("scope", scope),
            ("state", "s1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
    };

    for ok in [
        "http://127.0.0.1:51234/callback",
        "http://127.0.0.1/callback",
        "http://[::1]:1234/cb",
        "http://[::1]/cb",
    ] {
        let page = b.get(&ask(ok, "openid")).await;
        assert_eq!(page.status, 200, "{ok}: {}", page.body);
        assert!(page.is_login_form(), "{ok}");
        // Errors go back to the URI as sent, port included.
        let back = b.get(&ask(ok, "admin:write")).await;
        assert_eq!(back.status, 302, "{ok}");
        let location = back.location.as_deref().unwrap();
        assert!(location.starts_with(&format!("{ok}?")), "{location}");
        assert_eq!(back.param("error").as_deref(), Some("invalid_scope"));
    }

    for refused in [
        "http://localhost:5000/callback",
        "http://localhost/callback",
        "https://127.0.0.1:5000/secure",
        "http://127.0.0.1:51234/other",
        "http://127.0.0.1:51234/callback/",
        "http://127.0.0.1:51234/callback?x=1",
        "http://127.0.0.2:51234/callback",
        "http://[::1]:1234/callback",
        "http://127.0.0.1:/callback",
    ] {
        let page = b.get(&ask(refused, "openid")).await;
        assert_eq!(page.status, 400, "{refused}: {}", page.body);
        assert!(page.location.is_none(), "{refused}: never a redirect");
    }
}

#[tokio::test]
async fn max_age_asks_for_a_fresh_sign_in_once_the_last_one_is_older() {
    let clock = std::sync::Arc::new(castellan_testkit::ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(
        |_| {},
        std::sync::Arc::<castellan_testkit::ManualClock>::clone(&clock),
    )
    .await;
    let client_id = public_client(&app).await;
    add_person(&app, "max@example.com", &["Acme"]).await;
    let b = Browser::new(&app);
    let q = |max_age: Option<&str>, prompt: Option<&str>| {
        let (verifier, challenge) = pkce();
        let mut p = vec![
            ("response_type", "code".to_owned()),
            ("client_id", client_id.clone()),
            ("scope", "openid products:read".to_owned()),
            ("state", "st".to_owned()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".to_owned()),
        ];
        if let Some(m) = max_age {
            p.push(("max_age", m.to_owned()));
        }
        if let Some(pr) = prompt {
            p.push(("prompt", pr.to_owned()));
        }
        let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        (authorize_query(&refs), verifier)
    };
    let (first, _) = q(None, None);
    let login = b.get(&first).await;
    let consent = sign_in(&b, &login, "max@example.com", PASSWORD).await;
    assert!(decide(&b, &consent, "approve", None)
        .await
        .param("code")
        .is_some());
    let signed_in_at = clock.now().timestamp();

    // Within max_age: straight back with a code.
    clock.advance(chrono::Duration::seconds(100));
    let (fresh, _) = q(Some("120"), None);
    assert!(b.get(&fresh).await.param("code").is_some());

    // Past it: the login page; with prompt=none, login_required.
    clock.advance(chrono::Duration::seconds(100));
    let (silent, _) = q(Some("120"), Some("none"));
    let silent = b.get(&silent).await;
    assert_eq!(silent.param("error").as_deref(), Some("login_required"));
    assert_eq!(silent.param("state").as_deref(), Some("st"));
    let (stale, verifier) = q(Some("120"), None);
    let relogin = b.get(&stale).await;
    assert!(relogin.is_login_form(), "{}", relogin.body);
    // Signing in again continues the request without asking again, and the ID token says when.
    let after = sign_in(&b, &relogin, "max@example.com", PASSWORD).await;
    assert_eq!(after.status, 302, "{}", after.body);
    let code = after.param("code").unwrap();
    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = castellan_testkit::oauth::claims(body["id_token"].as_str().unwrap());
    assert_eq!(claims["auth_time"], json!(clock.now().timestamp()));
    assert_ne!(claims["auth_time"], json!(signed_in_at));

    // max_age=0 asks every time, without looping after the sign-in.
    let (zero, _) = q(Some("0"), None);
    let login = b.get(&zero).await;
    assert!(login.is_login_form());
    let after = sign_in(&b, &login, "max@example.com", PASSWORD).await;
    assert!(after.param("code").is_some(), "{:?}", after.location);

    // Not a whole number of seconds: invalid_request at the redirect URI.
    for bad in ["-1", "1.5", "soon", "99999999999"] {
        let (query, _) = q(Some(bad), None);
        let res = b.get(&query).await;
        assert_eq!(res.status, 302, "{bad}");
        assert_eq!(
            res.param("error").as_deref(),
            Some("invalid_request"),
            "{bad}"
        );
    }
}
