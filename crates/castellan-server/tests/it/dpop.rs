//! DPoP at the token and PAR endpoints (RFC 9449 §4–§5, §8, §10): bound access tokens
//! (`token_type: DPoP`, `cnf.jkt`, shown by introspection), refused proofs of every shape,
//! replays, clients that must use DPoP, server nonces, codes bound by `dpop_jkt`, and public
//! clients' refresh tokens bound to the key.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::dpop::{jti, now, Prover};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_crypto::{Algorithm, SigningKey};
use castellan_testkit::oauth::claims;
use castellan_testkit::people::{code_client, issue_code, setup, user, REDIRECT, VERIFIER};
use castellan_testkit::{Cred, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The token endpoint's URL as the issuer names it: what a proof's `htu` must be.
fn token_url(app: &TestApp) -> String {
    app.state.config.endpoint("/oauth/token")
}

/// POSTs `form` to the token endpoint as `client` with `proofs` as DPoP headers; answers the
/// status, the `DPoP-Nonce` header and the body.
async fn post_token(
    app: &TestApp,
    client: &Cred,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (StatusCode, Option<String>, Value) {
    let mut body: Vec<(&str, &str)> = vec![("client_id", client.id.as_str())];
    if !client.secret.is_empty() {
        body.push(("client_secret", client.secret.as_str()));
    }
    body.extend_from_slice(form);
    let mut req = app.http.post(app.url("/oauth/token")).form(&body);
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let nonce = res
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, nonce, res.json().await.unwrap_or(Value::Null))
}

async fn machine(app: &TestApp) -> Cred {
    app.new_client(json!({"name": "job", "scope": "products:read"}))
        .await
}

const CC: &[(&str, &str)] = &[("grant_type", "client_credentials")];

fn assert_refused(status: StatusCode, body: &Value, error: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
}

#[tokio::test]
async fn discovery_advertises_the_proof_algorithms() {
    let app = TestApp::spawn().await;
    let doc = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    let algs = doc["dpop_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&json!("ES256")) && algs.contains(&json!("EdDSA")));
    assert!(!algs
        .iter()
        .any(|a| a == "none" || a.as_str().unwrap().starts_with("HS")));
}

#[tokio::test]
async fn a_proof_binds_the_access_token_and_introspection_shows_the_key() {
    let app = TestApp::spawn().await;
    let client = machine(&app).await;
    for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
        let key = Prover::of(alg);
        let (status, _, body) =
            post_token(&app, &client, CC, &[&key.proof("POST", &token_url(&app))]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "DPoP");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(claims(token)["cnf"]["jkt"], key.jkt.as_str());
        let seen = app.introspect(token).await;
        assert_eq!(seen["active"], true);
        assert_eq!(seen["token_type"], "DPoP");
        assert_eq!(seen["cnf"]["jkt"], key.jkt.as_str());
    }
    // Without a proof: a bearer token, unbound.
    let (status, _, body) = post_token(&app, &client, CC, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert!(claims(body["access_token"].as_str().unwrap())
        .get("cnf")
        .is_none());
}

#[tokio::test]
async fn an_opaque_token_is_bound_too() {
    let app = TestApp::spawn().await;
    let client = app
        .new_client(json!({"name": "job", "scope": "products:read", "tokenFormat": "opaque"}))
        .await;
    let key = Prover::new();
    let (status, _, body) =
        post_token(&app, &client, CC, &[&key.proof("POST", &token_url(&app))]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let seen = app.introspect(body["access_token"].as_str().unwrap()).await;
    assert_eq!(seen["token_type"], "DPoP");
    assert_eq!(seen["cnf"]["jkt"], key.jkt.as_str());
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let app = TestApp::spawn().await;
    let client = machine(&app).await;
    let proof = Prover::new().proof("POST", &token_url(&app));
    let (status, _, _) = post_token(&app, &client, CC, &[&proof]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = post_token(&app, &client, CC, &[&proof]).await;
    assert_refused(status, &body, "invalid_dpop_proof");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("used before"));
}

/// A compact JWS of `header` and `claims` signed by `key` (any header, for refused shapes).
fn signed(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
    let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    let sig = key.sign(format!("{h}.{c}").as_bytes()).unwrap();
    format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test]
async fn proofs_of_every_bad_shape_are_refused_and_issue_nothing() {
    let app = TestApp::spawn().await;
    let client = machine(&app).await;
    let url = token_url(&app);
    let key = Prover::new();
    let public = key.key.verifying_key().unwrap().jwk().clone();
    let mut private = public.clone();
    private["d"] = json!("AAAA");
    let claims_now = json!({"jti": jti(), "htm": "POST", "htu": url, "iat": now()});
    let header = |alg: &str, jwk: &Value| json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk});
    let with = |k: &str, v: Value| {
        let mut h = header("ES256", &public);
        h[k] = v;
        h
    };
    let deep = (0..40).fold(json!(1), |v, _| json!([v]));
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not a jwt".into()),
        ("bad base64", "e30.e30.***".into()),
        ("huge", "a".repeat(20_000)),
        ("wrong htm", key.proof("GET", &url)),
        ("wrong htu", key.proof("POST", &app.url("/oauth/par"))),
        (
            "too old",
            key.proof_with("POST", &url, now() - 3600, None, None),
        ),
        (
            "future",
            key.proof_with("POST", &url, now() + 3600, None, None),
        ),
        ("alg none", {
            let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header("none", &public)).unwrap());
            let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims_now).unwrap());
            format!("{h}.{c}.")
        }),
        (
            "symmetric",
            signed(&key.key, &header("HS256", &public), &claims_now),
        ),
        (
            "private jwk",
            signed(&key.key, &header("ES256", &private), &claims_now),
        ),
        (
            "jku",
            signed(
                &key.key,
                &with("jku", json!("https://evil.example/k")),
                &claims_now,
            ),
        ),
        (
            "x5u",
            signed(
                &key.key,
                &with("x5u", json!("https://evil.example/c")),
                &claims_now,
            ),
        ),
        (
            "wrong typ",
            signed(&key.key, &with("typ", json!("JWT")), &claims_now),
        ),
        ("deep", signed(&key.key, &with("deep", deep), &claims_now)),
        (
            "claims not an object",
            signed(&key.key, &header("ES256", &public), &json!([1])),
        ),
        ("other key's signature", {
            let other = Prover::new();
            signed(&other.key, &header("ES256", &public), &claims_now)
        }),
    ];
    for (what, proof) in cases {
        let (status, _, body) = post_token(&app, &client, CC, &[&proof]).await;
        assert_refused(status, &body, "invalid_dpop_proof");
        assert!(
            !body["error_description"]
                .as_str()
                .unwrap()
                .contains(&proof[..proof.len().min(20)]),
            "{what}: the proof is not echoed"
        );
    }
    // Two proofs in one request.
    let (status, _, body) = post_token(
        &app,
        &client,
        CC,
        &[&key.proof("POST", &url), &key.proof("POST", &url)],
    )
    .await;
    assert_refused(status, &body, "invalid_dpop_proof");
}

#[tokio::test]
async fn a_client_that_must_use_dpop_is_refused_without_a_proof() {
    let app = TestApp::spawn().await;
    let client = machine(&app).await;
    let mut stored = app.store.get_client(&client.id).await.unwrap().unwrap();
    stored.set_requires_dpop(true);
    assert!(app.store.update_client(&stored).await.unwrap());
    app.state.clients.invalidate(&client.id);
    let (status, _, body) = post_token(&app, &client, CC, &[]).await;
    assert_refused(status, &body, "invalid_dpop_proof");
    let key = Prover::new();
    let (status, _, body) =
        post_token(&app, &client, CC, &[&key.proof("POST", &token_url(&app))]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
}

#[tokio::test]
async fn a_client_registered_or_created_as_dpop_bound_needs_a_proof() {
    // Registration is open in `local`, the test environment.
    let app = TestApp::spawn().await;
    let created = app
        .new_client(json!({"name": "job", "scope": "products:read", "dpopBoundAccessTokens": true}))
        .await;
    let res = app
        .http
        .post(app.url("/oauth/register"))
        .json(&json!({
            "client_name": "agent",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_post",
            "dpop_bound_access_tokens": true,
        }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let reg: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{reg}");
    assert_eq!(reg["dpop_bound_access_tokens"], true, "{reg}");
    let registered = Cred {
        id: reg["client_id"].as_str().unwrap().to_owned(),
        secret: reg["client_secret"].as_str().unwrap().to_owned(),
    };
    for client in [created, registered] {
        let (status, _, body) = post_token(&app, &client, CC, &[]).await;
        assert_refused(status, &body, "invalid_dpop_proof");
        let key = Prover::new();
        let (status, _, body) =
            post_token(&app, &client, CC, &[&key.proof("POST", &token_url(&app))]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "DPoP");
    }
}

#[tokio::test]
async fn with_nonces_on_a_proof_must_carry_the_servers_nonce() {
    let app = TestApp::spawn_with(|c| c.dpop.use_nonce = true).await;
    let client = machine(&app).await;
    let key = Prover::new();
    let url = token_url(&app);
    let (status, nonce, body) = post_token(&app, &client, CC, &[&key.proof("POST", &url)]).await;
    assert_refused(status, &body, "use_dpop_nonce");
    let nonce = nonce.expect("a use_dpop_nonce answer gives DPoP-Nonce");
    let (status, again, body) = post_token(
        &app,
        &client,
        CC,
        &[&key.proof_with("POST", &url, now(), None, Some("1.forged"))],
    )
    .await;
    assert_refused(status, &body, "use_dpop_nonce");
    assert_eq!(again.as_deref(), Some(nonce.as_str()));
    let (status, _, body) = post_token(
        &app,
        &client,
        CC,
        &[&key.proof_with("POST", &url, now(), None, Some(&nonce))],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
}

/// A code of `grant` whose authorization request named `dpop_jkt`.
async fn bound_code(app: &TestApp, grant: &castellan_testkit::people::Grant, jkt: &str) -> String {
    let mut spec = grant.spec("openid products:read");
    spec.dpop_jkt = Some(jkt.to_owned());
    issue_code(app, &spec).await.0
}

#[tokio::test]
async fn a_code_bound_by_dpop_jkt_is_redeemed_only_with_that_key() {
    let app = TestApp::spawn().await;
    let grant = setup(&app).await;
    let key = Prover::new();
    let other = Prover::new();
    let url = token_url(&app);
    let form = |code: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), REDIRECT.to_owned()),
            ("code_verifier".to_owned(), VERIFIER.to_owned()),
        ]
    };
    for proofs in [vec![], vec![other.proof("POST", &url)]] {
        let c = bound_code(&app, &grant, &key.jkt).await;
        let f = form(&c);
        let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let p: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (status, _, body) = post_token(&app, &grant.client, &f, &p).await;
        assert_refused(status, &body, "invalid_grant");
        assert!(
            body["error_description"].as_str().unwrap().contains("DPoP"),
            "{body}"
        );
    }
    let c = bound_code(&app, &grant, &key.jkt).await;
    let f = form(&c);
    let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (status, _, body) = post_token(&app, &grant.client, &f, &[&key.proof("POST", &url)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt.as_str()
    );
}

#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_its_key() {
    let app = TestApp::spawn().await;
    let client = code_client(
        &app,
        json!({"clientKind": "public", "tokenEndpointAuthMethod": "none"}),
    )
    .await;
    assert!(client.secret.is_empty());
    let person = user(&app, "dpop-public@example.com", None).await;
    let key = Prover::new();
    let url = token_url(&app);
    let spec = castellan_testkit::people::CodeSpec::new(
        &client,
        &person,
        None,
        "openid offline_access products:read",
    );
    let (code, _) = issue_code(&app, &spec).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, _, body) = post_token(&app, &client, &form, &[&key.proof("POST", &url)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", rt.to_owned()),
        ]
    };
    let r = refresh(&rt);
    let r: Vec<(&str, &str)> = r.iter().map(|(a, b)| (*a, b.as_str())).collect();
    // Without a proof, or with another key: refused, and the token is not spent.
    for proofs in [vec![], vec![Prover::new().proof("POST", &url)]] {
        let p: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (status, _, body) = post_token(&app, &client, &r, &p).await;
        assert_refused(status, &body, "invalid_grant");
    }
    let (status, _, body) = post_token(&app, &client, &r, &[&key.proof("POST", &url)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    // The next refresh token is bound to the same key.
    let next = body["refresh_token"].as_str().unwrap().to_owned();
    let r = refresh(&next);
    let r: Vec<(&str, &str)> = r.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let (status, _, body) = post_token(&app, &client, &r, &[]).await;
    assert_refused(status, &body, "invalid_grant");
}

#[tokio::test]
async fn a_confidential_clients_refresh_token_is_not_bound() {
    let app = TestApp::spawn().await;
    let grant = setup(&app).await;
    let key = Prover::new();
    let url = token_url(&app);
    let (code, _) = issue_code(&app, &grant.spec("openid offline_access products:read")).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, _, body) =
        post_token(&app, &grant.client, &form, &[&key.proof("POST", &url)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let rt = body["refresh_token"].as_str().unwrap();
    let (status, _, body) = post_token(
        &app,
        &grant.client,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
}

#[tokio::test]
async fn an_authorization_request_with_a_malformed_dpop_jkt_is_refused() {
    let app = TestApp::spawn().await;
    let grant = setup(&app).await;
    let res = app
        .http
        .get(app.url("/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", grant.client.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            (
                "code_challenge",
                &castellan_testkit::people::challenge(VERIFIER),
            ),
            ("code_challenge_method", "S256"),
            ("dpop_jkt", "not-a-thumbprint"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert!(location.contains("error=invalid_request"), "{location}");
}

#[tokio::test]
async fn a_pushed_request_with_a_proof_is_bound_to_its_key() {
    let app = TestApp::spawn().await;
    let grant = setup(&app).await;
    let key = Prover::new();
    let par = app.state.config.endpoint("/oauth/par");
    let push = |proof: Option<String>, dpop_jkt: Option<&str>| {
        let mut form = vec![
            ("client_id", grant.client.id.clone()),
            ("client_secret", grant.client.secret.clone()),
            ("response_type", "code".to_owned()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("scope", "openid".to_owned()),
            (
                "code_challenge",
                castellan_testkit::people::challenge(VERIFIER),
            ),
            ("code_challenge_method", "S256".to_owned()),
        ];
        if let Some(j) = dpop_jkt {
            form.push(("dpop_jkt", j.to_owned()));
        }
        let mut req = app.http.post(app.url("/oauth/par")).form(&form);
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = push(Some(key.proof("POST", &par)), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The stored request names the proof's key.
    let uri = body["request_uri"].as_str().unwrap();
    let hash = castellan_crypto::hash_secret(uri).0;
    let stored = app
        .store
        .get_pushed_request(&hash, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.parameters.contains(&format!("dpop_jkt={}", key.jkt)),
        "{}",
        stored.parameters
    );
    // A dpop_jkt naming another key than the proof's.
    let other = Prover::new();
    let (status, body) = push(Some(key.proof("POST", &par)), Some(&other.jkt)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof");
    // A proof for another endpoint.
    let (status, body) = push(Some(key.proof("POST", &token_url(&app))), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof");
}
