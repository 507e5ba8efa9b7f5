//! `private_key_jwt` (RFC 7523 §2.2): a client registered with its public keys (`jwks`, or a
//! `jwks_uri` fetched and refreshed on an unknown `kid`) authenticates at the token,
//! introspection and revocation endpoints with a signed assertion. Every attack is replayed
//! and refused with the same 401 `invalid_client`: another key, `alg: none`, HS256 keyed with
//! the public key, a wrong audience, an expired or long-lived assertion, a replayed `jti`,
//! `iss` ≠ `sub`.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::doc_server::{Answer, DocServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_crypto::{Algorithm, SigningKey};
use castellan_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) fn key(alg: Algorithm, kid: &str) -> SigningKey {
    SigningKey::generate(alg, kid.into()).unwrap().0
}

pub(crate) fn jwks(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.verifying_key().unwrap().jwk().clone()).collect::<Vec<_>>()})
}

/// A compact JWS of `claims` with `header`, signed by `key`.
fn signed(key: &SigningKey, header: Value, claims: &Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    let input = format!("{h}.{p}");
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn claims(app: &TestApp, client_id: &str) -> Value {
    json!({
        "iss": client_id, "sub": client_id, "aud": app.state.config.endpoint("/oauth/token"),
        "iat": now(), "exp": now() + 60, "jti": castellan_testkit::people::new_id("jti"),
    })
}

pub(crate) fn assertion(app: &TestApp, key: &SigningKey, client_id: &str) -> String {
    signed(
        key,
        json!({"alg": key.algorithm().name(), "kid": key.kid()}),
        &claims(app, client_id),
    )
}

async fn register(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url("/oauth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn register_with(app: &TestApp, keys: Value) -> String {
    let mut body = json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"});
    for (k, v) in keys.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, b) = register(app, body).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert!(b.get("client_secret").is_none(), "no secret is issued: {b}");
    assert_eq!(b["token_endpoint_auth_method"], "private_key_jwt");
    b["client_id"].as_str().unwrap().to_owned()
}

pub(crate) async fn token(
    app: &TestApp,
    client_id: Option<&str>,
    assertion: &str,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

pub(crate) fn refused((status, body): (StatusCode, Value), what: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    assert_eq!(body["error"], "invalid_client", "{what}: {body}");
    assert_eq!(
        body["error_description"],
        "client authentication failed: the client assertion is not valid",
        "{what}: the answer does not say which check failed"
    );
}

#[tokio::test]
async fn a_client_with_jwks_gets_a_token_with_each_algorithm() {
    let app = TestApp::spawn().await;
    for alg in Algorithm::ALL {
        let k = key(alg, &format!("k-{alg}"));
        let id = register_with(&app, json!({"jwks": jwks(&[&k])})).await;
        let (status, body) = token(&app, Some(&id), &assertion(&app, &k, &id)).await;
        assert_eq!(status, StatusCode::OK, "{alg}: {body}");
        assert!(body["access_token"].is_string());
        // Without client_id (taken from the assertion's sub) and without kid (each key tried).
        let no_kid = signed(&k, json!({"alg": alg.name()}), &claims(&app, &id));
        assert_eq!(token(&app, None, &no_kid).await.0, StatusCode::OK, "{alg}");
        // The issuer is an accepted audience too.
        let mut c = claims(&app, &id);
        c["aud"] = json!([app.state.config.issuer.clone()]);
        let to_issuer = signed(&k, json!({"alg": alg.name(), "kid": k.kid()}), &c);
        assert_eq!(
            token(&app, Some(&id), &to_issuer).await.0,
            StatusCode::OK,
            "{alg}"
        );
    }
}

#[tokio::test]
async fn every_forged_or_misused_assertion_is_refused() {
    let app = TestApp::spawn().await;
    let k = key(Algorithm::Es256, "good");
    let other = key(Algorithm::Es256, "good");
    let id = register_with(&app, json!({"jwks": jwks(&[&k])})).await;
    let header = json!({"alg": "ES256", "kid": "good"});

    refused(
        token(&app, Some(&id), &assertion(&app, &other, &id)).await,
        "another key",
    );

    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&app, &id)).unwrap());
    let none = format!(
        "{}.{p}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"good"}"#)
    );
    refused(token(&app, Some(&id), &none).await, "alg none");

    // HS256 keyed with the public key's bytes, as a confused verifier would check it.
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"good"}"#);
    let input = format!("{h}.{p}");
    let public = serde_json::to_vec(k.verifying_key().unwrap().jwk()).unwrap();
    let mac = hmac_sha256(&public, input.as_bytes());
    let hs = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac));
    refused(
        token(&app, Some(&id), &hs).await,
        "HS256 with the public key",
    );

    let mut c = claims(&app, &id);
    c["aud"] = json!("https://elsewhere.example/token");
    refused(
        token(&app, Some(&id), &signed(&k, header.clone(), &c)).await,
        "wrong aud",
    );

    let mut c = claims(&app, &id);
    c["exp"] = json!(now() - 3600);
    c["iat"] = json!(now() - 3700);
    refused(
        token(&app, Some(&id), &signed(&k, header.clone(), &c)).await,
        "expired",
    );

    let mut c = claims(&app, &id);
    c["exp"] = json!(now() + 86_400);
    refused(
        token(&app, Some(&id), &signed(&k, header.clone(), &c)).await,
        "long-lived",
    );

    let mut c = claims(&app, &id);
    c["iss"] = json!("someone-else");
    refused(
        token(&app, Some(&id), &signed(&k, header.clone(), &c)).await,
        "iss != sub",
    );

    let mut c = claims(&app, &id);
    c.as_object_mut().unwrap().remove("jti");
    refused(
        token(&app, Some(&id), &signed(&k, header.clone(), &c)).await,
        "no jti",
    );

    let once = assertion(&app, &k, &id);
    assert_eq!(token(&app, Some(&id), &once).await.0, StatusCode::OK);
    refused(token(&app, Some(&id), &once).await, "replayed jti");

    // An assertion for another client, presented under this client's id.
    let k2 = key(Algorithm::Es256, "good");
    let id2 = register_with(&app, json!({"jwks": jwks(&[&k2])})).await;
    refused(
        token(&app, Some(&id), &assertion(&app, &k2, &id2)).await,
        "another client's assertion",
    );

    // A secret-based client cannot be driven with an assertion.
    let secret_client = app
        .new_client(json!({"name": "secret", "scope": "products:read"}))
        .await;
    refused(
        token(
            &app,
            Some(&secret_client.id),
            &assertion(&app, &k, &secret_client.id),
        )
        .await,
        "a client_secret client",
    );

    // A secret sent by a private_key_jwt client is not a way in either.
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some("guess"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The wrong assertion type, and both an assertion and a secret.
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:other"),
            ("client_assertion", assertion(&app, &k, &id).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", "x"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion(&app, &k, &id).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Garbage of any shape is a 401, never a 500.
    for junk in ["", "a.b.c", "....", &"x".repeat(20_000), "e30.e30.e30"] {
        let (status, _) = token(&app, Some(&id), junk).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{junk:.20}");
    }
}

#[tokio::test]
async fn keys_at_a_jwks_uri_are_cached_and_refetched_for_a_new_kid() {
    let app = TestApp::spawn().await;
    let docs = DocServer::start().await;
    let old = key(Algorithm::Es256, "old");
    let new = key(Algorithm::EdDsa, "new");
    let newer = key(Algorithm::EdDsa, "newer");
    docs.set("/jwks", Answer::json(jwks(&[&old]).to_string()));
    let id = register_with(&app, json!({"jwks_uri": docs.url("/jwks")})).await;

    assert_eq!(
        token(&app, Some(&id), &assertion(&app, &old, &id)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        token(&app, Some(&id), &assertion(&app, &old, &id)).await.0,
        StatusCode::OK
    );
    assert_eq!(docs.hits(), 1, "the key set is cached");

    // The client rotates: an assertion with the new kid makes Castellan fetch again.
    docs.set("/jwks", Answer::json(jwks(&[&old, &new]).to_string()));
    assert_eq!(
        token(&app, Some(&id), &assertion(&app, &new, &id)).await.0,
        StatusCode::OK
    );
    assert_eq!(docs.hits(), 2);

    // Another unknown kid within the minute is not a reason to fetch again.
    docs.set("/jwks", Answer::json(jwks(&[&newer]).to_string()));
    refused(
        token(&app, Some(&id), &assertion(&app, &newer, &id)).await,
        "unknown kid",
    );
    refused(
        token(&app, Some(&id), &assertion(&app, &newer, &id)).await,
        "unknown kid",
    );
    assert_eq!(docs.hits(), 2, "at most one refetch per interval");
}

#[tokio::test]
async fn a_jwks_uri_that_misbehaves_is_invalid_client() {
    let app = TestApp::spawn().await;
    let docs = DocServer::start().await;
    let k = key(Algorithm::Es256, "k");
    let mut big = Answer::json(format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(70_000)));
    big.status = 200;
    docs.set("/big", big);
    let mut moved = Answer::json("");
    moved.status = 302;
    moved.headers.push(("location".into(), docs.url("/jwks")));
    docs.set("/moved", moved);
    docs.set("/jwks", Answer::json(jwks(&[&k]).to_string()));
    for path in ["/big", "/moved", "/missing"] {
        let id = register_with(&app, json!({"jwks_uri": docs.url(path)})).await;
        refused(
            token(&app, Some(&id), &assertion(&app, &k, &id)).await,
            path,
        );
    }
}

#[tokio::test]
async fn registration_checks_the_keys() {
    let app = TestApp::spawn().await;
    let k = key(Algorithm::Es256, "k");
    let mut private = k.verifying_key().unwrap().jwk().clone();
    private["d"] = json!("AAAA");
    for (body, what) in [
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}),
            "no keys",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [private]}}),
            "a private key",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            "a symmetric key",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://169.254.169.254/jwks"}),
            "a metadata-service jwks_uri",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://app.example.com/jwks"}),
            "an http jwks_uri",
        ),
    ] {
        let (status, b) = register(&app, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {b}");
        assert_eq!(b["error"], "invalid_client_metadata", "{what}");
    }
}

#[tokio::test]
async fn introspection_and_revocation_accept_an_assertion() {
    let app = TestApp::spawn().await;
    let k = key(Algorithm::Es256, "k");
    let id = register_with(&app, json!({"jwks": jwks(&[&k])})).await;
    let (_, body) = token(&app, Some(&id), &assertion(&app, &k, &id)).await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    let res = app
        .http
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", access.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion(&app, &k, &id).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .http
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", access.as_str()),
            ("client_assertion_type", JWT_BEARER),
            (
                "client_assertion",
                assertion(&app, &other_key(), &id).as_str(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .form(&[
            ("token", access.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion(&app, &k, &id).as_str()),
        ])
        .send()
        .await
        .unwrap();
    // Authenticated: the answer is about the token (the client may lack the introspect
    // scope, which is a 403, never a 401).
    assert_ne!(res.status(), StatusCode::UNAUTHORIZED);
}

/// HMAC-SHA-256 (RFC 2104), as an attacker would compute it.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(message.iter().copied())
        .collect();
    let inner = Sha256::digest(&inner);
    let outer: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner.iter().copied())
        .collect();
    Sha256::digest(&outer).to_vec()
}

fn other_key() -> SigningKey {
    key(Algorithm::Es256, "k")
}

#[tokio::test]
async fn discovery_advertises_private_key_jwt() {
    let app = TestApp::spawn().await;
    let meta = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    let methods = meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("private_key_jwt")));
    let algs = meta["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("ES256")));
    assert!(!algs
        .iter()
        .any(|a| a == "none" || a.as_str().unwrap().starts_with("HS")));
}
