//! The management API (`/api-clients`) with the commercetools API Clients
//! semantics: create with the secret shown once, get, query with paging,
//! predicates and sorting, HEAD, delete, lifetime bounds, and the scopes that guard it.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_testkit::{ManualClock, TestApp};
use chrono::{DateTime, Duration, Utc};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, HeaderMap, Value, usize) {
    let mut req = app.http.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, value, bytes.len())
}

async fn get(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let (s, _, v, _) = call(app, Method::GET, path, Some(token), None).await;
    (s, v)
}

async fn create(app: &TestApp, token: &str, draft: Value) -> (StatusCode, Value) {
    let (s, _, v, _) = call(app, Method::POST, "/api-clients", Some(token), Some(&draft)).await;
    (s, v)
}

/// A token for a new client holding exactly `scope`.
async fn token_with_scope(app: &TestApp, scope: &str) -> String {
    app.client_token(json!({"name": format!("holder of {scope}"), "scope": scope}))
        .await
}

fn message(v: &Value) -> String {
    v["message"].as_str().unwrap_or_default().to_owned()
}

async fn client_count(app: &TestApp, admin: &str) -> u64 {
    let (s, v) = get(app, "/api-clients?limit=0", admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["total"].as_u64().unwrap()
}

#[tokio::test]
async fn create_shows_the_secret_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (s, created) = create(
        &app,
        &admin,
        json!({
            "name": "api-client-name",
            "scope": "view_products:castellan",
            "accessTokenValiditySeconds": 3600,
            "refreshTokenValiditySeconds": 31_536_000
        }),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "256-bit secrets: {secret}");
    assert_eq!(created["name"], "api-client-name");
    assert_eq!(created["scope"], "view_products:castellan");
    assert_eq!(created["accessTokenValiditySeconds"], 3600);
    assert_eq!(created["refreshTokenValiditySeconds"], 31_536_000);
    assert_eq!(created["clientKind"], "confidential");
    assert_eq!(created["grantTypes"], json!(["client_credentials"]));
    // No method named: the secret may come either way (RFC 7591 §2 binds registered clients).
    assert_eq!(
        created["tokenEndpointAuthMethod"],
        "client_secret_basic_or_post"
    );
    let created_at = created["createdAt"].as_str().unwrap();
    assert!(DateTime::parse_from_rfc3339(created_at).is_ok());
    assert!(created_at.ends_with('Z'));
    assert!(created.get("lastUsedAt").is_none());
    assert!(created.get("deleteAt").is_none());

    // Stored as a hash only.
    let stored = app.store.get_client(id).await.unwrap().unwrap();
    let hash = stored.secret_hash.clone().unwrap();
    assert!(castellan_crypto::verify_secret(secret, &hash));
    assert_eq!(stored.name, "api-client-name");

    let (s, got) = get(&app, &format!("/api-clients/{id}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert!(got.get("secret").is_none(), "{got}");
    let mut without_secret = created.clone();
    without_secret.as_object_mut().unwrap().remove("secret");
    assert_eq!(got, without_secret);

    let (_, page) = get(&app, "/api-clients", &admin).await;
    for r in page["results"].as_array().unwrap() {
        assert!(r.get("secret").is_none(), "{r}");
    }
    // The secret works.
    app.token_for(id, secret, None).await;
}

#[tokio::test]
async fn drafts_are_validated() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let before = client_count(&app, &admin).await;
    for draft in [
        json!({"scope": "a:read"}),
        json!({"name": "", "scope": "a:read"}),
        json!({"name": "x", "scope": "a:read", "color": "red"}),
        json!({"name": "x", "scope": "bad scope\u{1}"}),
        json!({"name": "x", "scope": "a:read", "clientKind": "weird"}),
        json!({"name": "x", "scope": "a:read", "tokenFormat": "paseto"}),
        json!({"name": "x", "scope": "a:read", "grantTypes": ["teleport"]}),
        json!({"name": "x", "scope": "a:read", "deleteDaysAfterCreation": 0}),
        json!({"name": "x", "scope": "a:read", "defaultScope": "b:read"}),
        json!({"name": "x", "scope": "a:read", "publicClientCredentials": true}),
        json!({"name": 5, "scope": "a:read"}),
    ] {
        let (s, v) = create(&app, &admin, draft.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{draft} → {v}");
        assert_eq!(v["statusCode"], 400);
        assert!(!message(&v).is_empty());
        assert!(v["errors"][0]["code"].is_string());
    }
    assert_eq!(client_count(&app, &admin).await, before);
}

#[tokio::test]
async fn query_pages_filters_and_sorts() {
    let clock = Arc::new(ManualClock::new(
        DateTime::parse_from_rfc3339("2031-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
    ));
    let app = TestApp::spawn_full(|_| {}, Arc::<ManualClock>::clone(&clock)).await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        clock.advance(Duration::minutes(1));
        let (s, c) = create(
            &app,
            &admin,
            json!({"name": format!("c{i}"), "scope": "products:read"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    // 5 clients plus the bootstrap admin.
    let (s, page) = get(&app, "/api-clients", &admin).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["limit"], 20);
    assert_eq!(page["offset"], 0);
    assert_eq!(page["count"], 6);
    assert_eq!(page["total"], 6);
    assert_eq!(page["results"].as_array().unwrap().len(), 6);

    let (_, page) = get(
        &app,
        "/api-clients?limit=2&offset=1&sort=name%20asc",
        &admin,
    )
    .await;
    assert_eq!(page["limit"], 2);
    assert_eq!(page["offset"], 1);
    assert_eq!(page["count"], 2);
    assert_eq!(page["total"], 6);
    let names: Vec<_> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["c0", "c1"]);

    let (_, page) = get(&app, "/api-clients?withTotal=false&limit=3", &admin).await;
    assert!(page.get("total").is_none(), "{page}");
    assert_eq!(page["count"], 3);

    let (_, page) = get(&app, "/api-clients?offset=10000", &admin).await;
    assert_eq!(page["count"], 0);
    assert_eq!(page["total"], 6);
    let (s, _) = get(&app, "/api-clients?limit=500&limit=500", &admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, page) = get(&app, "/api-clients?limit=0", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["count"], 0);
    assert_eq!(page["total"], 6);

    let q = |w: &str| {
        format!(
            "/api-clients?where={}",
            form_urlencoded::byte_serialize(w.as_bytes()).collect::<String>()
        )
    };
    let names_of = |page: &Value| -> Vec<String> {
        let mut n: Vec<String> = page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };

    let (s, page) = get(&app, &q(r#"name = "c1""#), &admin).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(names_of(&page), ["c1"]);
    assert_eq!(page["total"], 1);
    assert_eq!(page["results"][0]["id"], ids[1].as_str());

    let (_, page) = get(&app, &q(r#"name != "c1""#), &admin).await;
    assert_eq!(page["count"], 5);

    let (_, page) = get(
        &app,
        &q(&format!(r#"id in ("{}", "{}")"#, ids[0], ids[3])),
        &admin,
    )
    .await;
    assert_eq!(names_of(&page), ["c0", "c3"]);

    // Created at 00:01 … 00:05.
    let (_, page) = get(
        &app,
        &q(r#"createdAt > "2031-01-01T00:03:30.000Z""#),
        &admin,
    )
    .await;
    assert_eq!(names_of(&page), ["c3", "c4"]);
    let (_, page) = get(&app, &q(r#"createdAt < "2031-01-01T00:01:30Z""#), &admin).await;
    assert_eq!(names_of(&page), ["bootstrap-admin", "c0"]);

    let (_, page) = get(&app, &q(r#"name = "c1" or name = "c2""#), &admin).await;
    assert_eq!(names_of(&page), ["c1", "c2"]);
    let (_, page) = get(
        &app,
        &q(&format!(r#"name = "c1" and id = "{}""#, ids[2])),
        &admin,
    )
    .await;
    assert_eq!(page["count"], 0);
    assert_eq!(page["total"], 0);
    let (_, page) = get(
        &app,
        &q(r#"(name = "c1" or name = "c4") and createdAt > "2031-01-01T00:03:00Z""#),
        &admin,
    )
    .await;
    assert_eq!(names_of(&page), ["c4"]);
    // Two where parameters are combined with and.
    let (_, page) = get(
        &app,
        &format!(
            "{}&where={}",
            q(r#"name in ("c1", "c2", "c3")"#),
            form_urlencoded::byte_serialize(br#"name != "c2""#).collect::<String>()
        ),
        &admin,
    )
    .await;
    assert_eq!(names_of(&page), ["c1", "c3"]);

    let (_, page) = get(&app, "/api-clients?sort=name%20desc", &admin).await;
    let names: Vec<_> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c4", "c3", "c2", "c1", "c0", "bootstrap-admin"]);
    let (_, page) = get(&app, "/api-clients?sort=createdAt%20desc&limit=1", &admin).await;
    assert_eq!(page["results"][0]["name"], "c4");
}

#[tokio::test]
async fn query_bounds_are_400() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for path in [
        "/api-clients?limit=501",
        "/api-clients?offset=10001",
        "/api-clients?limit=-1",
        "/api-clients?limit=abc",
        "/api-clients?offset=-5",
        "/api-clients?withTotal=maybe",
        "/api-clients?sort=secret%20asc",
        "/api-clients?sort=name%20sideways",
        "/api-clients?frobnicate=1",
    ] {
        let (s, v) = get(&app, path, &admin).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert_eq!(v["statusCode"], 400);
        assert_eq!(v["errors"][0]["code"], "InvalidInput", "{path}: {v}");
    }
    let (_, v) = get(&app, "/api-clients?limit=501", &admin).await;
    assert!(message(&v).contains("500"), "{v}");
    let (_, v) = get(&app, "/api-clients?offset=10001", &admin).await;
    assert!(message(&v).contains("10000"), "{v}");
}

#[tokio::test]
async fn unsupported_predicates_say_what_is_supported() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for w in [
        r#"scope = "x""#,
        r#"name ~ "x""#,
        r"name = x",
        r#"name = "x" xor name = "y""#,
        r#"(name = "x""#,
        "",
    ] {
        let path = format!(
            "/api-clients?where={}",
            form_urlencoded::byte_serialize(w.as_bytes()).collect::<String>()
        );
        let (s, v) = get(&app, &path, &admin).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{w}: {v}");
        let m = message(&v);
        assert!(m.to_lowercase().contains("supported"), "{w}: {m}");
        assert!(m.contains("name"), "{w}: {m}");
    }
}

#[tokio::test]
async fn head_checks_existence_without_a_body() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, c) = create(&app, &admin, json!({"name": "probe", "scope": "a:read"})).await;
    let id = c["id"].as_str().unwrap();

    let (s, _, _, len) = call(
        &app,
        Method::HEAD,
        &format!("/api-clients/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(len, 0);
    let (s, _, _, len) = call(&app, Method::HEAD, "/api-clients/nope", Some(&admin), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(len, 0);

    let w = |p: &str| {
        format!(
            "/api-clients?where={}",
            form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>()
        )
    };
    let (s, _, _, len) = call(
        &app,
        Method::HEAD,
        &w(r#"name = "probe""#),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(len, 0);
    let (s, _, _, len) = call(
        &app,
        Method::HEAD,
        &w(r#"name = "absent""#),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(len, 0);
    let (s, _, _, len) = call(&app, Method::HEAD, "/api-clients", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(len, 0);
    // HEAD needs a token too.
    let (s, _, _, _) = call(
        &app,
        Method::HEAD,
        &format!("/api-clients/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn delete_answers_the_deleted_client_and_ends_its_secret() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, c) = create(&app, &admin, json!({"name": "doomed", "scope": "a:read"})).await;
    let id = c["id"].as_str().unwrap();
    let secret = c["secret"].as_str().unwrap();
    // Used once, so it is cached by the token endpoint.
    app.token_for(id, secret, None).await;

    let (s, _, deleted, _) = call(
        &app,
        Method::DELETE,
        &format!("/api-clients/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["id"], id);
    assert_eq!(deleted["name"], "doomed");
    assert_eq!(deleted["scope"], "a:read");
    assert!(deleted.get("secret").is_none());
    assert!(deleted["createdAt"].is_string());

    let (s, v) = get(&app, &format!("/api-clients/{id}"), &admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["errors"][0]["code"], "ResourceNotFound");
    assert!(app.store.get_client(id).await.unwrap().is_none());

    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let (s, _, _, _) = call(
        &app,
        Method::DELETE,
        &format!("/api-clients/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lifetimes_outside_the_bounds_are_400_naming_field_and_bounds() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let before = client_count(&app, &admin).await;
    for (field, value, bounds) in [
        ("accessTokenValiditySeconds", 3599, ("3600", "604800")),
        ("accessTokenValiditySeconds", 604_801, ("3600", "604800")),
        ("refreshTokenValiditySeconds", 29, ("30", "31536000")),
        (
            "refreshTokenValiditySeconds",
            31_536_001,
            ("30", "31536000"),
        ),
    ] {
        let (s, v) = create(
            &app,
            &admin,
            json!({"name": "x", "scope": "a:read", field: value}),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field}={value}: {v}");
        let m = message(&v);
        assert!(m.contains(field), "{m}");
        assert!(m.contains(bounds.0) && m.contains(bounds.1), "{m}");
        assert_eq!(v["errors"][0]["code"], "InvalidField");
    }
    assert_eq!(client_count(&app, &admin).await, before);
    for (field, value) in [
        ("accessTokenValiditySeconds", 3600),
        ("accessTokenValiditySeconds", 604_800),
        ("refreshTokenValiditySeconds", 30),
        ("refreshTokenValiditySeconds", 31_536_000),
    ] {
        let (s, v) = create(
            &app,
            &admin,
            json!({"name": "x", "scope": "a:read", field: value}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{field}={value}: {v}");
        assert_eq!(v[field], value);
    }
}

/// A client's scope is fixed at creation: there is no replacing a client (PUT, PATCH), and
/// the update actions of `POST /api-clients/{id}` have none that changes its scope.
#[tokio::test]
async fn a_client_cannot_be_updated() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, c) = create(&app, &admin, json!({"name": "fixed", "scope": "a:read"})).await;
    let id = c["id"].as_str().unwrap();
    let change = json!({"name": "fixed", "scope": "a:read a:write"});
    for m in [Method::PUT, Method::PATCH] {
        let (s, _, _, _) = call(
            &app,
            m.clone(),
            &format!("/api-clients/{id}"),
            Some(&admin),
            Some(&change),
        )
        .await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{m}");
    }
    let path = format!("/api-clients/{id}");
    for body in [
        change,
        json!({"actions": [{"action": "setScope", "scope": "a:read a:write"}]}),
        json!({"actions": [{"action": "setTenants", "tenants": [], "scope": "a:write"}]}),
    ] {
        let (s, _, v, _) = call(&app, Method::POST, &path, Some(&admin), Some(&body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    let (_, got) = get(&app, &format!("/api-clients/{id}"), &admin).await;
    assert_eq!(got["scope"], "a:read");
}

/// Tenants: set at creation, shown in the representation, replaced by the
/// `setTenants` update action (needing `manage_api_clients`), validated, and what `/auth`
/// follows at once after an update.
#[tokio::test]
async fn tenants_are_created_shown_and_replaced() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (s, c) = create(
        &app,
        &admin,
        json!({"name": "pos", "scope": "venues:read",
               "tenants": [{"brand": " openapitest ", "venues": ["1", "2", "1"]}]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(
        c["tenants"],
        json!([{"brand": "openapitest", "venues": ["1", "2"]}])
    );
    let (id, secret) = (
        c["id"].as_str().unwrap().to_owned(),
        c["secret"].as_str().unwrap().to_owned(),
    );
    let path = format!("/api-clients/{id}");
    let (_, got) = get(&app, &path, &admin).await;
    assert_eq!(got["tenants"], c["tenants"]);
    let (_, plain) = create(&app, &admin, json!({"name": "plain", "scope": "a:read"})).await;
    assert_eq!(plain["tenants"], json!([]));

    let auth = |brand: &'static str, venue: &'static str| {
        let (id, secret) = (id.clone(), secret.clone());
        let app = &app;
        async move {
            app.http
                .post(app.url("/auth"))
                .json(&json!({"client_id": id, "client_secret": secret,
                              "brand": brand, "venue_id": venue}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(auth("openapitest", "2").await, StatusCode::OK);
    assert_eq!(auth("other", "7").await, StatusCode::BAD_REQUEST);

    // Bad tenants are 400 naming the field; nothing changes.
    for bad in [
        json!([{"brand": "", "venues": ["1"]}]),
        json!([{"brand": "b", "venues": []}]),
        json!([{"brand": "b", "venues": ["caf\u{e9}"]}]),
        json!([{"brand": "b", "venues": ["1"], "extra": true}]),
        json!("openapitest:1"),
    ] {
        let body = json!({"actions": [{"action": "setTenants", "tenants": bad}]});
        let (s, _, v, _) = call(&app, Method::POST, &path, Some(&admin), Some(&body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        let (s, v) = create(
            &app,
            &admin,
            json!({"name": "x", "scope": "", "tenants": bad}),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (_, got) = get(&app, &path, &admin).await;
    assert_eq!(got["tenants"], c["tenants"]);

    // Reading is not enough to change them.
    let viewer = token_with_scope(&app, "view_api_clients").await;
    let body = json!({"actions": [{"action": "setTenants", "tenants": []}]});
    let (s, _, _, _) = call(&app, Method::POST, &path, Some(&viewer), Some(&body)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _, _) = call(&app, Method::POST, &path, None, Some(&body)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _, _) = call(
        &app,
        Method::POST,
        "/api-clients/nosuchclient",
        Some(&admin),
        Some(&body),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Replaced: the new venue works and the old brand's venues no longer do.
    let body = json!({"actions": [
        {"action": "setTenants", "tenants": [{"brand": "other", "venues": ["7"]}]}
    ]});
    let (s, _, v, _) = call(&app, Method::POST, &path, Some(&admin), Some(&body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["tenants"], json!([{"brand": "other", "venues": ["7"]}]));
    assert!(v.get("secret").is_none());
    assert_eq!(auth("other", "7").await, StatusCode::OK);
    assert_eq!(auth("openapitest", "2").await, StatusCode::BAD_REQUEST);
    // Under the project key too; `[]` takes every tenant away.
    let body = json!({"actions": [{"action": "setTenants", "tenants": []}]});
    let (s, _, v, _) = call(
        &app,
        Method::POST,
        &format!("/castellan/api-clients/{id}"),
        Some(&admin),
        Some(&body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["tenants"], json!([]));
    assert_eq!(auth("other", "7").await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_management_api_is_guarded_by_scopes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let draft = json!({"name": "x", "scope": "a:read"});

    // No token.
    let (s, h, v, _) = call(&app, Method::GET, "/api-clients", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let (s, h, _, _) = call(&app, Method::POST, "/api-clients", None, Some(&draft)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.contains_key("www-authenticate"));
    let (s, _, _, _) = call(&app, Method::GET, "/api-clients", Some("not-a-token"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // view_api_clients reads, does not write.
    let viewer = token_with_scope(&app, "view_api_clients").await;
    let (s, _) = get(&app, "/api-clients", &viewer).await;
    assert_eq!(s, StatusCode::OK);
    let (s, h, v, _) = call(
        &app,
        Method::POST,
        "/api-clients",
        Some(&viewer),
        Some(&draft),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(message(&v).contains("manage_api_clients"), "{v}");
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
    let (_, victim) = create(&app, &admin, draft.clone()).await;
    let victim_path = format!("/api-clients/{}", victim["id"].as_str().unwrap());
    let (s, _) = get(&app, &victim_path, &viewer).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _, _) = call(&app, Method::DELETE, &victim_path, Some(&viewer), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // manage_project does not imply either.
    let project = token_with_scope(&app, "manage_project").await;
    let (s, v) = get(&app, "/api-clients", &project).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(message(&v).contains("view_api_clients"), "{v}");
    let (s, v) = create(&app, &project, draft.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let project_q = token_with_scope(&app, "manage_project:castellan").await;
    let (s, _) = create(&app, &project_q, draft.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Qualified with this project: works.
    let qualified = token_with_scope(&app, "manage_api_clients:castellan").await;
    let (s, v) = create(&app, &qualified, draft.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _) = get(&app, "/api-clients", &qualified).await;
    assert_eq!(s, StatusCode::OK);
    let view_q = token_with_scope(&app, "view_api_clients:castellan").await;
    let (s, _) = get(&app, &victim_path, &view_q).await;
    assert_eq!(s, StatusCode::OK);

    // Qualified with another project: refused.
    let other = token_with_scope(&app, "manage_api_clients:other").await;
    let (s, v) = create(&app, &other, draft.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = get(&app, "/api-clients", &other).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let view_other = token_with_scope(&app, "view_api_clients:other").await;
    let (s, _) = get(&app, "/api-clients", &view_other).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn project_key_prefixed_paths() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let draft = json!({"name": "prefixed", "scope": "a:read"});
    let (s, _, c, _) = call(
        &app,
        Method::POST,
        "/castellan/api-clients",
        Some(&admin),
        Some(&draft),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert!(c["secret"].is_string());
    let id = c["id"].as_str().unwrap();
    let (s, v) = get(&app, "/castellan/api-clients", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 2);
    let (s, v) = get(&app, &format!("/castellan/api-clients/{id}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["name"], "prefixed");
    let (s, _, _, len) = call(
        &app,
        Method::HEAD,
        &format!("/castellan/api-clients/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((s, len), (StatusCode::OK, 0));

    for (m, path) in [
        (Method::GET, "/other/api-clients".to_owned()),
        (Method::GET, format!("/other/api-clients/{id}")),
        (Method::POST, "/other/api-clients".to_owned()),
        (Method::DELETE, format!("/other/api-clients/{id}")),
    ] {
        let (s, _, v, _) = call(&app, m.clone(), &path, Some(&admin), Some(&draft)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}: {v}");
    }
    let (s, _, _, len) = call(&app, Method::HEAD, "/other/api-clients", Some(&admin), None).await;
    assert_eq!((s, len), (StatusCode::NOT_FOUND, 0));
    // Nothing was created or deleted through the other project.
    let (_, v) = get(&app, "/api-clients", &admin).await;
    assert_eq!(v["total"], 2);

    let (s, _, deleted, _) = call(
        &app,
        Method::DELETE,
        &format!("/castellan/api-clients/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(deleted["id"], id);
}
