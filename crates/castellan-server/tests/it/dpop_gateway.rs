//! DPoP where tokens are used (RFC 9449 §7): at forward-auth and at Castellan's own APIs
//! (userinfo, the management API). A bound token presented as `Bearer` is refused with a
//! `DPoP` challenge; as `DPoP` it needs one fresh proof of its key for the original method and
//! URL carrying its hash; an unbound token presented as `DPoP` is refused.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::dpop::{now, Prover};
use crate::support::gateway::route;
use castellan_testkit::people::{exchange, issue_code, setup};
use castellan_testkit::{Cred, TestApp};
use serde_json::{json, Value};

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| {
        let mut read = route("GET", "/products/*");
        read.scope = Some("products:read".into());
        c.gateway.routes = vec![read];
    })
    .await
}

/// A token of a new client, bound to `key` when given.
async fn token(app: &TestApp, key: Option<&Prover>) -> String {
    let client: Cred = app
        .new_client(json!({"name": "agent", "scope": "products:read"}))
        .await;
    token_of(app, &client, key).await
}

/// A `client_credentials` token of `client`, bound to `key` when given.
async fn token_of(app: &TestApp, client: &Cred, key: Option<&Prover>) -> String {
    let mut req = app.http.post(app.url("/oauth/token")).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
    ]);
    if let Some(k) = key {
        req = req.header(
            "DPoP",
            k.proof("POST", &app.state.config.endpoint("/oauth/token")),
        );
    }
    let body: Value = req.send().await.unwrap().json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The API's URL as the caller sees it (the proxy's `X-Forwarded-Proto` and `-Host`).
const API: &str = "https://api.example.com/products/1";

async fn forward(app: &TestApp, authorization: &str, proofs: &[&str]) -> reqwest::Response {
    let mut req = app
        .http
        .get(app.url("/forward-auth"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Uri", "/products/1?page=2")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "api.example.com")
        .header("Authorization", authorization);
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    req.send().await.unwrap()
}

async fn refused(res: reqwest::Response, error: &str, reason: &str) {
    assert_eq!(res.status(), 401);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(www.starts_with("DPoP"), "{www}");
    assert!(www.contains(&format!("error=\"{error}\"")), "{www}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["reason"], reason, "{body}");
}

#[tokio::test]
async fn forward_auth_accepts_a_bound_token_only_with_a_fresh_proof_of_its_key() {
    let app = spawn().await;
    let key = Prover::new();
    let t = token(&app, Some(&key)).await;
    let auth = format!("DPoP {t}");

    let proof = key.proof_for("GET", API, &t);
    let res = forward(&app, &auth, &[&proof]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-castellan-credential"], "jwt");

    // The attacks: the stolen token as a bearer token, the same proof again, a proof of
    // another key, for another method or URL, without `ath` or for another token, none, two.
    refused(
        forward(&app, &format!("Bearer {t}"), &[]).await,
        "invalid_token",
        "dpop_bound_token",
    )
    .await;
    refused(
        forward(&app, &auth, &[&proof]).await,
        "invalid_dpop_proof",
        "dpop_proof_replayed",
    )
    .await;
    let other = Prover::new();
    refused(
        forward(&app, &auth, &[&other.proof_for("GET", API, &t)]).await,
        "invalid_dpop_proof",
        "dpop_key_mismatch",
    )
    .await;
    for p in [
        key.proof_for("POST", API, &t),
        key.proof_for("GET", "https://api.example.com/products/2", &t),
        key.proof_for("GET", "https://evil.example.com/products/1", &t),
        key.proof_with("GET", API, now(), None, None),
        key.proof_for("GET", API, "another-token"),
        key.proof_with("GET", API, now() - 3600, Some(&t), None),
    ] {
        refused(
            forward(&app, &auth, &[&p]).await,
            "invalid_dpop_proof",
            "invalid_dpop_proof",
        )
        .await;
    }
    refused(
        forward(&app, &auth, &[]).await,
        "invalid_dpop_proof",
        "dpop_proof_missing",
    )
    .await;
    let (a, b) = (key.proof_for("GET", API, &t), key.proof_for("GET", API, &t));
    refused(
        forward(&app, &auth, &[&a, &b]).await,
        "invalid_dpop_proof",
        "dpop_proof_repeated",
    )
    .await;

    // An unbound token presented as DPoP.
    let bearer = token(&app, None).await;
    refused(
        forward(
            &app,
            &format!("DPoP {bearer}"),
            &[&key.proof_for("GET", API, &bearer)],
        )
        .await,
        "invalid_token",
        "not_dpop_bound",
    )
    .await;
    let res = forward(&app, &format!("Bearer {bearer}"), &[]).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn forward_auth_compares_htu_with_the_configured_public_url() {
    let app = TestApp::spawn_with(|c| {
        c.gateway.routes = vec![route("GET", "/products/*")];
        c.gateway.public_base_url = Some("https://shop.example.com/api".into());
    })
    .await;
    let key = Prover::new();
    let t = token(&app, Some(&key)).await;
    let auth = format!("DPoP {t}");
    // The forwarded Host is not what the caller used: the configured URL decides.
    let res = forward(&app, &auth, &[&key.proof_for("GET", API, &t)]).await;
    assert_eq!(res.status(), 401);
    let p = key.proof_for("GET", "https://shop.example.com/api/products/1", &t);
    let res = forward(&app, &auth, &[&p]).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn userinfo_takes_a_bound_token_only_as_dpop_with_a_proof() {
    let app = spawn().await;
    let grant = setup(&app).await;
    let key = Prover::new();
    let (code, _) = issue_code(&app, &grant.spec("openid products:read")).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", castellan_testkit::people::REDIRECT),
        ("code_verifier", castellan_testkit::people::VERIFIER),
        ("client_id", grant.client.id.as_str()),
        ("client_secret", grant.client.secret.as_str()),
    ];
    let body: Value = app
        .http
        .post(app.url("/oauth/token"))
        .header(
            "DPoP",
            key.proof("POST", &app.state.config.endpoint("/oauth/token")),
        )
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = body["access_token"].as_str().unwrap();
    let url = app.url("/oauth/userinfo");
    let htu = app.state.config.endpoint("/oauth/userinfo");
    let res = app.http.get(&url).bearer_auth(t).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("DPoP"));
    let res = app
        .http
        .get(&url)
        .header("Authorization", format!("DPoP {t}"))
        .header("DPoP", key.proof_for("GET", &htu, t))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["sub"], grant.user.id.as_str());
    // An unbound token still works as a bearer token.
    let (code, _) = issue_code(&app, &grant.spec("openid")).await;
    let (_, body) = exchange(&app, &grant.client, &code).await;
    let res = app
        .http
        .get(&url)
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_management_api_refuses_a_bound_token_presented_as_bearer() {
    let app = spawn().await;
    let admin = app
        .new_client(json!({"name": "ops", "scope": "view_api_clients manage_api_clients"}))
        .await;
    let key = Prover::new();
    let t = &token_of(&app, &admin, Some(&key)).await;
    let url = app.url("/api-clients");
    let htu = app.state.config.endpoint("/api-clients");
    let res = app.http.get(&url).bearer_auth(t).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .http
        .get(&url)
        .header("Authorization", format!("DPoP {t}"))
        .header("DPoP", key.proof_for("GET", &htu, t))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// The attack: a stolen DPoP-bound token used without its key as an initial access token at
/// dynamic registration (re-registering a party's client would hand over its secret). As
/// `DPoP` with a proof it works.
#[tokio::test]
async fn registration_takes_a_bound_token_only_as_dpop_with_a_proof() {
    let app = TestApp::spawn_with(|c| {
        c.registration.mode = Some(castellan_server::platform::config::RegistrationMode::Token);
    })
    .await;
    let registrar = app
        .new_client(json!({"name": "portal", "scope": "register_clients"}))
        .await;
    let key = Prover::new();
    let t = &token_of(&app, &registrar, Some(&key)).await;
    let doc = json!({"client_name": "agent", "grant_types": ["client_credentials"]});
    let url = app.url("/oauth/register");
    let res = app
        .http
        .post(&url)
        .bearer_auth(t)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let before = clients(&app).await;
    let htu = app.state.config.endpoint("/oauth/register");
    let res = app
        .http
        .post(&url)
        .header("Authorization", format!("DPoP {t}"))
        .header("DPoP", Prover::new().proof_for("POST", &htu, t))
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a proof of another key");
    assert_eq!(clients(&app).await, before);
    let res = app
        .http
        .post(&url)
        .header("Authorization", format!("DPoP {t}"))
        .header("DPoP", key.proof_for("POST", &htu, t))
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

/// How many clients the management API lists.
async fn clients(app: &TestApp) -> u64 {
    let admin = app.admin_token().await;
    let page: Value = app
        .http
        .get(app.url("/api-clients"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["total"].as_u64().unwrap()
}

/// The attack: a forwarded host that carries a path (`api.example.com/products/1#`) so that a
/// proof made for one path is accepted for another. The host must be a bare authority.
#[tokio::test]
async fn a_forwarded_host_cannot_smuggle_a_path_into_the_proofs_url() {
    let app = spawn().await;
    let key = Prover::new();
    let t = token(&app, Some(&key)).await;
    let proof = key.proof_for("GET", API, &t);
    for host in [
        "api.example.com/products/1#",
        "api.example.com/products/1?",
        "a@api.example.com",
    ] {
        let res = app
            .http
            .get(app.url("/forward-auth"))
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", "/products/2")
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", host)
            .header("Authorization", format!("DPoP {t}"))
            .header("DPoP", &proof)
            .send()
            .await
            .unwrap();
        refused(res, "invalid_dpop_proof", "invalid_dpop_proof").await;
    }
}

/// A refused request does not use up its proof: nginx asks forward-auth again for the full
/// answer of a refusal, and must get the same refusal (403 insufficient_scope), not a replay.
#[tokio::test]
async fn a_refused_request_does_not_use_up_its_proof() {
    let app = TestApp::spawn_with(|c| {
        let mut write = route("GET", "/products/*");
        write.scope = Some("products:write".into());
        c.gateway.routes = vec![write];
    })
    .await;
    let key = Prover::new();
    let t = token(&app, Some(&key)).await;
    let proof = key.proof_for("GET", API, &t);
    for _ in 0..2 {
        let res = forward(&app, &format!("DPoP {t}"), &[&proof]).await;
        assert_eq!(res.status(), 403);
    }
}

/// A client that must use DPoP gets no tenant token from `POST /auth` (those are bearer
/// tokens): otherwise it would hold an unbound token the gateway accepts.
#[tokio::test]
async fn a_dpop_bound_client_gets_no_tenant_token() {
    let app = spawn().await;
    let c: Cred = app
        .new_client(json!({
            "name": "venue agent",
            "scope": "venues:read",
            "tenants": [{"brand": "openapitest", "venues": ["1"]}],
            "dpopBoundAccessTokens": true,
        }))
        .await;
    let res = app
        .http
        .post(app.url("/auth"))
        .json(&json!({"client_id": c.id, "client_secret": c.secret, "brand": "openapitest", "venue_id": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    assert!(body.get("token").is_none());
}

/// The protected resource's metadata (RFC 9728 §2) names the proof algorithms accepted.
#[tokio::test]
async fn the_resource_metadata_names_the_proof_algorithms() {
    let app = spawn().await;
    let doc = app.get_json("/.well-known/oauth-protected-resource").await;
    let algs = doc["dpop_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&json!("ES256")), "{doc}");
}
