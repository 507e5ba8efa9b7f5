//! Introspection (RFC 7662) and revocation (RFC 7009): which tokens are active,
//! who may ask, and what revoking does.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_core::Environment;
use castellan_testkit::{Cred, ManualClock, TestApp};
use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// Introspects with HTTP Basic as `who`.
async fn introspect_as(app: &TestApp, who: (&str, &str), token: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(who.0, Some(who.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let (s, v) = introspect_as(app, (&app.admin_id, &app.admin_secret), token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// Revokes with a form body with client_id, client_secret and token.
async fn revoke(app: &TestApp, c: &Cred, token: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("client_id", c.id.as_str()),
            ("client_secret", c.secret.as_str()),
            ("token", token),
        ])
        .send()
        .await
        .unwrap();
    let s = res.status();
    let bytes = res.bytes().await.unwrap();
    (s, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn active_jwt_is_described() {
    let app = TestApp::spawn().await;
    let c = app
        .new_client(json!({"name": "rs", "scope": "products:read orders:read"}))
        .await;
    let t = app.token_of(&c).await;
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&app.admin_id, Some(&app.admin_secret))
        .form(&[("token", t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["client_id"], c.id.as_str());
    assert_eq!(v["sub"], c.id.as_str());
    assert_eq!(v["scope"], "products:read orders:read");
    assert_eq!(v["iss"], app.state.config.issuer.as_str());
    assert_eq!(v["aud"], app.state.config.issuer.as_str());
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["env"], "local");
    assert!(v["jti"].is_string());
    assert_eq!(
        v["exp"].as_i64().unwrap() - v["iat"].as_i64().unwrap(),
        3600
    );
    // client_secret_post works for introspection as well.
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .form(&[
            ("client_id", app.admin_id.as_str()),
            ("client_secret", app.admin_secret.as_str()),
            ("token", t.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["active"], true);
    // So does a JSON body.
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .json(&json!({"client_id": app.admin_id, "client_secret": app.admin_secret, "token": t}))
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["active"], true);
}

#[tokio::test]
async fn active_opaque_token_is_described() {
    let app = TestApp::spawn().await;
    let c = app
        .new_client(json!({"name": "rs", "scope": "products:read", "tokenFormat": "opaque"}))
        .await;
    let t = app.token_of(&c).await;
    let v = introspect(&app, &t).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["client_id"], c.id.as_str());
    assert_eq!(v["sub"], c.id.as_str());
    assert_eq!(v["scope"], "products:read");
    assert_eq!(v["iss"], app.state.config.issuer.as_str());
    assert_eq!(v["aud"], app.state.config.issuer.as_str());
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["env"], "local");
    assert!(v["exp"].as_i64().unwrap() > Utc::now().timestamp());
}

#[tokio::test]
async fn garbage_and_unknown_tokens_are_inactive() {
    let app = TestApp::spawn().await;
    for t in [
        "garbage",
        "a.b.c",
        "ot_loc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "ot_xx_y",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ] {
        let v = introspect(&app, t).await;
        assert_eq!(v, json!({"active": false}), "{t}");
    }
    // No token parameter.
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&app.admin_id, Some(&app.admin_secret))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");
}

#[tokio::test]
async fn revoked_tokens_are_inactive() {
    let app = TestApp::spawn().await;
    let c = app
        .new_client(json!({"name": "jwt", "scope": "products:read"}))
        .await;
    let o = app
        .new_client(json!({"name": "opaque", "scope": "products:read", "tokenFormat": "opaque"}))
        .await;
    let jwt = app.token_of(&c).await;
    let other_jwt = app.token_of(&c).await;
    let opaque = app.token_of(&o).await;
    assert_eq!(introspect(&app, &jwt).await["active"], true);
    assert_eq!(introspect(&app, &opaque).await["active"], true);

    let (s, _) = revoke(&app, &c, &jwt).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = revoke(&app, &o, &opaque).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(introspect(&app, &jwt).await, json!({"active": false}));
    assert_eq!(introspect(&app, &opaque).await, json!({"active": false}));
    // Only that token: the client's other token stays active.
    assert_eq!(introspect(&app, &other_jwt).await["active"], true);
    // The revoked token no longer opens the management API either (if it had the scope) —
    // and revoking again is still 200.
    let (s, _) = revoke(&app, &c, &jwt).await;
    assert_eq!(s, StatusCode::OK);

    // Stored: the opaque token is marked revoked.
    let hash = castellan_crypto::hash_secret(&opaque).0;
    let stored = app.store.get_opaque_token(&hash).await.unwrap().unwrap();
    assert!(stored.revoked);
}

/// What a replica learned about a token is cached for `token.check_cache_seconds`: a
/// revocation made on another replica is seen within that bound (and at once by a replica
/// without the cache), while the replica that revoked sees it at once.
#[tokio::test]
async fn another_replica_sees_a_revocation_within_the_check_cache_bound() {
    let a = TestApp::spawn_with(|c| c.token.check_cache_seconds = 1).await;
    let b = a.replica(|_| {}).await;
    let uncached = a.replica(|c| c.token.check_cache_seconds = 0).await;
    let c = a
        .new_client(json!({"name": "jwt", "scope": "products:read"}))
        .await;
    let jwt = a.token_of(&c).await;
    // Every replica checks it once (B and A now hold it in their caches).
    for app in [&a, &b, &uncached] {
        assert_eq!(introspect(app, &jwt).await["active"], true);
    }
    let (s, _) = revoke(&a, &c, &jwt).await;
    assert_eq!(s, StatusCode::OK);
    // The replica that revoked, and the one without a cache: inactive at once.
    assert_eq!(introspect(&a, &jwt).await, json!({"active": false}));
    assert_eq!(introspect(&uncached, &jwt).await, json!({"active": false}));
    // The other replica within the bound (1 s here).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(introspect(&b, &jwt).await, json!({"active": false}));
}

#[tokio::test]
async fn a_revoked_admin_token_no_longer_opens_the_management_api() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let res = app
        .http
        .get(app.url("/api-clients"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me = Cred {
        id: app.admin_id.clone(),
        secret: app.admin_secret.clone(),
    };
    let (s, _) = revoke(&app, &me, &admin).await;
    assert_eq!(s, StatusCode::OK);
    let res = app
        .http
        .get(app.url("/api-clients"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_unknown_tokens_answers_200() {
    let app = TestApp::spawn().await;
    let c = app
        .new_client(json!({"name": "x", "scope": "a:read"}))
        .await;
    for t in [
        "never-issued",
        "a.b.c",
        "ot_loc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let (s, v) = revoke(&app, &c, t).await;
        assert_eq!(s, StatusCode::OK, "{t}: {v}");
    }
    // Basic works too, and the answer is not cached.
    let res = app
        .http
        .post(app.url("/oauth/revoke"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("token", "whatever"), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    // Revocation needs the client to authenticate.
    let res = app
        .http
        .post(app.url("/oauth/revoke"))
        .form(&[("token", "whatever")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let wrong = Cred {
        id: c.id.clone(),
        secret: "wrong".into(),
    };
    let (s, v) = revoke(&app, &wrong, "whatever").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "invalid_client");
}

#[tokio::test]
async fn another_clients_token_cannot_be_revoked() {
    let app = TestApp::spawn().await;
    let owner = app
        .new_client(json!({"name": "owner", "scope": "a:read"}))
        .await;
    let owner_o = app
        .new_client(json!({"name": "owner-opaque", "scope": "a:read", "tokenFormat": "opaque"}))
        .await;
    let thief = app
        .new_client(json!({"name": "thief", "scope": "a:read"}))
        .await;
    let jwt = app.token_of(&owner).await;
    let opaque = app.token_of(&owner_o).await;
    for t in [&jwt, &opaque] {
        let (s, v) = revoke(&app, &thief, t).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"], "unauthorized_client");
        assert_eq!(introspect(&app, t).await["active"], true);
    }
}

#[tokio::test]
async fn a_token_of_another_environment_is_inactive() {
    let app = TestApp::spawn().await;
    let testing = TestApp::spawn_with(|c| c.environment = Environment::Testing).await;
    for format in ["jwt", "opaque"] {
        let c = testing
            .new_client(json!({"name": "elsewhere", "scope": "a:read", "tokenFormat": format}))
            .await;
        let t = testing.token_of(&c).await;
        let theirs = introspect(&testing, &t).await;
        assert_eq!(theirs["active"], true, "{theirs}");
        assert_eq!(theirs["env"], "testing");
        assert_eq!(
            introspect(&app, &t).await,
            json!({"active": false}),
            "{format}"
        );
    }
}

#[tokio::test]
async fn a_jwt_of_another_environment_with_the_same_keys_is_inactive() {
    // Two deployments sharing a database (so the same signing keys and clients) but
    // configured for different environments: the env claim alone must separate them.
    let local = TestApp::spawn().await;
    let db = local.state.config.database.clone();
    let store = Arc::clone(&local.store);
    let testing_config = castellan_server::platform::config::Config {
        database: db,
        environment: Environment::Testing,
        ..castellan_server::platform::config::Config::default()
    };
    let testing_state = castellan_server::start(
        testing_config,
        store,
        Arc::new(castellan_crypto::SystemClock),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(castellan_server::serve(
        listener,
        testing_state,
        async move {
            let _ = rx.await;
        },
    ));
    let c = local
        .new_client(json!({"name": "shared", "scope": "a:read"}))
        .await;
    let res = local
        .http
        .post(format!("http://{addr}/oauth/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let t = body["access_token"].as_str().unwrap();
    assert_eq!(introspect(&local, t).await, json!({"active": false}));
    let _ = tx.send(());
    let _ = server.await;
}

#[tokio::test]
async fn expired_tokens_are_inactive() {
    let start = DateTime::parse_from_rfc3339("2031-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let clock = Arc::new(ManualClock::new(start));
    let app = TestApp::spawn_full(|_| {}, Arc::<ManualClock>::clone(&clock)).await;
    let c = app
        .new_client(json!({"name": "x", "scope": "a:read"}))
        .await;
    let o = app
        .new_client(json!({"name": "o", "scope": "a:read", "tokenFormat": "opaque"}))
        .await;
    let jwt = app.token_of(&c).await;
    let opaque = app.token_of(&o).await;
    clock.advance(Duration::seconds(3599 - 60));
    assert_eq!(introspect(&app, &jwt).await["active"], true);
    assert_eq!(introspect(&app, &opaque).await["active"], true);
    clock.advance(Duration::seconds(60 + 2 + 60));
    assert_eq!(introspect(&app, &jwt).await, json!({"active": false}));
    assert_eq!(introspect(&app, &opaque).await, json!({"active": false}));
    // The upkeep purges expired opaque tokens from storage.
    castellan_server::platform::upkeep::run_once(&app.state).await;
    let hash = castellan_crypto::hash_secret(&opaque).0;
    assert!(app.store.get_opaque_token(&hash).await.unwrap().is_none());
}

#[tokio::test]
async fn tokens_of_a_deleted_client_are_inactive() {
    let app = TestApp::spawn().await;
    let c = app
        .new_client(json!({"name": "x", "scope": "a:read"}))
        .await;
    let o = app
        .new_client(json!({"name": "o", "scope": "a:read", "tokenFormat": "opaque"}))
        .await;
    let jwt = app.token_of(&c).await;
    let opaque = app.token_of(&o).await;
    assert_eq!(introspect(&app, &jwt).await["active"], true);
    assert_eq!(introspect(&app, &opaque).await["active"], true);
    let admin = app.admin_token().await;
    for id in [&c.id, &o.id] {
        let res = app
            .http
            .delete(app.url(&format!("/api-clients/{id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(introspect(&app, &jwt).await, json!({"active": false}));
    assert_eq!(introspect(&app, &opaque).await, json!({"active": false}));
}

#[tokio::test]
async fn introspection_requires_a_confidential_client() {
    let app = TestApp::spawn().await;
    let c = app
        .new_client(json!({"name": "x", "scope": "a:read"}))
        .await;
    let t = app.token_of(&c).await;

    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .form(&[("token", t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client");

    let (s, v) = introspect_as(&app, (&app.admin_id, "wrong"), &t).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"], "invalid_client");

    // A bearer token is not client authentication.
    let admin = app.admin_token().await;
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .bearer_auth(&admin)
        .form(&[("token", t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A public client may not introspect.
    let public = app
        .create_client(json!({"name": "spa", "scope": "market:id:*", "clientKind": "public", "publicClientCredentials": true}))
        .await;
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .form(&[
            ("client_id", public["id"].as_str().unwrap()),
            ("token", t.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let s = res.status();
    let v: Value = res.json().await.unwrap();
    assert!(
        s == StatusCode::BAD_REQUEST || s == StatusCode::UNAUTHORIZED,
        "{s} {v}"
    );
    assert!(v.get("active").is_none(), "{v}");
    assert!(
        v["error"] == "unauthorized_client" || v["error"] == "invalid_client",
        "{v}"
    );
}

#[tokio::test]
async fn only_a_client_with_the_introspect_scope_learns_about_other_clients_tokens() {
    let app = TestApp::spawn().await;
    let ordinary = app
        .new_client(json!({"name": "integration", "scope": "a:read"}))
        .await;
    let rs = app
        .new_client(json!({"name": "orders-api", "scope": "introspect"}))
        .await;
    let admin_token = app.admin_token().await;
    let own = app.token_of(&ordinary).await;
    let opaque_client = app
        .new_client(json!({"name": "opaque", "scope": "a:read", "tokenFormat": "opaque"}))
        .await;
    let opaque = app.token_of(&opaque_client).await;

    // An ordinary client learns nothing about the bootstrap admin's token, nor an opaque one
    // of another client: inactive, as if unknown.
    let who = (ordinary.id.as_str(), ordinary.secret.as_str());
    for other in [&admin_token, &opaque] {
        let (s, v) = introspect_as(&app, who, other).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v, json!({"active": false}));
    }
    // It may see its own token.
    let (s, v) = introspect_as(&app, who, &own).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["client_id"], ordinary.id.as_str());
    // So may the opaque token's own client.
    let (_, v) = introspect_as(&app, (&opaque_client.id, &opaque_client.secret), &opaque).await;
    assert_eq!(v["active"], true, "{v}");

    // A resource server (allowed `introspect`) learns about every token.
    let who = (rs.id.as_str(), rs.secret.as_str());
    for t in [&admin_token, &own, &opaque] {
        let (s, v) = introspect_as(&app, who, t).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["active"], true, "{v}");
    }
    let (_, v) = introspect_as(&app, who, &admin_token).await;
    assert_eq!(v["client_id"], app.admin_id.as_str());
}

#[tokio::test]
async fn api_keys_introspect_only_for_a_client_with_the_introspect_scope() {
    let app = TestApp::spawn().await;
    castellan_testkit::people::org_with_id(&app, "org-1").await;
    let manager = app
        .new_client(json!({"name": "key manager", "scope": "manage_api_keys view_api_keys a:read"}))
        .await;
    let manager = app.token_of(&manager).await;
    let res = app
        .http
        .post(app.url("/api-keys"))
        .bearer_auth(&manager)
        .json(&json!({"name": "k", "scope": "a:read", "organizationId": "org-1"}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let created: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status} {created}");
    let key = created["key"].as_str().unwrap().to_owned();

    let ordinary = app
        .new_client(json!({"name": "integration", "scope": "a:read"}))
        .await;
    let (_, v) = introspect_as(&app, (&ordinary.id, &ordinary.secret), &key).await;
    assert_eq!(v, json!({"active": false}));
    let v = introspect(&app, &key).await;
    assert_eq!(v["active"], true, "{v}");
}
