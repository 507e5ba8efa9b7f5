//! Discovery: the RFC 8414 and OIDC metadata documents, the JWKS and key
//! rotation without failed verification, and the OpenAPI document.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_crypto::{jws, Algorithm, VerifyingKey};
use castellan_testkit::TestApp;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn get_json(app: &TestApp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let res = app.http.get(app.url(path)).send().await.unwrap();
    let s = res.status();
    let h = res.headers().clone();
    (s, h, res.json().await.unwrap())
}

fn kid_of(token: &str) -> String {
    jws::parse(token).unwrap().header.kid.unwrap()
}

fn verifies(token: &str, keys: &[VerifyingKey]) -> bool {
    jws::verify(token, Some("at+jwt"), |kid| {
        keys.iter().find(|k| k.kid() == kid)
    })
    .is_ok()
}

#[tokio::test]
async fn both_metadata_documents_describe_the_server() {
    let app = TestApp::spawn().await;
    let issuer = app.state.config.issuer.clone();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let (s, h, doc) = get_json(&app, path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        for field in [
            "issuer",
            "token_endpoint",
            "jwks_uri",
            "registration_endpoint",
            "revocation_endpoint",
            "introspection_endpoint",
            "grant_types_supported",
            "token_endpoint_auth_methods_supported",
            "scopes_supported",
            "response_types_supported",
        ] {
            assert!(doc.get(field).is_some(), "{path} lacks {field}: {doc}");
        }
        assert_eq!(doc["issuer"], issuer.as_str());
        assert_eq!(doc["token_endpoint"], format!("{issuer}/oauth/token"));
        assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
        assert_eq!(doc["revocation_endpoint"], format!("{issuer}/oauth/revoke"));
        assert_eq!(
            doc["introspection_endpoint"],
            format!("{issuer}/oauth/introspect")
        );
        assert!(doc["registration_endpoint"]
            .as_str()
            .unwrap()
            .starts_with(&issuer));
        let grants = doc["grant_types_supported"].as_array().unwrap();
        assert!(grants.contains(&json!("client_credentials")), "{doc}");
        let methods = doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        for m in ["client_secret_basic", "client_secret_post", "none"] {
            assert!(methods.contains(&json!(m)), "{m}: {doc}");
        }
        assert!(doc["scopes_supported"].is_array());
        assert!(doc["response_types_supported"].is_array());
        assert_eq!(
            doc["access_token_signing_alg_values_supported"],
            json!(["ES256"])
        );
        // Every endpoint the document names is served here (with the issuer mapped to us).
        for ep in [
            "token_endpoint",
            "revocation_endpoint",
            "introspection_endpoint",
        ] {
            let path = doc[ep].as_str().unwrap().strip_prefix(&issuer).unwrap();
            let res = app
                .http
                .post(app.url(path))
                .form(&[("x", "y")])
                .send()
                .await
                .unwrap();
            assert_ne!(res.status(), StatusCode::NOT_FOUND, "{ep}");
        }
    }
    let (_, _, oidc) = get_json(&app, "/.well-known/openid-configuration").await;
    assert!(oidc["subject_types_supported"].is_array());
}

#[tokio::test]
async fn the_metadata_follows_the_configuration() {
    let app = TestApp::spawn_with(|c| {
        c.issuer = "https://auth.example.com".into();
        c.scopes = vec![castellan_server::platform::config::ScopeEntry {
            name: "products:read".into(),
            description: "Read products".into(),
        }];
    })
    .await;
    let (_, _, doc) = get_json(&app, "/.well-known/oauth-authorization-server").await;
    assert_eq!(doc["issuer"], "https://auth.example.com");
    assert_eq!(
        doc["token_endpoint"],
        "https://auth.example.com/oauth/token"
    );
    assert!(doc["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("products:read")));
}

#[tokio::test]
async fn jwks_serves_public_keys_only() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        ct.starts_with("application/jwk-set+json") || ct.starts_with("application/json"),
        "{ct}"
    );
    let doc: Value = res.json().await.unwrap();
    let keys = doc["keys"].as_array().unwrap();
    // The access-token key (ES256) and the ID-token key (RS256, OIDC's default).
    assert_eq!(keys.len(), 2, "{doc}");
    let rsa = keys.iter().find(|k| k["alg"] == "RS256").unwrap();
    assert_eq!(rsa["kty"], "RSA");
    assert!(
        rsa.get("d").is_none() && rsa.get("p").is_none(),
        "no private part: {rsa}"
    );
    VerifyingKey::from_jwk(rsa).unwrap();
    let k = keys.iter().find(|k| k["alg"] == "ES256").unwrap();
    assert_eq!(k["kty"], "EC");
    assert_eq!(k["crv"], "P-256");
    assert_eq!(k["alg"], "ES256");
    assert_eq!(k["use"], "sig");
    assert!(k["kid"].is_string());
    assert!(k.get("d").is_none(), "no private part: {k}");
    VerifyingKey::from_jwk(k).unwrap();
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid() {
    let app = TestApp::spawn().await;
    let c = app
        .create_client(json!({"name": "x", "scope": "a:read"}))
        .await;
    let (id, secret) = (c["id"].as_str().unwrap(), c["secret"].as_str().unwrap());
    let before = app.token_for(id, secret, None).await;
    let old_kid = kid_of(&before);
    let admin_before = app.admin_token().await;
    let old_keys = app.jwks().await;
    assert!(verifies(&before, &old_keys));

    let now = app.state.clock.now();
    let new_kid = castellan_server::platform::keys::rotate(
        app.store.as_ref(),
        Algorithm::Es256,
        now,
        Duration::days(8),
    )
    .await
    .unwrap();
    assert_ne!(new_kid, old_kid);
    app.state.keys.reload(now).await.unwrap();

    let keys = app.jwks().await;
    let kids: Vec<_> = keys.iter().map(|k| k.kid().to_owned()).collect();
    assert!(kids.contains(&old_kid), "{kids:?}");
    assert!(kids.contains(&new_kid), "{kids:?}");
    // Both ES256 keys and the ID-token RS256 key.
    assert_eq!(kids.len(), 3);

    // The old token still verifies and introspects active.
    assert!(verifies(&before, &keys));
    assert_eq!(app.introspect(&before).await["active"], true);
    // New tokens carry the new kid.
    let after = app.token_for(id, secret, None).await;
    assert_eq!(kid_of(&after), new_kid);
    assert!(verifies(&after, &keys));
    assert_eq!(app.introspect(&after).await["active"], true);
    // A token signed with the old key still opens the management API.
    let res = app
        .http
        .get(app.url("/api-clients"))
        .bearer_auth(&admin_before)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(kid_of(&admin_before), old_kid);
}

#[tokio::test]
async fn a_rotation_on_another_replica_is_picked_up_for_unknown_kids() {
    // Two servers on one database: the second rotates; the first learns the new key when it
    // meets a token signed with it.
    let a = TestApp::spawn().await;
    let now = a.state.clock.now();
    castellan_server::platform::keys::rotate(
        a.store.as_ref(),
        Algorithm::Es256,
        now,
        Duration::days(8),
    )
    .await
    .unwrap();
    // A new state over the same store signs with the new key.
    let b = castellan_server::start(
        a.state.config.clone(),
        std::sync::Arc::clone(&a.store),
        std::sync::Arc::new(castellan_crypto::SystemClock),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(castellan_server::serve(listener, b, async move {
        let _ = rx.await;
    }));
    let res = a
        .http
        .post(format!("http://{addr}/oauth/token"))
        .basic_auth(&a.admin_id, Some(&a.admin_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let t = body["access_token"].as_str().unwrap();
    // `a` was started before the rotation (its last reload may be under a second old).
    let mut active = false;
    for _ in 0..30 {
        if a.introspect(t).await["active"] == true {
            active = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(active, "replica a never accepted replica b's new key");
    let _ = tx.send(());
    let _ = server.await;
}

#[tokio::test]
async fn openapi_document_is_3_1_and_lists_the_management_api() {
    let app = TestApp::spawn().await;
    let (s, h, doc) = get_json(&app, "/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api-clients"), "{:?}", paths.keys());
    assert!(
        paths.contains_key("/api-clients/{id}"),
        "{:?}",
        paths.keys()
    );
    let list = &paths["/api-clients"];
    for m in ["get", "post", "head"] {
        assert!(list.get(m).is_some(), "/api-clients lacks {m}");
    }
    let one = &paths["/api-clients/{id}"];
    for m in ["get", "delete", "head"] {
        assert!(one.get(m).is_some(), "/api-clients/{{id}} lacks {m}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
