//! Pushed authorization requests (RFC 9126): `POST /oauth/par` authenticates the client like the
//! token endpoint, checks the request like the authorization endpoint, and answers a single-use,
//! short-lived `request_uri` the authorization request then names; PAR required per client and
//! per deployment; bad input refused with JSON errors.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::pages::*;
use castellan_testkit::oauth::claims;
use castellan_testkit::TestApp;
use serde_json::{json, Value};

const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

async fn push(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let res = app
        .http
        .post(app.url("/oauth/par"))
        .form(form)
        .send()
        .await
        .unwrap();
    if res.status() == 201 {
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
    (res.status().as_u16(), res.json().await.unwrap())
}

/// The parameters of a good request for `client_id`, with `challenge`.
fn request<'a>(client_id: &'a str, secret: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", client_id),
        ("client_secret", secret),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid products:read"),
        ("state", "st-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("resource", "https://api.example/"),
    ]
}

fn authorize_by_reference(client_id: &str, request_uri: &str) -> String {
    authorize_query(&[("client_id", client_id), ("request_uri", request_uri)])
}

async fn signed_in_consent(app: &TestApp, b: &Browser, path: &str) -> Page {
    let email = format!("{}@example.com", castellan_testkit::people::new_id("p")).to_lowercase();
    add_person(app, &email, &["Acme"]).await;
    let login = b.get(path).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = sign_in(b, &login, &email, PASSWORD).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    consent
}

#[tokio::test]
async fn a_pushed_request_with_pkce_gives_a_code_and_tokens_once() {
    let app = TestApp::spawn().await;
    let (client_id, secret) = confidential_client(&app, &[REDIRECT]).await;
    let (verifier, challenge) = pkce();
    let (s, pushed) = push(&app, &request(&client_id, &secret, &challenge)).await;
    assert_eq!(s, 201, "{pushed}");
    let request_uri = pushed["request_uri"].as_str().unwrap();
    assert!(request_uri.starts_with(PREFIX), "{request_uri}");
    assert!(request_uri.len() > PREFIX.len() + 40);
    assert_eq!(pushed["expires_in"], 60);

    let b = Browser::new(&app);
    let path = authorize_by_reference(&client_id, request_uri);
    let consent = signed_in_consent(&app, &b, &path).await;
    let back = decide(&b, &consent, "approve", None).await;
    assert_eq!(back.status, 302, "{}", back.body);
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(back.param("state").as_deref(), Some("st-1"));
    let code = back.param("code").unwrap();

    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    // The pushed resource is the token's audience.
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["aud"],
        "https://api.example/"
    );

    // Used: the same reference is an error page, never a redirect.
    let again = b.get(&path).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.location.is_none());
    // Replaying the consent form does not issue a second code either.
    let replay = decide(&b, &consent, "approve", None).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.location.is_none());
}

#[tokio::test]
async fn parameters_sent_beside_the_reference_are_ignored() {
    let app = TestApp::spawn().await;
    let (client_id, secret) = confidential_client(&app, &[REDIRECT]).await;
    let (_, challenge) = pkce();
    let (_, pushed) = push(&app, &request(&client_id, &secret, &challenge)).await;
    let b = Browser::new(&app);
    let path = format!(
        "{}&state=evil&scope=products%3Awrite&redirect_uri=https%3A%2F%2Fevil.example%2F",
        authorize_by_reference(&client_id, pushed["request_uri"].as_str().unwrap())
    );
    let consent = signed_in_consent(&app, &b, &path).await;
    assert!(!consent.body.contains("products:write"), "{}", consent.body);
    let back = decide(&b, &consent, "approve", None).await;
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT));
    assert_eq!(back.param("state").as_deref(), Some("st-1"));
}

#[tokio::test]
async fn a_pushed_prompt_login_is_met_by_signing_in_after_the_push() {
    let app = TestApp::spawn().await;
    let (client_id, secret) = confidential_client(&app, &[REDIRECT]).await;
    let (_, challenge) = pkce();
    let mut form = request(&client_id, &secret, &challenge);
    form.push(("prompt", "login"));
    let (s, pushed) = push(&app, &form).await;
    assert_eq!(s, 201, "{pushed}");
    let b = Browser::new(&app);
    let path = authorize_by_reference(&client_id, pushed["request_uri"].as_str().unwrap());
    // Login, then consent: not the login page again.
    signed_in_consent(&app, &b, &path).await;
}

#[tokio::test]
async fn a_pushed_max_age_is_met_by_signing_in_after_the_push() {
    let app = TestApp::spawn().await;
    let (client_id, secret) = confidential_client(&app, &[REDIRECT]).await;
    let (_, challenge) = pkce();
    let mut form = request(&client_id, &secret, &challenge);
    form.push(("max_age", "0"));
    let (s, pushed) = push(&app, &form).await;
    assert_eq!(s, 201, "{pushed}");
    let b = Browser::new(&app);
    let path = authorize_by_reference(&client_id, pushed["request_uri"].as_str().unwrap());
    // Login, then consent: not the login page again.
    let consent = signed_in_consent(&app, &b, &path).await;
    assert!(decide(&b, &consent, "approve", None)
        .await
        .param("code")
        .is_some());
    // Signed in, a request pushed after that sign-in asks for a new one (instants are kept to
    // the millisecond: let one pass).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (s, pushed) = push(&app, &form).await;
    assert_eq!(s, 201, "{pushed}");
    let path = authorize_by_reference(&client_id, pushed["request_uri"].as_str().unwrap());
    assert!(b.get(&path).await.is_login_form());
    // A malformed max_age is refused when pushed.
    let mut bad = request(&client_id, &secret, &challenge);
    bad.push(("max_age", "-5"));
    let (s, body) = push(&app, &bad).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn an_expired_reference_is_an_error_page() {
    let app = TestApp::spawn_with(|c| c.par.lifetime_seconds = 1).await;
    let (client_id, secret) = confidential_client(&app, &[REDIRECT]).await;
    let (_, challenge) = pkce();
    let (s, pushed) = push(&app, &request(&client_id, &secret, &challenge)).await;
    assert_eq!(s, 201, "{pushed}");
    assert_eq!(pushed["expires_in"], 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let b = Browser::new(&app);
    let page = b
        .get(&authorize_by_reference(
            &client_id,
            pushed["request_uri"].as_str().unwrap(),
        ))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location.is_none());
}

#[tokio::test]
async fn another_clients_or_an_unknown_reference_is_an_error_page() {
    let app = TestApp::spawn().await;
    let (a, a_secret) = confidential_client(&app, &[REDIRECT]).await;
    let (other, _) = confidential_client(&app, &[REDIRECT]).await;
    let (_, challenge) = pkce();
    let (_, pushed) = push(&app, &request(&a, &a_secret, &challenge)).await;
    let request_uri = pushed["request_uri"].as_str().unwrap();
    let b = Browser::new(&app);
    for path in [
        authorize_by_reference(&other, request_uri),
        authorize_by_reference(&a, &format!("{PREFIX}unknown")),
        authorize_by_reference(&a, "https://evil.example/request.jwt"),
        authorize_query(&[("request_uri", request_uri)]),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.body);
        assert!(page.location.is_none(), "{path}");
    }
    // The rightful client can still use it.
    let page = b.get(&authorize_by_reference(&a, request_uri)).await;
    assert_eq!(page.status, 200, "{}", page.body);
}

#[tokio::test]
async fn pushing_needs_client_authentication() {
    let app = TestApp::spawn().await;
    let (client_id, secret) = confidential_client(&app, &[REDIRECT]).await;
    let (_, challenge) = pkce();
    let mut none = request(&client_id, &secret, &challenge);
    none.retain(|(k, _)| *k != "client_secret");
    let (s, b) = push(&app, &none).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["error"], "invalid_client");
    let mut wrong = request(&client_id, "wrong-secret", &challenge);
    wrong.retain(|(k, v)| *k != "client_secret" || *v == "wrong-secret");
    let (s, b) = push(&app, &wrong).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["error"], "invalid_client");
}

#[tokio::test]
async fn bad_pushed_requests_get_json_errors_never_a_redirect() {
    let app = TestApp::spawn().await;
    let (client_id, secret) = confidential_client(&app, &[REDIRECT]).await;
    let (_, challenge) = pkce();
    let base = request(&client_id, &secret, &challenge);
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut f = base.clone();
        f.extend_from_slice(extra);
        f
    };
    let huge = "x".repeat(9000);
    let mut huge_form = base.clone();
    huge_form.push(("nonce", huge.as_str()));
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (with(&[("state", "again")]), "invalid_request"),
        (
            with(&[("request", "eyJhbGciOiJub25lIn0.e30.")]),
            "request_not_supported",
        ),
        (with(&[("request_uri", "urn:x")]), "invalid_request"),
        (
            with(&[("resource", "https://a.example/#f")]),
            "invalid_target",
        ),
        (huge_form, "invalid_request"),
        (
            base.iter()
                .map(|(k, v)| {
                    if *k == "redirect_uri" {
                        (*k, "https://evil.example/cb")
                    } else {
                        (*k, *v)
                    }
                })
                .collect(),
            "invalid_request",
        ),
        (
            base.iter()
                .map(|(k, v)| {
                    if *k == "scope" {
                        (*k, "manage_api_clients")
                    } else {
                        (*k, *v)
                    }
                })
                .collect(),
            "invalid_scope",
        ),
        (
            base.iter()
                .map(|(k, v)| {
                    if *k == "response_type" {
                        (*k, "token")
                    } else {
                        (*k, *v)
                    }
                })
                .collect(),
            "unsupported_response_type",
        ),
    ];
    for (form, error) in cases {
        let (s, b) = push(&app, &form).await;
        assert_eq!(s, 400, "{error}: {b}");
        assert_eq!(b["error"], error, "{b}");
    }
    // A JSON body is read too, and a body of any size gets a clear 400.
    let res = app
        .http
        .post(app.url("/oauth/par"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "client_id={client_id}&client_secret={secret}&{}",
            "a=1&".repeat(40_000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_client_required_to_push_cannot_use_plain_authorize() {
    let app = TestApp::spawn().await;
    let c = app
        .create_client(json!({
            "name": "Agent",
            "scope": SCOPES,
            "grantTypes": ["authorization_code"],
            "redirectUris": [REDIRECT],
            "tokenEndpointAuthMethod": "client_secret_post",
            "requirePushedAuthorizationRequests": true,
        }))
        .await;
    assert_eq!(c["requirePushedAuthorizationRequests"], true);
    let client_id = c["id"].as_str().unwrap();
    let secret = c["secret"].as_str().unwrap();
    let (_, challenge) = pkce();
    let b = Browser::new(&app);
    let plain = b
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "products:read"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    assert_eq!(plain.status, 302, "{}", plain.body);
    assert_eq!(plain.param("error").as_deref(), Some("invalid_request"));
    // Through PAR it works.
    let (s, pushed) = push(&app, &request(client_id, secret, &challenge)).await;
    assert_eq!(s, 201, "{pushed}");
    let page = b
        .get(&authorize_by_reference(
            client_id,
            pushed["request_uri"].as_str().unwrap(),
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);

    // The management API can lift the requirement.
    let admin = app.admin_token().await;
    let res = app
        .http
        .post(app.url(&format!("/api-clients/{client_id}")))
        .bearer_auth(admin)
        .json(&json!({"actions": [{
            "action": "setRequirePushedAuthorizationRequests",
            "requirePushedAuthorizationRequests": false,
        }]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["requirePushedAuthorizationRequests"], false);
    // The OpenAPI document describes the field and the action.
    let openapi = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(openapi.contains("requirePushedAuthorizationRequests"));
    assert!(openapi.contains("setRequirePushedAuthorizationRequests"));
}

#[tokio::test]
async fn the_deployment_may_require_pushed_requests_and_says_so() {
    let app = TestApp::spawn_with(|c| c.par.required = true).await;
    let meta = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(meta["require_pushed_authorization_requests"], true);
    assert_eq!(
        meta["pushed_authorization_request_endpoint"],
        app.state.config.endpoint("/oauth/par")
    );
    let client_id = public_client(&app).await;
    let (_, challenge) = pkce();
    let plain = Browser::new(&app)
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "products:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    assert_eq!(plain.status, 302, "{}", plain.body);
    assert_eq!(plain.param("error").as_deref(), Some("invalid_request"));
    // A public client pushes with its client_id alone (no secret to authenticate with).
    let (s, pushed) = push(
        &app,
        &[
            ("client_id", &client_id),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "products:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(s, 201, "{pushed}");
}

#[tokio::test]
async fn dynamic_registration_takes_require_pushed_authorization_requests() {
    let app = TestApp::spawn().await;
    let register = |body: Value| {
        let app = &app;
        async move {
            let res = app
                .http
                .post(app.url("/oauth/register"))
                .json(&body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let (s, b) = register(json!({
        "client_name": "Agent",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "require_pushed_authorization_requests": "yes",
    }))
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"], "invalid_client_metadata");
    let (s, b) = register(json!({
        "client_name": "Agent",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "require_pushed_authorization_requests": true,
    }))
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["require_pushed_authorization_requests"], true);
    let client_id = b["client_id"].as_str().unwrap();
    let (_, challenge) = pkce();
    let plain = Browser::new(&app)
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    assert_eq!(plain.status, 302, "{}", plain.body);
    assert_eq!(plain.param("error").as_deref(), Some("invalid_request"));
}
