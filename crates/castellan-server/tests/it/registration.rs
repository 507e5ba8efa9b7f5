//! Dynamic client registration (RFC 7591) and the management of a registration
//! (RFC 7592): the answer's shape, registered clients getting tokens, redirect rules per
//! environment, scope rules, the registration modes, the `software_id` rule, the client
//! configuration endpoint, and bad input answering 4xx.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_testkit::people;

use castellan_core::Environment;
use castellan_server::platform::config::{Config, RegistrationMode};
use castellan_testkit::TestApp;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Registration is limited per IP (10 an hour by default) and these tests register more often
/// from one address, so they use the roomier `default` policy.
fn roomy(c: &mut Config) {
    c.rate_limit.per_ip.registration = "default".into();
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(roomy).await
}

async fn spawn_with(edit: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn_with(|c| {
        roomy(c);
        edit(c);
    })
    .await
}

async fn answer(res: reqwest::Response) -> (StatusCode, HeaderMap, Value) {
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

async fn register(
    app: &TestApp,
    bearer: Option<&str>,
    body: &Value,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app.http.post(app.url("/oauth/register")).json(body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    answer(req.send().await.unwrap()).await
}

/// Registers, asserting 201; answers the body.
async fn register_ok(app: &TestApp, bearer: Option<&str>, body: &Value) -> Value {
    let (status, _, b) = register(app, bearer, body).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    b
}

fn machine(software_id: &str) -> Value {
    json!({"client_name": "agent", "grant_types": ["client_credentials"], "software_id": software_id})
}

async fn token_status(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    app.http
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

async fn config_request(
    app: &TestApp,
    method: reqwest::Method,
    id: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app
        .http
        .request(method, app.url(&format!("/oauth/register/{id}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    answer(req.send().await.unwrap()).await
}

#[tokio::test]
async fn registration_answers_rfc_7591_client_information() {
    let app = spawn().await;
    let (status, headers, b) = register(
        &app,
        None,
        &json!({
            "redirect_uris": ["https://app.example.com/cb"],
            "client_name": "My Agent",
            "client_uri": "https://app.example.com",
            "logo_uri": "https://app.example.com/logo.png",
            "contacts": ["ops@example.com"],
            "software_id": "my-agent",
            "software_version": "1.2.3",
            "scope": "openid profile",
            "unknown_field": {"big": [1, 2, 3]},
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_eq!(headers["cache-control"], "no-store");
    let id = s(&b, "client_id");
    assert_eq!(s(&b, "client_secret").len(), 43);
    assert_eq!(s(&b, "registration_access_token").len(), 43);
    assert_eq!(b["client_secret_expires_at"], 0);
    assert!(b["client_id_issued_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(
        s(&b, "registration_client_uri"),
        format!("{}/oauth/register/{id}", app.state.config.issuer)
    );
    assert_eq!(b["client_name"], "My Agent");
    assert_eq!(b["redirect_uris"], json!(["https://app.example.com/cb"]));
    assert_eq!(b["grant_types"], json!(["authorization_code"]));
    assert_eq!(b["response_types"], json!(["code"]));
    assert_eq!(b["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(b["scope"], "openid profile");
    assert_eq!(b["client_uri"], "https://app.example.com");
    assert_eq!(b["logo_uri"], "https://app.example.com/logo.png");
    assert_eq!(b["contacts"], json!(["ops@example.com"]));
    assert_eq!(b["software_id"], "my-agent");
    assert_eq!(b["software_version"], "1.2.3");
    assert!(b.get("unknown_field").is_none());

    // What is stored: hashes only, the registration, the bounded metadata.
    let stored = app.store.get_client(id).await.unwrap().unwrap();
    let reg = stored.registration.unwrap();
    assert_eq!(reg.software_id.as_deref(), Some("my-agent"));
    assert_eq!(reg.registered_by, None);
    assert!(castellan_crypto::verify_secret(
        s(&b, "registration_access_token"),
        &reg.access_token_hash
    ));
    assert!(!stored.metadata.contains_key("unknown_field"));
}

#[tokio::test]
async fn a_registered_confidential_client_gets_tokens_and_defaults_apply() {
    let app = spawn().await;
    let b = register_ok(&app, None, &json!({"grant_types": ["client_credentials"]})).await;
    assert_eq!(b["client_name"], "Registered client");
    assert_eq!(b["response_types"], json!([]));
    // No scope asked: the open scopes.
    assert_eq!(b["scope"], "openid profile email offline_access");
    let token = app
        .token_for(s(&b, "client_id"), s(&b, "client_secret"), Some("openid"))
        .await;
    assert!(!token.is_empty());

    // client_secret_post works too.
    let b = register_ok(
        &app,
        None,
        &json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", s(&b, "client_id")),
            ("client_secret", s(&b, "client_secret")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_public_client_gets_no_secret() {
    let app = spawn().await;
    let b = register_ok(
        &app,
        None,
        &json!({"redirect_uris": ["http://localhost:3000/cb"], "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await;
    assert!(b.get("client_secret").is_none(), "{b}");
    assert!(b.get("client_secret_expires_at").is_none(), "{b}");
    assert_eq!(b["token_endpoint_auth_method"], "none");
    assert!(b["registration_access_token"].is_string());

    // A public client cannot hold client_credentials.
    let (status, _, e) = register(
        &app,
        None,
        &json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_client_metadata");
}

#[tokio::test]
async fn redirect_uris_follow_the_environment() {
    let localhost = json!({"redirect_uris": ["http://localhost:8765/callback"]});
    for env in [Environment::Local, Environment::Testing] {
        let app = spawn_with(|c| c.environment = env).await;
        register_ok(&app, None, &localhost).await;
    }
    let app = spawn_with(|c| {
        c.environment = Environment::Production;
        c.issuer = "https://auth.example.com".into();
        c.registration.mode = Some(RegistrationMode::Open);
    })
    .await;
    let (status, _, e) = register(&app, None, &localhost).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"], "invalid_redirect_uri");
    let b = register_ok(
        &app,
        None,
        &json!({"redirect_uris": ["http://127.0.0.1:8765/callback", "http://[::1]:9000/cb"]}),
    )
    .await;
    assert!(
        s(&b, "registration_client_uri").starts_with("https://auth.example.com/oauth/register/")
    );
    for bad in [
        json!({"redirect_uris": ["https://app.example.com/cb#frag"]}),
        json!({"redirect_uris": ["http://app.example.com/cb"]}),
        json!({"redirect_uris": ["javascript:alert(1)"]}),
        json!({"redirect_uris": []}),
        json!({}),
    ] {
        let (status, _, e) = register(&app, None, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert_eq!(e["error"], "invalid_redirect_uri", "{bad}: {e}");
    }
}

#[tokio::test]
async fn scopes_must_be_open_and_never_administrative() {
    let app = spawn_with(|c| {
        c.scopes = vec![
            castellan_server::platform::config::ScopeEntry {
                name: "products:read".into(),
                description: "Read products".into(),
            },
            castellan_server::platform::config::ScopeEntry {
                name: "products:write".into(),
                description: "Change products".into(),
            },
        ];
    })
    .await;
    for scope in [
        "register_clients",
        "manage_api_clients",
        "openid introspect",
        "products:write",
    ] {
        let mut body = machine("x");
        body["scope"] = scope.into();
        let (status, _, e) = register(&app, None, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{scope}: {e}");
        assert_eq!(e["error"], "invalid_client_metadata");
        let named = scope.split(' ').next_back().unwrap();
        assert!(s(&e, "error_description").contains(named), "{e}");
    }
    let mut body = machine("x");
    body["scope"] = "products:read openid".into();
    let b = register_ok(&app, None, &body).await;
    assert_eq!(b["scope"], "products:read openid");
    let (status, _, e) = register(
        &app,
        None,
        &json!({"grant_types": ["client_credentials"], "scope": "a::b"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
}

#[tokio::test]
async fn token_mode_requires_a_register_clients_token() {
    let app = spawn_with(|c| c.registration.mode = Some(RegistrationMode::Token)).await;
    let body = machine("tok");
    let (status, headers, e) = register(&app, None, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"], "invalid_token");
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let (status, _, e) = register(&app, Some("not-a-token"), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"], "invalid_token");

    // A valid token without register_clients.
    let other = app
        .create_client(json!({"name": "reader", "scope": "view_api_clients"}))
        .await;
    let weak = app
        .token_for(s(&other, "id"), s(&other, "secret"), None)
        .await;
    let (status, headers, e) = register(&app, Some(&weak), &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["error"], "insufficient_scope");
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));

    let admin = app.admin_token().await;
    let b = register_ok(&app, Some(&admin), &body).await;
    let stored = app
        .store
        .get_client(s(&b, "client_id"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.registration.unwrap().registered_by,
        Some(format!("client:{}", app.admin_id))
    );
}

#[tokio::test]
async fn disabled_mode_refuses_registration() {
    let app = spawn_with(|c| c.registration.mode = Some(RegistrationMode::Disabled)).await;
    let admin = app.admin_token().await;
    let (status, _, e) = register(&app, Some(&admin), &machine("d")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["error"], "access_denied");
    assert!(s(&e, "error_description").contains("disabled"));
}

#[tokio::test]
async fn the_same_party_and_software_id_get_the_same_client_with_new_credentials() {
    let app = spawn_with(|c| c.registration.mode = Some(RegistrationMode::Token)).await;
    let admin = app.admin_token().await;
    let first = register_ok(&app, Some(&admin), &machine("agent-x")).await;
    let id = s(&first, "client_id");
    let old_secret = s(&first, "client_secret");
    // Loads the client into the cache, so the rotation must invalidate it.
    assert_eq!(token_status(&app, id, old_secret).await, StatusCode::OK);

    let mut again = machine("agent-x");
    again["client_name"] = "agent v2".into();
    let (status, headers, second) = register(&app, Some(&admin), &again).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(s(&second, "client_id"), id);
    assert_eq!(second["client_name"], "agent v2");
    let new_secret = s(&second, "client_secret");
    assert_ne!(new_secret, old_secret);
    assert_eq!(
        token_status(&app, id, old_secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(token_status(&app, id, new_secret).await, StatusCode::OK);

    // The old registration access token stopped working; the new one works.
    let (status, _, _) = config_request(
        &app,
        reqwest::Method::GET,
        id,
        first["registration_access_token"].as_str(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = config_request(
        &app,
        reqwest::Method::GET,
        id,
        second["registration_access_token"].as_str(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Scope cannot change on a repeat.
    let mut widen = machine("agent-x");
    widen["scope"] = "openid".into();
    let (status, _, e) = register(&app, Some(&admin), &widen).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"], "invalid_client_metadata");
    assert!(s(&e, "error_description").contains("scope"));

    // Another party with the same software_id gets its own client.
    let other = app
        .create_client(json!({"name": "partner", "scope": "register_clients"}))
        .await;
    let other_token = app
        .token_for(s(&other, "id"), s(&other, "secret"), None)
        .await;
    let theirs = register_ok(&app, Some(&other_token), &machine("agent-x")).await;
    assert_ne!(s(&theirs, "client_id"), id);
    // ...and their repeat finds theirs, not the first party's.
    let (status, _, theirs_again) = register(&app, Some(&other_token), &machine("agent-x")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs_again["client_id"], theirs["client_id"]);
    // The first party's credentials were not touched by the other party.
    assert_eq!(token_status(&app, id, new_secret).await, StatusCode::OK);
}

/// A person's access token through `portal`: a code for `user`, exchanged.
async fn person_token(
    app: &TestApp,
    portal: &people::Cred,
    user: &castellan_core::user::User,
) -> String {
    let spec = people::CodeSpec::new(portal, user, None, "openid");
    let (code, _) = people::issue_code(app, &spec).await;
    let (status, b) = people::exchange(app, portal, &code).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    s(&b, "access_token").to_owned()
}

/// Two people signed in through the same portal client are two parties. The
/// second one re-registering the first one's `software_id` with their own redirect URI gets a
/// client of their own, never the first one's client, a new secret for it, or its consents.
#[tokio::test]
async fn two_people_of_one_portal_client_are_two_parties() {
    let app = spawn().await;
    let portal = people::code_client(&app, json!({})).await;
    let alice = people::user(&app, "alice@example.com", None).await;
    let bob = people::user(&app, "bob@example.com", None).await;
    let alice_token = person_token(&app, &portal, &alice).await;
    let bob_token = person_token(&app, &portal, &bob).await;
    let draft = |redirect: &str| {
        json!({"client_name": "agent", "software_id": "shared-agent",
               "grant_types": ["authorization_code", "client_credentials"],
               "redirect_uris": [redirect]})
    };

    let first = register_ok(&app, Some(&alice_token), &draft("https://alice.example/cb")).await;
    let alice_client = s(&first, "client_id").to_owned();
    let alice_secret = s(&first, "client_secret").to_owned();
    // Alice's users consented to her client.
    let spec = people::CodeSpec::new(
        &people::Cred {
            id: alice_client.clone(),
            secret: alice_secret.clone(),
        },
        &alice,
        None,
        "openid",
    );
    people::issue_code(&app, &spec).await;

    // Bob, through the same portal client, names the same software_id: a new client.
    let (status, _, second) =
        register(&app, Some(&bob_token), &draft("https://bob.example/cb")).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let bob_client = s(&second, "client_id").to_owned();
    assert_ne!(bob_client, alice_client);
    assert_eq!(second["redirect_uris"], json!(["https://bob.example/cb"]));
    // Bob's client has none of the consents given to Alice's.
    assert!(app
        .store
        .find_consent(&alice.id, &bob_client, None)
        .await
        .unwrap()
        .is_none());
    assert!(app
        .store
        .find_consent(&alice.id, &alice_client, None)
        .await
        .unwrap()
        .is_some());
    // Alice's client is untouched: her secret, her registration access token, her redirect.
    assert_eq!(
        token_status(&app, &alice_client, &alice_secret).await,
        StatusCode::OK
    );
    let (status, _, mine) = config_request(
        &app,
        reqwest::Method::GET,
        &alice_client,
        first["registration_access_token"].as_str(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["redirect_uris"], json!(["https://alice.example/cb"]));

    // Each person's repeat still finds their own client.
    let (status, _, again) = register(
        &app,
        Some(&alice_token),
        &draft("https://alice.example/cb2"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(s(&again, "client_id"), alice_client);
    let (status, _, again) =
        register(&app, Some(&bob_token), &draft("https://bob.example/cb")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(s(&again, "client_id"), bob_client);
    let reg = app.store.get_client(&alice_client).await.unwrap().unwrap();
    assert_eq!(
        reg.registration.unwrap().registered_by.unwrap(),
        format!("client:{}:user:{}", portal.id, alice.id)
    );
    // A client's own token is a party of its own, apart from every person.
    let (status, _, own) = register(
        &app,
        Some(&app.token_for(&app.admin_id, &app.admin_secret, None).await),
        &draft("https://admin.example/cb"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
}

#[tokio::test]
async fn anonymous_registrations_never_reuse_a_client() {
    let app = spawn().await;
    let a = register_ok(&app, None, &machine("same")).await;
    let b = register_ok(&app, None, &machine("same")).await;
    assert_ne!(a["client_id"], b["client_id"]);
    // An anonymous registration does not match one made by a party either.
    let admin = app.admin_token().await;
    let c = register_ok(&app, Some(&admin), &machine("same")).await;
    assert_ne!(c["client_id"], a["client_id"]);
    assert_ne!(c["client_id"], b["client_id"]);
    // In open mode a bearer is optional, but one that is sent must be valid.
    let (status, _, e) = register(&app, Some("garbage"), &machine("same")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{e}");
}

#[tokio::test]
async fn rfc_7592_read_update_delete_with_the_registration_access_token() {
    let app = spawn().await;
    let reg = register_ok(
        &app,
        None,
        &json!({"client_name": "cfg", "grant_types": ["client_credentials"], "scope": "openid",
                "software_id": "cfg-app"}),
    )
    .await;
    let id = s(&reg, "client_id").to_owned();
    let rat = s(&reg, "registration_access_token").to_owned();
    let secret = s(&reg, "client_secret").to_owned();
    use reqwest::Method;

    // Read.
    let (status, headers, b) = config_request(&app, Method::GET, &id, Some(&rat), None).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(b["client_id"], id.as_str());
    assert_eq!(b["client_name"], "cfg");
    assert_eq!(b["scope"], "openid");
    assert_eq!(b["registration_client_uri"], reg["registration_client_uri"]);
    assert!(b.get("client_secret").is_none());
    assert!(b.get("registration_access_token").is_none());
    // Reading does not rotate anything.
    let (status, _, _) = config_request(&app, Method::GET, &id, Some(&rat), None).await;
    assert_eq!(status, StatusCode::OK);

    // Wrong, missing token; unknown client; a management-API client: all 401 alike.
    for (cid, tok) in [
        (id.as_str(), Some("wrong")),
        (id.as_str(), None),
        ("nosuchclient", Some(rat.as_str())),
        (app.admin_id.as_str(), Some(rat.as_str())),
    ] {
        let (status, headers, e) = config_request(&app, Method::GET, cid, tok, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{cid}: {e}");
        assert_eq!(e["error"], "invalid_token");
        assert!(headers.contains_key("www-authenticate"));
    }
    let admin = app.admin_token().await;
    let (status, _, _) =
        config_request(&app, Method::DELETE, &app.admin_id, Some(&admin), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Update: replaces the metadata.
    let update = json!({"client_id": id, "client_name": "cfg renamed", "grant_types": ["client_credentials"],
                        "scope": "openid", "contacts": ["a@example.com"], "client_secret": secret});
    let (status, _, b) = config_request(&app, Method::PUT, &id, Some(&rat), Some(&update)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["client_name"], "cfg renamed");
    assert_eq!(b["contacts"], json!(["a@example.com"]));
    assert_eq!(b["software_id"], "cfg-app");
    let (_, _, b) = config_request(&app, Method::GET, &id, Some(&rat), None).await;
    assert_eq!(b["client_name"], "cfg renamed");
    // The secret was not rotated by the update.
    assert_eq!(token_status(&app, &id, &secret).await, StatusCode::OK);

    let bad_updates = [
        (
            json!({"client_name": "no id", "grant_types": ["client_credentials"]}),
            "invalid_request",
        ),
        (
            json!({"client_id": "other", "grant_types": ["client_credentials"]}),
            "invalid_request",
        ),
        (
            json!({"client_id": id, "grant_types": ["client_credentials"], "scope": "openid profile"}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_id": id, "grant_types": ["client_credentials"], "client_secret": "chosen"}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_id": id, "grant_types": ["client_credentials"], "software_id": "other"}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_id": id, "redirect_uris": ["http://example.com/cb"]}),
            "invalid_redirect_uri",
        ),
    ];
    for (body, code) in bad_updates {
        let (status, _, e) = config_request(&app, Method::PUT, &id, Some(&rat), Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert_eq!(e["error"], code, "{body}: {e}");
    }
    let (status, _, _) = config_request(&app, Method::PUT, &id, Some("wrong"), Some(&update)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Delete.
    let (status, _, _) = config_request(&app, Method::DELETE, &id, Some("wrong"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let res = app
        .http
        .delete(app.url(&format!("/oauth/register/{id}")))
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(app.store.get_client(&id).await.unwrap().is_none());
    assert_eq!(
        token_status(&app, &id, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _, _) = config_request(&app, Method::GET, &id, Some(&rat), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_input_answers_4xx() {
    let app = spawn().await;
    let post_raw = |ct: &'static str, body: Vec<u8>| {
        app.http
            .post(app.url("/oauth/register"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let res = post_raw("text/plain", b"{}".to_vec()).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = post_raw(
        "application/x-www-form-urlencoded",
        b"redirect_uris=x".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (status, _, e) = answer(
        post_raw("application/json", b"{not json".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_client_metadata");
    assert!(s(&e, "error_description").contains("JSON"), "{e}");
    let big = format!(r#"{{"client_name": "{}"}}"#, "a".repeat(1024 * 1024));
    let res = post_raw("application/json", big.into_bytes())
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let res = post_raw("application/json", deep.into_bytes())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let many: Vec<String> = (0..500)
        .map(|i| format!("https://app.example.com/cb{i}"))
        .collect();
    let cases = [
        json!(["a"]),
        json!(null),
        json!("string"),
        json!({"redirect_uris": "https://app.example.com/cb"}),
        json!({"redirect_uris": [1, 2]}),
        json!({"grant_types": [1, 2]}),
        json!({"grant_types": "client_credentials"}),
        json!({"grant_types": ["urn:made:up"]}),
        json!({"grant_types": ["implicit"]}),
        json!({"grant_types": []}),
        json!({"grant_types": ["client_credentials"], "response_types": ["token"]}),
        json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}),
        json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": 7}),
        json!({"grant_types": ["client_credentials"], "client_name": {"a": 1}}),
        json!({"grant_types": ["client_credentials"], "client_name": "a".repeat(300)}),
        json!({"grant_types": ["client_credentials"], "client_uri": "not a url"}),
        json!({"grant_types": ["client_credentials"], "contacts": (0..50).map(|i| format!("{i}@x.io")).collect::<Vec<_>>()}),
        json!({"grant_types": ["client_credentials"], "jwks": {"keys": []}, "jwks_uri": "https://x.io/jwks"}),
        json!({"grant_types": ["client_credentials"], "jwks": "nope"}),
        json!({"grant_types": ["client_credentials"], "scope": 5}),
        json!({"redirect_uris": many}),
    ];
    for body in cases {
        let (status, headers, e) = register(&app, None, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert!(
            matches!(
                s(&e, "error"),
                "invalid_client_metadata" | "invalid_redirect_uri" | "invalid_request"
            ),
            "{e}"
        );
        assert_eq!(headers["cache-control"], "no-store");
    }
    // Null values count as absent; unknown fields are ignored.
    register_ok(
        &app,
        None,
        &json!({"grant_types": ["client_credentials"], "client_name": null, "x": [1]}),
    )
    .await;
}
