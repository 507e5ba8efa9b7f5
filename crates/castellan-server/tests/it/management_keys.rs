//! The management API's `private_key_jwt` clients and DPoP-bound clients: a client created with
//! `jwks` or `jwksUri` and no secret authenticates with a signed assertion; private key material
//! is refused and nothing is stored; `setJwks` / `setJwksUri` rotate its keys;
//! `setTokenEndpointAuthMethod` cannot make a client `private_key_jwt` without keys;
//! `dpopBoundAccessTokens` is set, shown and changed; the OpenAPI document describes it all.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::private_key_jwt::{assertion, jwks, key, refused, token};
use crate::support::doc_server::{Answer, DocServer};
use castellan_crypto::Algorithm;
use castellan_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn create(app: &TestApp, admin: &str, draft: Value) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url("/api-clients"))
        .bearer_auth(admin)
        .json(&draft)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn update(app: &TestApp, admin: &str, id: &str, actions: Value) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url(&format!("/api-clients/{id}")))
        .bearer_auth(admin)
        .json(&json!({ "actions": actions }))
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn get(app: &TestApp, admin: &str, id: &str) -> Value {
    let res = app
        .http
        .get(app.url(&format!("/api-clients/{id}")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn count(app: &TestApp, admin: &str) -> u64 {
    let res = app
        .http
        .get(app.url("/api-clients?limit=0"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    v["total"].as_u64().unwrap()
}

/// A 400 `InvalidField` whose message starts with `field`.
fn refused_naming(status: StatusCode, body: &Value, field: &str, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("{field}:")),
        "{what}: the message names {field}: {body}"
    );
}

fn pkjwt_draft(keys: Value) -> Value {
    let mut draft = json!({"name": "signer", "scope": "products:read",
                           "tokenEndpointAuthMethod": "private_key_jwt"});
    for (k, v) in keys.as_object().unwrap() {
        draft[k] = v.clone();
    }
    draft
}

#[tokio::test]
async fn a_private_key_jwt_client_created_with_jwks_gets_a_token_with_an_assertion() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let k = key(Algorithm::Es256, "mgmt-1");
    let set = jwks(&[&k]);
    let (status, created) = create(&app, &admin, pkjwt_draft(json!({"jwks": set}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created.get("secret").is_none(), "no secret: {created}");
    assert_eq!(created["tokenEndpointAuthMethod"], "private_key_jwt");
    assert_eq!(created["jwks"], set);
    assert!(created.get("jwksUri").is_none(), "{created}");
    assert_eq!(created["dpopBoundAccessTokens"], false);
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(app
        .store
        .get_client(&id)
        .await
        .unwrap()
        .unwrap()
        .secret_hash
        .is_none());
    assert_eq!(get(&app, &admin, &id).await, created);

    let (status, body) = token(&app, Some(&id), &assertion(&app, &k, &id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string(), "{body}");
    assert_eq!(body["scope"], "products:read");
    // Another key is not this client's.
    let other = key(Algorithm::Es256, "mgmt-1");
    refused(
        token(&app, Some(&id), &assertion(&app, &other, &id)).await,
        "another key",
    );
}

#[tokio::test]
async fn private_key_material_in_jwks_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let before = count(&app, &admin).await;
    let good = key(Algorithm::Es256, "pub");
    let public = good.verifying_key().unwrap().jwk().clone();
    let rsa = key(Algorithm::Rs256, "rsa");
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        // The private member on the second key of the set: every key is checked.
        let mut private = rsa.verifying_key().unwrap().jwk().clone();
        private[member] = json!("AQAB");
        let draft = pkjwt_draft(json!({"jwks": {"keys": [public.clone(), private]}}));
        let (status, body) = create(&app, &admin, draft).await;
        refused_naming(status, &body, "jwks", member);
        assert!(
            body["message"].as_str().unwrap().contains("private"),
            "{body}"
        );
    }
    let symmetric = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"}]});
    let (status, body) = create(&app, &admin, pkjwt_draft(json!({"jwks": symmetric}))).await;
    refused_naming(status, &body, "jwks", "a symmetric key");
    assert_eq!(count(&app, &admin).await, before, "nothing was stored");

    // Nor through setJwks: the client keeps its keys.
    let (status, created) = create(
        &app,
        &admin,
        pkjwt_draft(json!({"jwks": {"keys": [public.clone()]}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let mut private = public.clone();
    private["d"] = json!("AAAA");
    let (status, body) = update(
        &app,
        &admin,
        id,
        json!([{"action": "setJwks", "jwks": {"keys": [private]}}]),
    )
    .await;
    refused_naming(status, &body, "jwks", "setJwks with a private key");
    assert_eq!(
        get(&app, &admin, id).await["jwks"],
        json!({"keys": [public]})
    );
    assert_eq!(
        token(&app, Some(id), &assertion(&app, &good, id)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn set_jwks_rotates_the_keys_and_set_jwks_uri_replaces_them() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let old = key(Algorithm::Es256, "old");
    let new = key(Algorithm::EdDsa, "new");
    let (status, created) = create(&app, &admin, pkjwt_draft(json!({"jwks": jwks(&[&old])}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        token(&app, Some(&id), &assertion(&app, &old, &id)).await.0,
        StatusCode::OK
    );

    let (status, updated) = update(
        &app,
        &admin,
        &id,
        json!([{"action": "setJwks", "jwks": jwks(&[&new])}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["jwks"], jwks(&[&new]));
    refused(
        token(&app, Some(&id), &assertion(&app, &old, &id)).await,
        "the rotated-out key",
    );
    let (status, body) = token(&app, Some(&id), &assertion(&app, &new, &id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // To a URL: jwks goes, jwksUri comes, and the keys there are the client's.
    let docs = DocServer::start().await;
    let fetched = key(Algorithm::Es256, "fetched");
    docs.set("/jwks", Answer::json(jwks(&[&fetched]).to_string()));
    let (status, updated) = update(
        &app,
        &admin,
        &id,
        json!([{"action": "setJwksUri", "jwksUri": docs.url("/jwks")}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(updated.get("jwks").is_none(), "{updated}");
    assert_eq!(updated["jwksUri"], docs.url("/jwks"));
    assert_eq!(get(&app, &admin, &id).await, updated);
    refused(
        token(&app, Some(&id), &assertion(&app, &new, &id)).await,
        "the key of the replaced jwks",
    );
    let (status, body) = token(&app, Some(&id), &assertion(&app, &fetched, &id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // And back: jwksUri goes.
    let (status, updated) = update(
        &app,
        &admin,
        &id,
        json!([{"action": "setJwks", "jwks": jwks(&[&new])}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(updated.get("jwksUri").is_none(), "{updated}");

    // A jwksUri the fetcher may not reach is refused, naming the field.
    for bad in [
        "http://app.example.com/jwks",
        "https://169.254.169.254/latest",
        "not a url",
    ] {
        let (status, body) = update(
            &app,
            &admin,
            &id,
            json!([{"action": "setJwksUri", "jwksUri": bad}]),
        )
        .await;
        refused_naming(status, &body, "jwksUri", bad);
    }
    assert_eq!(get(&app, &admin, &id).await["jwks"], jwks(&[&new]));
}

#[tokio::test]
async fn a_private_key_jwt_draft_needs_exactly_one_of_jwks_and_jwks_uri() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let before = count(&app, &admin).await;
    let k = key(Algorithm::Es256, "k");
    for (draft, field, what) in [
        (pkjwt_draft(json!({})), "jwks", "no keys"),
        (
            pkjwt_draft(json!({"jwks": jwks(&[&k]), "jwksUri": "https://app.example.com/jwks"})),
            "jwksUri",
            "both",
        ),
        (
            json!({"name": "x", "scope": "products:read", "jwks": jwks(&[&k])}),
            "jwks",
            "jwks for a secret client",
        ),
        (
            json!({"name": "x", "scope": "products:read",
                   "tokenEndpointAuthMethod": "client_secret_basic",
                   "jwksUri": "https://app.example.com/jwks"}),
            "jwksUri",
            "jwksUri for a secret client",
        ),
        (
            pkjwt_draft(json!({"jwks": {"keys": "nope"}})),
            "jwks",
            "not a JWK Set",
        ),
        (
            pkjwt_draft(json!({"jwks": {"keys": []}})),
            "jwks",
            "an empty JWK Set",
        ),
        (
            pkjwt_draft(json!({"jwksUri": "http://app.example.com/jwks"})),
            "jwksUri",
            "an http jwksUri",
        ),
        (
            json!({"name": "x", "scope": "products:read", "clientKind": "public",
                   "tokenEndpointAuthMethod": "private_key_jwt", "jwks": jwks(&[&k])}),
            "tokenEndpointAuthMethod",
            "a public client",
        ),
    ] {
        let (status, body) = create(&app, &admin, draft).await;
        refused_naming(status, &body, field, what);
    }
    assert_eq!(count(&app, &admin).await, before, "nothing was stored");

    // A jwksUri alone is enough.
    let (status, created) = create(
        &app,
        &admin,
        pkjwt_draft(json!({"jwksUri": "https://app.example.com/jwks"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["jwksUri"], "https://app.example.com/jwks");
    assert!(created.get("jwks").is_none() && created.get("secret").is_none());
}

#[tokio::test]
async fn switching_to_private_key_jwt_needs_keys_and_ends_the_secret() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let client = app
        .new_client(json!({"name": "moving", "scope": "products:read"}))
        .await;
    let k = key(Algorithm::Es256, "k");

    let (status, body) = update(
        &app,
        &admin,
        &client.id,
        json!([{"action": "setTokenEndpointAuthMethod", "tokenEndpointAuthMethod": "private_key_jwt"}]),
    )
    .await;
    refused_naming(status, &body, "tokenEndpointAuthMethod", "no keys");
    assert!(body["message"].as_str().unwrap().contains("jwks"), "{body}");
    let unchanged = get(&app, &admin, &client.id).await;
    assert_eq!(
        unchanged["tokenEndpointAuthMethod"],
        "client_secret_basic_or_post"
    );
    app.token_of(&client).await;

    // Keys alone on a secret client are refused too: they would never be read.
    let (status, body) = update(
        &app,
        &admin,
        &client.id,
        json!([{"action": "setJwks", "jwks": jwks(&[&k])}]),
    )
    .await;
    refused_naming(status, &body, "jwks", "keys for a secret client");

    // Keys and the method in one update: the client signs, and its secret has ended.
    let (status, updated) = update(
        &app,
        &admin,
        &client.id,
        json!([
            {"action": "setJwks", "jwks": jwks(&[&k])},
            {"action": "setTokenEndpointAuthMethod", "tokenEndpointAuthMethod": "private_key_jwt"},
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["tokenEndpointAuthMethod"], "private_key_jwt");
    assert_eq!(updated["jwks"], jwks(&[&k]));
    let (status, body) = token(&app, Some(&client.id), &assertion(&app, &k, &client.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "the old secret");

    // It has no secret to go back to.
    let (status, body) = update(
        &app,
        &admin,
        &client.id,
        json!([{"action": "setTokenEndpointAuthMethod", "tokenEndpointAuthMethod": "client_secret_basic"}]),
    )
    .await;
    refused_naming(status, &body, "tokenEndpointAuthMethod", "back to a secret");
    assert_eq!(
        get(&app, &admin, &client.id).await["tokenEndpointAuthMethod"],
        "private_key_jwt"
    );
}

#[tokio::test]
async fn a_registered_clients_keys_are_its_registrants() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let k = key(Algorithm::Es256, "k");
    let res = app
        .http
        .post(app.url("/oauth/register"))
        .json(&json!({"grant_types": ["client_credentials"],
                      "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[&k])}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let registered: Value = res.json().await.unwrap();
    let id = registered["client_id"].as_str().unwrap();
    let shown = get(&app, &admin, id).await;
    assert_eq!(shown["jwks"], jwks(&[&k]), "the management API shows them");
    let other = key(Algorithm::Es256, "other");
    for (action, field) in [
        (
            json!({"action": "setJwks", "jwks": jwks(&[&other])}),
            "jwks",
        ),
        (
            json!({"action": "setJwksUri", "jwksUri": "https://app.example.com/jwks"}),
            "jwksUri",
        ),
    ] {
        let (status, body) = update(&app, &admin, id, json!([action])).await;
        refused_naming(status, &body, field, "a registered client");
    }
    assert_eq!(get(&app, &admin, id).await, shown);
}

#[tokio::test]
async fn dpop_bound_access_tokens_round_trip_through_create_update_and_get() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (status, plain) = create(
        &app,
        &admin,
        json!({"name": "plain", "scope": "products:read"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    assert_eq!(plain["dpopBoundAccessTokens"], false, "false by default");

    let (status, created) = create(
        &app,
        &admin,
        json!({"name": "bound", "scope": "products:read", "dpopBoundAccessTokens": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["dpopBoundAccessTokens"], true);
    let id = created["id"].as_str().unwrap();
    assert_eq!(get(&app, &admin, id).await["dpopBoundAccessTokens"], true);
    assert!(app
        .store
        .get_client(id)
        .await
        .unwrap()
        .unwrap()
        .requires_dpop());

    let (status, updated) = update(
        &app,
        &admin,
        id,
        json!([{"action": "setDpopBoundAccessTokens", "dpopBoundAccessTokens": false}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["dpopBoundAccessTokens"], false);
    assert_eq!(get(&app, &admin, id).await["dpopBoundAccessTokens"], false);
    assert!(!app
        .store
        .get_client(id)
        .await
        .unwrap()
        .unwrap()
        .requires_dpop());

    let (status, updated) = update(
        &app,
        &admin,
        id,
        json!([{"action": "setDpopBoundAccessTokens", "dpopBoundAccessTokens": true}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(get(&app, &admin, id).await["dpopBoundAccessTokens"], true);

    let (status, body) = update(
        &app,
        &admin,
        id,
        json!([{"action": "setDpopBoundAccessTokens", "dpopBoundAccessTokens": "yes"}]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn the_openapi_document_describes_keys_and_dpop() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    for schema in ["ClientDraft", "ClientRepresentation"] {
        let props = schemas[schema]["properties"].as_object().unwrap();
        for field in ["jwks", "jwksUri", "dpopBoundAccessTokens"] {
            assert!(props.contains_key(field), "{schema} lacks {field}");
        }
    }
    let actions = schemas["ClientUpdateAction"].to_string();
    for action in ["setJwks", "setJwksUri", "setDpopBoundAccessTokens"] {
        assert!(
            actions.contains(&format!("\"{action}\"")),
            "ClientUpdateAction lacks {action}"
        );
    }
    for field in ["\"jwksUri\"", "\"dpopBoundAccessTokens\""] {
        assert!(actions.contains(field), "ClientUpdateAction lacks {field}");
    }
}
