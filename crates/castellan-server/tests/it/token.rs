//! The token endpoint (`POST /oauth/token`): client_credentials
//! with every client-authentication method, the answer and the JWT it carries, scopes, public
//! sales-channel clients, per-client lifetimes, `deleteAt` and `lastUsedAt`.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_crypto::jws;
use castellan_testkit::{ManualClock, TestApp};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

async fn answer(res: reqwest::Response) -> (StatusCode, HeaderMap, Value) {
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

async fn token_basic(
    app: &TestApp,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    answer(res).await
}

async fn token_form(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    answer(res).await
}

async fn token_json(app: &TestApp, body: &Value) -> (StatusCode, HeaderMap, Value) {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .json(body)
        .send()
        .await
        .unwrap();
    answer(res).await
}

/// Verifies `token` against the server's JWKS; answers header and claims.
async fn verify(app: &TestApp, token: &str) -> castellan_crypto::VerifiedJws {
    let keys = app.jwks().await;
    jws::verify(token, Some("at+jwt"), |kid| {
        keys.iter().find(|k| k.kid() == kid)
    })
    .expect("the token verifies against the JWKS")
}

fn id_secret(client: &Value) -> (String, String) {
    (
        client["id"].as_str().unwrap().to_owned(),
        client["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn basic_auth_answers_a_signed_rfc9068_jwt() {
    let app = TestApp::spawn().await;
    let client = app
        .create_client(json!({"name": "integration", "scope": "products:read orders:read"}))
        .await;
    let (id, secret) = id_secret(&client);
    let before = Utc::now().timestamp();
    let (status, headers, body) =
        token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "products:read orders:read");
    let created_at = body["created_at"].as_i64().unwrap();
    assert!(created_at >= before - 1 && created_at <= Utc::now().timestamp() + 1);
    assert!(body.get("refresh_token").is_none());

    let token = body["access_token"].as_str().unwrap();
    let verified = verify(&app, token).await;
    assert_eq!(verified.header.alg, "ES256");
    assert_eq!(verified.header.typ.as_deref(), Some("at+jwt"));
    let kid = verified.header.kid.clone().unwrap();
    assert!(app.jwks().await.iter().any(|k| k.kid() == kid));
    let c = &verified.claims;
    assert_eq!(c["iss"], app.state.config.issuer.as_str());
    assert_eq!(c["iss"], "http://localhost:8000");
    assert_eq!(c["sub"], id.as_str());
    assert_eq!(c["aud"], app.state.config.issuer.as_str());
    assert_eq!(c["client_id"], id.as_str());
    assert_eq!(c["scope"], "products:read orders:read");
    assert_eq!(c["env"], "local");
    assert!(!c["jti"].as_str().unwrap().is_empty());
    let iat = c["iat"].as_i64().unwrap();
    assert_eq!(iat, created_at);
    assert_eq!(c["exp"].as_i64().unwrap() - iat, 3600);

    // Two tokens never share a jti.
    let (_, _, again) =
        token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    let again = verify(&app, again["access_token"].as_str().unwrap()).await;
    assert_ne!(again.claims["jti"], c["jti"]);
}

#[tokio::test]
async fn client_secret_post_in_a_form_body() {
    let app = TestApp::spawn().await;
    let client = app
        .create_client(json!({"name": "poster", "scope": "products:read", "tokenEndpointAuthMethod": "client_secret_post"}))
        .await;
    let (id, secret) = id_secret(&client);
    let (status, headers, body) = token_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["scope"], "products:read");
    let v = verify(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(v.claims["client_id"], id.as_str());
}

/// A client registered with a `token_endpoint_auth_method`
/// must use it. A `client_secret_basic` client's secret in the body (form or JSON) and a
/// `client_secret_post` client's secret with HTTP Basic are `invalid_client`, at the token
/// endpoint (whether the client comes from storage or the cache), introspection and
/// revocation; a client created without a method may use either.
#[tokio::test]
async fn a_client_must_send_its_secret_the_way_it_was_registered() {
    let app = TestApp::spawn().await;
    let create = |method: Option<&'static str>| {
        let app = &app;
        async move {
            let mut draft = json!({"name": "m", "scope": "products:read"});
            if let Some(m) = method {
                draft["tokenEndpointAuthMethod"] = m.into();
            }
            let c = app.create_client(draft).await;
            if let Some(m) = method {
                assert_eq!(c["tokenEndpointAuthMethod"], m);
            }
            id_secret(&c)
        }
    };
    let cc = [("grant_type", "client_credentials")];
    let in_body = |id: &str, secret: &str| {
        vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_id".to_owned(), id.to_owned()),
            ("client_secret".to_owned(), secret.to_owned()),
        ]
    };
    // Every client-authentication failure carries `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    let refused = |(status, headers, body): (StatusCode, HeaderMap, Value), way: &str| {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{way}: {body}");
        assert_eq!(body["error"], "invalid_client", "{way}: {body}");
        assert!(body.get("access_token").is_none(), "{way}: {body}");
        headers
    };

    // client_secret_basic: only HTTP Basic. Twice each way: from storage, then the cache.
    let (id, secret) = create(Some("client_secret_basic")).await;
    for _ in 0..2 {
        let form = in_body(&id, &secret);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        refused(token_form(&app, &form).await, "basic client, form body");
        let json_body =
            json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret});
        refused(
            token_json(&app, &json_body).await,
            "basic client, JSON body",
        );
    }
    let (status, _, body) = token_basic(&app, &id, &secret, &cc).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();

    // client_secret_post: only in the body.
    let (pid, psecret) = create(Some("client_secret_post")).await;
    for _ in 0..2 {
        let h = refused(
            token_basic(&app, &pid, &psecret, &cc).await,
            "post client, Basic",
        );
        assert!(h.get("www-authenticate").is_some());
    }
    let form = in_body(&pid, &psecret);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, _, body) = token_form(&app, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Introspection and revocation authenticate their callers the same way.
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        let res = app
            .http
            .post(app.url(path))
            .form(&[
                ("token", token.as_str()),
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await
            .unwrap();
        refused(answer(res).await, path);
        let res = app
            .http
            .post(app.url(path))
            .basic_auth(&pid, Some(&psecret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        refused(answer(res).await, path);
    }
    // The token was not revoked by either refused call.
    assert_eq!(app.introspect(&token).await["active"], true);

    // Without a method named, a confidential client may use either way.
    let (eid, esecret) = create(None).await;
    let got: Value = app
        .http
        .get(app.url(&format!("/api-clients/{eid}")))
        .bearer_auth(app.admin_token().await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["tokenEndpointAuthMethod"],
        "client_secret_basic_or_post"
    );
    assert_eq!(
        token_basic(&app, &eid, &esecret, &cc).await.0,
        StatusCode::OK
    );
    let form = in_body(&eid, &esecret);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(token_form(&app, &form).await.0, StatusCode::OK);

    // An operator restricts it to Basic: the body stops working at once on this replica.
    let res = app
        .http
        .post(app.url(&format!("/api-clients/{eid}")))
        .bearer_auth(app.admin_token().await)
        .json(&json!({"actions": [{"action": "setTokenEndpointAuthMethod",
                                   "tokenEndpointAuthMethod": "client_secret_basic"}]}))
        .send()
        .await
        .unwrap();
    let (status, _, updated) = answer(res).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["tokenEndpointAuthMethod"], "client_secret_basic");
    refused(token_form(&app, &form).await, "restricted to Basic, body");
    assert_eq!(
        token_basic(&app, &eid, &esecret, &cc).await.0,
        StatusCode::OK
    );
    // A confidential client cannot be given `none`.
    let res = app
        .http
        .post(app.url(&format!("/api-clients/{eid}")))
        .bearer_auth(app.admin_token().await)
        .json(&json!({"actions": [{"action": "setTokenEndpointAuthMethod",
                                   "tokenEndpointAuthMethod": "none"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn commerce_layer_json_body() {
    let app = TestApp::spawn().await;
    let client = app
        .create_client(json!({"name": "integration", "scope": "market:all"}))
        .await;
    let (id, secret) = id_secret(&client);
    let (status, headers, body) = token_json(
        &app,
        &json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    for field in [
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "created_at",
    ] {
        assert!(body.get(field).is_some(), "missing {field}: {body}");
    }
    assert_eq!(body["scope"], "market:all");
    assert!(body["created_at"].is_i64());
    assert!(body["expires_in"].is_u64());
}

#[tokio::test]
async fn eddsa_and_rs256_when_configured() {
    for alg in ["EdDSA", "RS256"] {
        let app = TestApp::spawn_with(|c| c.token.access_token_algorithm = alg.to_owned()).await;
        let client = app
            .create_client(json!({"name": "x", "scope": "products:read"}))
            .await;
        let (id, secret) = id_secret(&client);
        let (status, _, body) =
            token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
        assert_eq!(status, StatusCode::OK, "{alg}: {body}");
        let v = verify(&app, body["access_token"].as_str().unwrap()).await;
        assert_eq!(v.header.alg, alg);
        assert_eq!(v.claims["client_id"], id.as_str());
        let meta: Value = app
            .get_json("/.well-known/oauth-authorization-server")
            .await;
        assert_eq!(
            meta["access_token_signing_alg_values_supported"],
            json!([alg])
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn opaque_tokens_for_clients_set_to_them() {
    let app = TestApp::spawn().await;
    let client = app
        .create_client(json!({"name": "opaque", "scope": "products:read", "tokenFormat": "opaque"}))
        .await;
    assert_eq!(client["tokenFormat"], "opaque");
    let (id, secret) = id_secret(&client);
    let (status, _, body) =
        token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert!(!token.contains('.'), "opaque tokens are not JWTs: {token}");
    assert!(token.starts_with("ot_"), "{token}");
    assert_eq!(body["expires_in"], 3600);
    let info = app.introspect(token).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], id.as_str());
    assert_eq!(info["scope"], "products:read");
    assert_eq!(info["env"], "local");
    // Stored by hash, never in clear.
    let hash = castellan_crypto::hash_secret(token).0;
    let stored = app.store.get_opaque_token(&hash).await.unwrap().unwrap();
    assert_eq!(stored.client_id, id);
}

#[tokio::test]
async fn scopes_default_narrow_refuse_and_wildcards() {
    let app = TestApp::spawn().await;
    let client = app
        .create_client(json!({"name": "scoped", "scope": "products:read orders:read market:id:*"}))
        .await;
    let (id, secret) = id_secret(&client);
    let grant = |scope: Option<&'static str>| {
        let (id, secret) = (id.clone(), secret.clone());
        let app = &app;
        async move {
            let mut form = vec![("grant_type", "client_credentials")];
            if let Some(s) = scope {
                form.push(("scope", s));
            }
            token_basic(app, &id, &secret, &form).await
        }
    };
    // No scope asked: the allowed scopes without wildcards.
    let (s, _, b) = grant(None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["scope"], "products:read orders:read");
    // A subset.
    let (s, _, b) = grant(Some("orders:read")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["scope"], "orders:read");
    // Beyond the allowed set.
    let (s, h, b) = grant(Some("products:write")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_scope");
    assert!(b["error_description"]
        .as_str()
        .unwrap()
        .contains("products:write"));
    assert_eq!(h["cache-control"], "no-store");
    let (s, _, b) = grant(Some("products:read manage_api_clients")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["error"], "invalid_scope");
    // The wildcard matches one qualifier segment.
    let (s, _, b) = grant(Some("market:id:xYZkjABcde")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["scope"], "market:id:xYZkjABcde");
    let v = verify(&app, b["access_token"].as_str().unwrap()).await;
    assert_eq!(v.claims["scope"], "market:id:xYZkjABcde");
    let (s, _, b) = grant(Some("market:id:a:b")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_scope");
    let (s, _, b) = grant(Some("market:id:*")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_scope");
}

#[tokio::test]
async fn configured_default_scope_is_given_when_none_is_asked() {
    let app = TestApp::spawn().await;
    let client = app
        .create_client(json!({"name": "integration", "scope": "market:all market:id:*", "defaultScope": "market:all"}))
        .await;
    let (id, secret) = id_secret(&client);
    let (s, _, b) = token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["scope"], "market:all");
}

#[tokio::test]
async fn public_sales_channel_needs_a_market_scope() {
    let app = TestApp::spawn().await;
    let channel = app
        .create_client(json!({
            "name": "storefront",
            "scope": "market:id:*",
            "clientKind": "public",
            "publicClientCredentials": true
        }))
        .await;
    assert!(channel.get("secret").is_none(), "{channel}");
    assert_eq!(channel["clientKind"], "public");
    let id = channel["id"].as_str().unwrap();

    // Seed 004's sales-channel request, verbatim in shape.
    let (s, h, b) = token_json(
        &app,
        &json!({"grant_type": "client_credentials", "client_id": id, "scope": "market:id:xYZkjABcde"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(b["scope"], "market:id:xYZkjABcde");
    let v = verify(&app, b["access_token"].as_str().unwrap()).await;
    assert_eq!(v.claims["client_id"], id);

    // Also as a form.
    let (s, _, b) = token_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("scope", "market:id:abc"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // No market in scope.
    let (s, _, b) = token_json(
        &app,
        &json!({"grant_type": "client_credentials", "client_id": id}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_scope");
    let (s, _, b) = token_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("scope", "products:read"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_scope");
    // A public client presenting a secret is refused.
    let (s, _, b) = token_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", "whatever"),
            ("scope", "market:id:abc"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(b["error"], "invalid_client");
}

#[tokio::test]
async fn public_client_without_opt_in_is_unauthorized_client() {
    let app = TestApp::spawn().await;
    let spa = app
        .create_client(json!({"name": "spa", "scope": "market:id:*", "clientKind": "public"}))
        .await;
    let id = spa["id"].as_str().unwrap();
    let (s, _, b) = token_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("scope", "market:id:xYZkjABcde"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "unauthorized_client");
}

#[tokio::test]
async fn bad_credentials_are_401_invalid_client() {
    let app = TestApp::spawn().await;
    let client = app
        .create_client(json!({"name": "x", "scope": "products:read"}))
        .await;
    let (id, _) = id_secret(&client);

    // Wrong secret with Basic: 401 and a Basic challenge.
    let (s, h, b) = token_basic(
        &app,
        &id,
        "not-the-secret",
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(b["error"], "invalid_client");
    let challenge = h["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    assert!(challenge.contains("invalid_client"), "{challenge}");
    assert_eq!(h["cache-control"], "no-store");

    // Wrong secret in the body.
    let (s, h, b) = token_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "nope"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(b["error"], "invalid_client");
    assert!(h.contains_key("www-authenticate"));

    // A confidential client sending no secret.
    let (s, _, b) = token_form(
        &app,
        &[("grant_type", "client_credentials"), ("client_id", &id)],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(b["error"], "invalid_client");

    // An unknown client: the same answer.
    let (s, h, b) = token_basic(
        &app,
        "no-such-client",
        "secret",
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(b["error"], "invalid_client");
    assert!(h.contains_key("www-authenticate"));
    let (s, _, b) = token_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "no-such-client"),
            ("client_secret", "x"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(b["error"], "invalid_client");

    // No credentials at all.
    let (s, _, b) = token_form(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(b["error"], "invalid_client");
}

#[tokio::test]
async fn malformed_requests_name_the_rfc_error() {
    let app = TestApp::spawn().await;
    let client = app
        .create_client(json!({"name": "x", "scope": "products:read"}))
        .await;
    let (id, secret) = id_secret(&client);

    // A repeated parameter.
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=products:read&scope=products:read")
        .send()
        .await
        .unwrap();
    let (s, h, b) = answer(res).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_request");
    assert!(b["error_description"].as_str().unwrap().contains("scope"));
    assert_eq!(h["cache-control"], "no-store");

    // A repeated grant_type.
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let (s, _, b) = answer(res).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_request");

    // An unknown grant.
    let (s, _, b) = token_basic(&app, &id, &secret, &[("grant_type", "magic")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "unsupported_grant_type");
    // A grant this server answers, but not for this client.
    let (s, _, b) = token_basic(
        &app,
        &id,
        &secret,
        &[("grant_type", "urn:ietf:params:oauth:grant-type:device_code")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "unauthorized_client");

    // No grant_type.
    let (s, _, b) = token_basic(&app, &id, &secret, &[("scope", "products:read")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_request");
    assert!(b["error_description"]
        .as_str()
        .unwrap()
        .contains("grant_type"));

    // A malformed scope.
    let (s, _, b) = token_basic(
        &app,
        &id,
        &secret,
        &[("grant_type", "client_credentials"), ("scope", "a\u{7f}b")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_scope");

    // GET is not the token endpoint's method.
    let res = app.http.get(app.url("/oauth/token")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn per_client_access_token_lifetime() {
    let app = TestApp::spawn().await;
    let client = app
        .create_client(
            json!({"name": "long", "scope": "products:read", "accessTokenValiditySeconds": 7200}),
        )
        .await;
    assert_eq!(client["accessTokenValiditySeconds"], 7200);
    let (id, secret) = id_secret(&client);
    let (s, _, b) = token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["expires_in"], 7200);
    let v = verify(&app, b["access_token"].as_str().unwrap()).await;
    let (exp, iat) = (
        v.claims["exp"].as_i64().unwrap(),
        v.claims["iat"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 7200);

    let opaque = app
        .create_client(json!({"name": "short-opaque", "scope": "products:read", "accessTokenValiditySeconds": 3600, "tokenFormat": "opaque"}))
        .await;
    let (id, secret) = id_secret(&opaque);
    let (s, _, b) = token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["expires_in"], 3600);
    let info = app.introspect(b["access_token"].as_str().unwrap()).await;
    assert_eq!(
        info["exp"].as_i64().unwrap() - info["iat"].as_i64().unwrap(),
        3600
    );
}

fn start_of(day: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(day)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn delete_at_ends_tokens_and_upkeep_purges_the_client() {
    let clock = Arc::new(ManualClock::new(start_of("2031-03-01T12:00:00Z")));
    let app = TestApp::spawn_full(|_| {}, Arc::<ManualClock>::clone(&clock)).await;
    let client = app
        .create_client(
            json!({"name": "temporary", "scope": "products:read", "deleteDaysAfterCreation": 2}),
        )
        .await;
    assert_eq!(client["deleteAt"], "2031-03-03T12:00:00.000Z");
    let (id, secret) = id_secret(&client);
    let (s, _, b) = token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let early = b["access_token"].as_str().unwrap().to_owned();

    // The upkeep leaves it alone before deleteAt.
    castellan_server::platform::upkeep::run_once(&app.state).await;
    assert!(app.store.get_client(&id).await.unwrap().is_some());

    clock.advance(Duration::days(2) + Duration::seconds(1));
    let (s, h, b) = token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(b["error"], "invalid_client");
    assert!(h.contains_key("www-authenticate"));
    // Its tokens stop working at deleteAt too (the token itself has expired by now anyway).
    assert_eq!(app.introspect(&early).await["active"], false);

    castellan_server::platform::upkeep::run_once(&app.state).await;
    assert!(app.store.get_client(&id).await.unwrap().is_none());
    let admin = app.admin_token().await;
    let res = app
        .http
        .get(app.url(&format!("/api-clients/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_at_makes_unexpired_tokens_inactive() {
    let clock = Arc::new(ManualClock::new(start_of("2031-03-01T12:00:00Z")));
    let app = TestApp::spawn_full(|_| {}, Arc::<ManualClock>::clone(&clock)).await;
    let client = app
        .create_client(json!({"name": "temporary", "scope": "products:read", "deleteDaysAfterCreation": 1, "accessTokenValiditySeconds": 604_800}))
        .await;
    let (id, secret) = id_secret(&client);
    clock.advance(Duration::hours(23));
    let (s, _, b) = token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let token = b["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.introspect(&token).await["active"], true);
    clock.advance(Duration::hours(2));
    assert_eq!(app.introspect(&token).await["active"], false);
}

/// Polls storage until the client's `lastUsedAt` is `want` (the write happens off the request
/// path).
async fn wait_last_used(app: &TestApp, id: &str, want: NaiveDate) {
    for _ in 0..500 {
        let c = app.store.get_client(id).await.unwrap().unwrap();
        if c.last_used_at == Some(want) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("lastUsedAt never became {want}");
}

async fn last_used_via_api(app: &TestApp, id: &str) -> Value {
    let admin = app.admin_token().await;
    let rep: Value = app
        .http
        .get(app.url(&format!("/api-clients/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    rep["lastUsedAt"].clone()
}

#[tokio::test]
async fn last_used_at_is_the_day_of_the_last_token() {
    let app = TestApp::spawn().await;
    let client = app
        .create_client(json!({"name": "x", "scope": "products:read"}))
        .await;
    assert!(client.get("lastUsedAt").is_none());
    let (id, secret) = id_secret(&client);
    let today = Utc::now().date_naive();
    app.token_for(&id, &secret, None).await;
    wait_last_used(&app, &id, today).await;
    for _ in 0..20 {
        app.token_for(&id, &secret, None).await;
    }
    let c = app.store.get_client(&id).await.unwrap().unwrap();
    assert_eq!(c.last_used_at, Some(today));
    assert_eq!(
        last_used_via_api(&app, &id).await,
        today.format("%Y-%m-%d").to_string()
    );
}

#[tokio::test]
async fn last_used_at_moves_by_day_not_by_token() {
    let clock = Arc::new(ManualClock::new(start_of("2031-05-10T08:00:00Z")));
    let app = TestApp::spawn_full(|_| {}, Arc::<ManualClock>::clone(&clock)).await;
    let client = app
        .create_client(json!({"name": "x", "scope": "products:read"}))
        .await;
    let (id, secret) = id_secret(&client);
    let day1 = NaiveDate::from_ymd_opt(2031, 5, 10).unwrap();
    let day2 = NaiveDate::from_ymd_opt(2031, 5, 11).unwrap();
    for _ in 0..10 {
        app.token_for(&id, &secret, None).await;
    }
    wait_last_used(&app, &id, day1).await;
    assert_eq!(last_used_via_api(&app, &id).await, "2031-05-10");
    for _ in 0..10 {
        app.token_for(&id, &secret, None).await;
    }
    assert_eq!(
        app.store
            .get_client(&id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(day1)
    );
    clock.advance(Duration::days(1));
    app.token_for(&id, &secret, None).await;
    wait_last_used(&app, &id, day2).await;
    assert_eq!(last_used_via_api(&app, &id).await, "2031-05-11");
}

/// A token answer: status, headers, JSON body.
type Answer = (StatusCode, HeaderMap, Value);

/// The parts of a token answer that must not depend on where the client was found: status,
/// header names, and the body without the token and its time.
fn comparable(answer: &Answer) -> (StatusCode, Vec<String>, Value) {
    let (status, headers, body) = answer;
    let mut names: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
    names.sort();
    let mut body = body.clone();
    if let Some(b) = body.as_object_mut() {
        b.remove("access_token");
        b.remove("created_at");
    }
    (*status, names, body)
}

fn remaining(headers: &HeaderMap) -> u64 {
    headers["ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Each request is sent twice to a client not asked for before: the first time the client
/// comes from storage, the second from the cache, which the token endpoint answers without
/// waiting when it can. Both answers are the same (but for the token) and each attempt counts
/// once against the limits.
#[tokio::test]
async fn answers_are_the_same_whether_the_client_comes_from_storage_or_the_cache() {
    let clock = Arc::new(ManualClock::new(start_of("2031-03-01T12:00:10Z")));
    let app = TestApp::spawn_full(|_| {}, clock).await;
    let fresh = |format: &'static str| {
        let app = &app;
        async move {
            id_secret(
                &app.create_client(
                    json!({"name": "twice", "scope": "products:read", "tokenFormat": format}),
                )
                .await,
            )
        }
    };
    let cc = [("grant_type", "client_credentials")];
    let mut cases: Vec<(&str, [Answer; 2])> = Vec::new();

    let (id, secret) = fresh("jwt").await;
    let twice = [
        token_basic(&app, &id, &secret, &cc).await,
        token_basic(&app, &id, &secret, &cc).await,
    ];
    cases.push(("basic", twice));

    let (id, secret) = fresh("jwt").await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    cases.push((
        "client_secret_post",
        [token_form(&app, &form).await, token_form(&app, &form).await],
    ));

    let (id, _) = fresh("jwt").await;
    cases.push((
        "wrong secret",
        [
            token_basic(&app, &id, "not-the-secret", &cc).await,
            token_basic(&app, &id, "not-the-secret", &cc).await,
        ],
    ));

    let (id, secret) = fresh("jwt").await;
    let wider = [
        ("grant_type", "client_credentials"),
        ("scope", "orders:write"),
    ];
    cases.push((
        "scope not allowed",
        [
            token_basic(&app, &id, &secret, &wider).await,
            token_basic(&app, &id, &secret, &wider).await,
        ],
    ));

    cases.push((
        "unknown client",
        [
            token_basic(&app, "noSuchClientAnywhere0001", "secret", &cc).await,
            token_basic(&app, "noSuchClientAnywhere0001", "secret", &cc).await,
        ],
    ));

    let (id, secret) = fresh("opaque").await;
    cases.push((
        "opaque tokens",
        [
            token_basic(&app, &id, &secret, &cc).await,
            token_basic(&app, &id, &secret, &cc).await,
        ],
    ));

    // A client registered with one method sending its secret the other way (RFC 7591 §2).
    let only = |method: &'static str| {
        let app = &app;
        async move {
            id_secret(
                &app.create_client(json!({"name": "one way", "scope": "products:read",
                                          "tokenEndpointAuthMethod": method}))
                    .await,
            )
        }
    };
    let (id, secret) = only("client_secret_basic").await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    cases.push((
        "basic client in the body",
        [token_form(&app, &form).await, token_form(&app, &form).await],
    ));
    let (id, secret) = only("client_secret_post").await;
    cases.push((
        "post client with Basic",
        [
            token_basic(&app, &id, &secret, &cc).await,
            token_basic(&app, &id, &secret, &cc).await,
        ],
    ));

    let expected = [
        ("basic", StatusCode::OK),
        ("client_secret_post", StatusCode::OK),
        ("wrong secret", StatusCode::UNAUTHORIZED),
        ("scope not allowed", StatusCode::BAD_REQUEST),
        ("unknown client", StatusCode::UNAUTHORIZED),
        ("opaque tokens", StatusCode::OK),
        ("basic client in the body", StatusCode::UNAUTHORIZED),
        ("post client with Basic", StatusCode::UNAUTHORIZED),
    ];
    for ((name, [first, second]), (want_name, want_status)) in cases.iter().zip(expected) {
        assert_eq!(*name, want_name);
        assert_eq!(first.0, want_status, "{name}: {}", first.2);
        assert_eq!(comparable(first), comparable(second), "{name}");
        assert_eq!(
            first.1.get("www-authenticate"),
            second.1.get("www-authenticate"),
            "{name}"
        );
        assert_eq!(
            remaining(&first.1),
            remaining(&second.1) + 1,
            "{name}: each attempt counts once"
        );
        if want_status == StatusCode::OK {
            assert_ne!(first.2["access_token"], second.2["access_token"], "{name}");
        }
    }
}

/// A client stored with a longer access-token lifetime than the configuration now allows
/// (created under an earlier one) gets tokens cut to the current bound: the revocation feed
/// keeps an entry only as long as the bound, so a longer-lived token would outlive it at the
/// guard.
#[tokio::test]
async fn a_stored_lifetime_longer_than_the_bounds_is_cut_to_them() {
    use castellan_server::management::clients::{build_client, ClientDraft};
    let app = TestApp::spawn_with(|c| c.clients.lifetime_bounds.access_max = 7_200).await;
    let draft = ClientDraft {
        name: "made under an earlier configuration".into(),
        ..ClientDraft::default()
    };
    let (mut stored, secret) =
        build_client(draft, &app.state.config, app.state.clock.now()).unwrap();
    stored.access_token_validity_seconds = Some(86_400);
    app.store.insert_client(&stored).await.unwrap();
    let secret = secret.unwrap().into_exposed();
    let (status, _, body) = token_basic(
        &app,
        &stored.id,
        &secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 7_200);
    let claims = verify(&app, body["access_token"].as_str().unwrap())
        .await
        .claims;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        7_200
    );
}

/// Endpoints written with a trailing slash (as some clients write them) answer
/// like the path without it, with no redirect a POST could not follow.
#[tokio::test]
async fn a_trailing_slash_answers_like_the_path_without_it() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .post(app.url("/oauth/token/"))
        .basic_auth(&app.admin_id, Some(&app.admin_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, _, body) = answer(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let res = app
        .http
        .post(app.url("/oauth/introspect/"))
        .basic_auth(&app.admin_id, Some(&app.admin_secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    let (status, _, body) = answer(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], true);
    let res = app
        .http
        .get(app.url("/.well-known/openid-configuration/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
