//! `/forward-auth`: one test per failure answer (401 and 403 causes), public
//! routes, tenant headers, rate-limit headers, protected-resource metadata.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::gateway::route;
use castellan_core::user::{Membership, Role, User};
use castellan_server::platform::config::Config;
use castellan_testkit::oauth::claims;
use castellan_testkit::{ManualClock, TestApp};
use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};
use std::sync::Arc;

fn routes(c: &mut Config) {
    let mut search = route("GET", "/search");
    search.public = true;
    let mut read = route("GET", "/products/*");
    read.scope = Some("products:read".into());
    let mut write = route("POST", "/products/*");
    write.scope = Some("products:write".into());
    let mut members = route("*", "/orgs/{org}/settings");
    members.min_role = Some(Role::Manager);
    members.organization_param = Some("org".into());
    let mut org = route("GET", "/orgs/{org}/products");
    org.organization_param = Some("org".into());
    let venue = route("GET", "/venues/*");
    let mut orders = route("GET", "/orders/*");
    orders.scope = Some("orders:read".into());
    c.gateway.routes = vec![search, read, write, members, org, venue, orders];
}

/// Castellan with the routes above and the organization `org-1` keys are made for.
async fn spawn() -> TestApp {
    let app = TestApp::spawn_with(routes).await;
    castellan_testkit::people::org_with_id(&app, "org-1").await;
    app
}

/// A client with product and key scopes; answers (id, secret).
async fn client(app: &TestApp) -> (String, String) {
    let c = app
        .create_client(json!({
            "name": "partner",
            "scope": "manage_api_keys view_api_keys products:read products:write"
        }))
        .await;
    (
        c["id"].as_str().unwrap().to_owned(),
        c["secret"].as_str().unwrap().to_owned(),
    )
}

async fn key(app: &TestApp, body: Value) -> (String, String) {
    let (id, secret) = client(app).await;
    let t = app.token_for(&id, &secret, None).await;
    let res = app
        .http
        .post(app.url("/api-keys"))
        .bearer_auth(t)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let b: Value = res.json().await.unwrap();
    (
        b["key"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    )
}

async fn check(
    app: &TestApp,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = app
        .http
        .get(app.url("/forward-auth"))
        .header("X-Forwarded-Method", method)
        .header("X-Forwarded-Uri", uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn refused(res: reqwest::Response, status: u16, reason: &str) -> Value {
    assert_eq!(res.status().as_u16(), status);
    // No cache in front of the API may keep a refusal.
    assert_eq!(
        res.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{reason}"
    );
    let www = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["reason"], reason, "{body}");
    assert!(!body["message"].as_str().unwrap().is_empty());
    if status == 401 {
        let www = www.expect("401 carries WWW-Authenticate");
        assert!(www.starts_with("Bearer"), "{www}");
        assert!(
            www.contains(
                "resource_metadata=\"http://localhost:8000/.well-known/oauth-protected-resource\""
            ),
            "{www}"
        );
        if reason != "missing_credentials" {
            assert!(www.contains("error=\"invalid_token\""), "{www}");
        }
    }
    body
}

// ----- 401 rows --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_header_is_401() {
    let app = spawn().await;
    refused(
        check(&app, "GET", "/products/1", &[]).await,
        401,
        "missing_credentials",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_api_key_is_401() {
    let app = spawn().await;
    for k in ["csb_nope", "csb_a_b_c", "not a key"] {
        refused(
            check(&app, "GET", "/products/1", &[("X-API-Key", k)]).await,
            401,
            "malformed_api_key",
        )
        .await;
    }
}

/// A malformed key is refused with its real fault, and refusals of keys speak of keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_refusal_names_the_fault_and_calls_it_a_key() {
    let app = spawn().await;
    let (good, _) = key(&app, json!({"name": "k", "scope": "products:read"})).await;
    let (prefix, rest) = good.split_once('_').unwrap();
    let (body, _) = rest.split_once('_').unwrap();
    // A body cut short, with a checksum made for it: only its length is wrong.
    let short = &body[..body.len() - 3];
    let sum = castellan_core::api_key::checksum(prefix, short);
    let cut = format!("{prefix}_{short}_{sum:08x}");
    // Another environment's letter.
    let other = format!("{prefix}_L{}", &body[1..]);
    let sum = castellan_core::api_key::checksum(prefix, &other[prefix.len() + 1..]);
    let other = format!("{other}_{sum:08x}");
    let letterless = format!("{prefix}_X{}", &body[1..]);
    let sum = castellan_core::api_key::checksum(prefix, &letterless[prefix.len() + 1..]);
    let letterless = format!("{letterless}_{sum:08x}");
    for (k, reason, says) in [
        (cut.as_str(), "malformed_api_key", "wrong length"),
        (
            letterless.as_str(),
            "malformed_api_key",
            "environment letter",
        ),
        (
            other.as_str(),
            "wrong_environment",
            "This API key belongs to another environment",
        ),
    ] {
        let b = refused(
            check(&app, "GET", "/products/1", &[("X-API-Key", k)]).await,
            401,
            reason,
        )
        .await;
        let message = b["message"].as_str().unwrap();
        assert!(message.contains(says), "{k}: {message}");
        assert!(!message.contains("characters other than"), "{k}: {message}");
    }
    // A key without the route's scope: 403, and the answer says "key".
    let b = refused(
        check(&app, "POST", "/products/1", &[("X-API-Key", &good)]).await,
        403,
        "insufficient_scope",
    )
    .await;
    let message = b["message"].as_str().unwrap();
    assert!(
        message.starts_with("The API key does not carry the scope `products:write`"),
        "{message}"
    );
    assert!(!message.contains("token"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_access_token_is_401() {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let app = TestApp::spawn_full(routes, Arc::<ManualClock>::clone(&clock)).await;
    let (id, secret) = client(&app).await;
    let t = app.token_for(&id, &secret, Some("products:read")).await;
    let auth = format!("Bearer {t}");
    assert_eq!(
        check(&app, "GET", "/products/1", &[("Authorization", &auth)])
            .await
            .status(),
        200
    );
    clock.advance(Duration::hours(2));
    refused(
        check(&app, "GET", "/products/1", &[("Authorization", &auth)]).await,
        401,
        "expired",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_of_another_environment_is_401() {
    let app = spawn().await;
    let prod =
        castellan_core::api_key::generate("csb", castellan_core::Environment::Production, &[3; 32])
            .unwrap();
    refused(
        check(&app, "GET", "/products/1", &[("X-API-Key", &prod)]).await,
        401,
        "wrong_environment",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_is_401() {
    let app = spawn().await;
    let k = castellan_core::api_key::generate("csb", castellan_core::Environment::Local, &[4; 32])
        .unwrap();
    refused(
        check(&app, "GET", "/products/1", &[("X-API-Key", &k)]).await,
        401,
        "unknown_api_key",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_client_secret_on_token_exchange_is_401() {
    let app = spawn().await;
    let (id, _) = client(&app).await;
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"], "invalid_client");
}

// ----- 403 rows --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_mismatch_is_403_naming_the_scope() {
    let app = spawn().await;
    let (id, secret) = client(&app).await;
    let t = app.token_for(&id, &secret, Some("products:read")).await;
    let res = check(
        &app,
        "POST",
        "/products/1",
        &[("Authorization", &format!("Bearer {t}"))],
    )
    .await;
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        www.contains("error=\"insufficient_scope\"") && www.contains("scope=\"products:write\""),
        "{www}"
    );
    let b = refused(res, 403, "insufficient_scope").await;
    assert_eq!(b["needed_scope"], "products:write");
}

/// A user token bound to `org` for a user with `role` in it (minted through the server's
/// own key, as a user's grant would be).
async fn user_token(app: &TestApp, role: Role) -> String {
    castellan_testkit::people::u1_in_org_1(app, role).await;
    let (id, _) = client(app).await;
    castellan_testkit::people::u1_token_in_org_1(app, &id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_where_manager_is_needed_is_403() {
    let app = spawn().await;
    let t = user_token(&app, Role::Viewer).await;
    let auth = format!("Bearer {t}");
    let b = refused(
        check(
            &app,
            "GET",
            "/orgs/org-1/settings",
            &[("Authorization", &auth)],
        )
        .await,
        403,
        "role_too_low",
    )
    .await;
    assert_eq!(b["needed_role"], "MANAGER");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_passes_with_identity_headers() {
    let app = spawn().await;
    let t = user_token(&app, Role::Manager).await;
    let res = check(
        &app,
        "GET",
        "/orgs/org-1/settings",
        &[("Authorization", &format!("Bearer {t}"))],
    )
    .await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["x-castellan-subject"], "u1");
    assert_eq!(h["x-castellan-organization"], "org-1");
    assert_eq!(h["x-castellan-scopes"], "products:read");
    assert_eq!(h["x-castellan-credential"], "jwt");
    assert!(h.contains_key("x-castellan-client-id"));
    // A person's calls are counted under the client's tier (tier `default`), per person.
    assert_eq!(h["ratelimit-policy"], "300;w=60, 10000;w=86400");
    assert_eq!(h["ratelimit-remaining"], "299");
    let again = check(
        &app,
        "GET",
        "/orgs/org-1/settings",
        &[("Authorization", &format!("Bearer {t}"))],
    )
    .await;
    assert_eq!(again.headers()["ratelimit-remaining"], "298");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_organization_is_403() {
    let app = spawn().await;
    let (k, _) = key(
        &app,
        json!({"name": "k", "scope": "products:read", "organizationId": "org-1"}),
    )
    .await;
    assert_eq!(
        check(&app, "GET", "/orgs/org-1/products", &[("X-API-Key", &k)])
            .await
            .status(),
        200
    );
    refused(
        check(&app, "GET", "/orgs/org-2/products", &[("X-API-Key", &k)]).await,
        403,
        "wrong_organization",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_key_is_403() {
    let app = spawn().await;
    let (k, id) = key(&app, json!({"name": "k", "scope": "products:read"})).await;
    let res = check(&app, "GET", "/products/1", &[("X-API-Key", &k)]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-castellan-credential"], "api_key");
    assert_eq!(res.headers()["x-castellan-subject"], id.as_str());
    let admin = app.admin_token().await;
    let r = app
        .http
        .post(app.url(&format!("/api-keys/{id}/disable")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    refused(
        check(&app, "GET", "/products/1", &[("X-API-Key", &k)]).await,
        403,
        "api_key_disabled",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_routes_are_denied_by_default() {
    let app = spawn().await;
    let (k, _) = key(&app, json!({"name": "k", "scope": "products:read"})).await;
    let b = refused(
        check(&app, "DELETE", "/admin", &[("X-API-Key", &k)]).await,
        403,
        "no_route",
    )
    .await;
    assert_eq!(b["error"], "access_denied");
}

// ----- public routes, proxies, limits ------------------------------------------------------

/// A `products:read` token must not reach `/orders/1` through a path that the API behind the
/// proxy normalises into it, nor an anonymous caller through the public `/search`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn climbing_out_of_a_route_is_refused() {
    let app = spawn().await;
    let (id, secret) = client(&app).await;
    let t = app.token_for(&id, &secret, Some("products:read")).await;
    let auth = format!("Bearer {t}");
    let bearer = [("Authorization", auth.as_str())];
    assert_eq!(
        check(&app, "GET", "/products/1", &bearer).await.status(),
        200
    );
    refused(
        check(&app, "GET", "/orders/1", &bearer).await,
        403,
        "insufficient_scope",
    )
    .await;
    for climb in [
        "/products/../orders/1",
        "/products/%2e%2e/orders/1",
        "/products/%2E%2E/orders/1",
        "/products/..%2forders/1",
        "/products/..%2Forders/1",
        "/products/.%2e/orders/1",
        "/products/..\\orders/1",
        "/products/%5c..%5corders/1",
        "/products/./../orders/1",
        "/products/..;/orders/1",
        "/products/%252e%252e/orders/1",
        "/products//../orders/1",
        "/products/1/..",
        "/products/%00/../orders/1",
    ] {
        for (method_header, uri_header) in [
            ("X-Forwarded-Method", "X-Forwarded-Uri"),
            ("X-Original-Method", "X-Original-URI"),
        ] {
            let res = app
                .http
                .get(app.url("/forward-auth"))
                .header(method_header, "GET")
                .header(uri_header, climb)
                .header("Authorization", &auth)
                .send()
                .await
                .unwrap();
            let body = refused(res, 400, "unsafe_path").await;
            assert_eq!(body["error"], "invalid_request", "{climb}: {body}");
        }
        // No credential at all: the path is refused before anything else.
        refused(check(&app, "GET", climb, &[]).await, 400, "unsafe_path").await;
    }
    for climb in [
        "/search/../orders/1",
        "/search/%2e%2e/orders/1",
        "/search/..%2F..%2Forders/1",
    ] {
        refused(check(&app, "GET", climb, &[]).await, 400, "unsafe_path").await;
    }
    assert_eq!(check(&app, "GET", "/search", &[]).await.status(), 200);
    // Escapes of plain letters are matched as the letters the API will see.
    assert_eq!(
        check(&app, "GET", "/%70roducts/1", &bearer).await.status(),
        200
    );
    refused(
        check(&app, "GET", "/%6frders/1", &bearer).await,
        403,
        "insufficient_scope",
    )
    .await;
    assert_eq!(check(&app, "GET", "/%73earch", &[]).await.status(), 200);
}

/// Paths that other servers read as another path: `;parameters` (dropped by some servers, so
/// `/search;x/../orders` or `/orders;x/1` under a lenient route), a raw `#` (cut by
/// forward-auth, read literally by some APIs), segments ending in `.` or a space (dropped by
/// Windows servers) and overlong UTF-8 escapes of `.`: all 400 `unsafe_path`, for anyone. A
/// trailing slash is matched as the route without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_other_servers_read_differently_are_refused() {
    let app = spawn().await;
    let (id, secret) = client(&app).await;
    let t = app.token_for(&id, &secret, Some("products:read")).await;
    let auth = format!("Bearer {t}");
    let bearer = [("Authorization", auth.as_str())];
    for path in [
        "/products;x/1",
        "/products/1;/orders/1",
        "/products/1%3b/orders/1",
        "/search;jsessionid=1",
        "/search#/../orders/1",
        "/products/1#/../../orders/1",
        "/products/1./",
        "/orders./1",
        "/orders%20/1",
        "/products/%c0%ae%c0%ae/orders/1",
        "/products/%e0%80%ae%e0%80%ae/orders/1",
    ] {
        for headers in [&bearer[..], &[]] {
            let body = refused(check(&app, "GET", path, headers).await, 400, "unsafe_path").await;
            assert_eq!(body["error"], "invalid_request", "{path}: {body}");
        }
    }
    // The query is still cut before the path is judged.
    assert_eq!(
        check(&app, "GET", "/products/1?a=;#x", &bearer)
            .await
            .status(),
        200
    );
    // A trailing slash takes the route of the path without it.
    assert_eq!(check(&app, "GET", "/search/", &[]).await.status(), 200);
}

/// A token minted for another API (`resource=https://third-party.example`) is refused by
/// forward-auth and by Castellan's own management API; one for an API the gateway is
/// configured to front (`gateway.audiences`) passes forward-auth but still not the management
/// API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_for_another_audience_are_refused() {
    let app = TestApp::spawn_with(|c| {
        routes(c);
        c.gateway.audiences = vec!["https://orders.example".into()];
    })
    .await;
    let (id, secret) = client(&app).await;
    let own = app.token_for(&id, &secret, None).await;
    let third = app
        .token_for_resource(&id, &secret, "https://third-party.example")
        .await;
    let fronted = app
        .token_for_resource(&id, &secret, "https://orders.example")
        .await;
    let list = |t: &str| app.http.get(app.url("/api-keys")).bearer_auth(t).send();
    assert_eq!(list(&own).await.unwrap().status(), 200);
    for t in [&third, &fronted] {
        let res = list(t).await.unwrap();
        assert_eq!(res.status(), 401);
        let www = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(www.contains("invalid_token"), "{www}");
    }
    let bearer = |t: &str| format!("Bearer {t}");
    let (own_auth, third_auth, fronted_auth) = (bearer(&own), bearer(&third), bearer(&fronted));
    assert_eq!(
        check(&app, "GET", "/products/1", &[("Authorization", &own_auth)])
            .await
            .status(),
        200
    );
    refused(
        check(
            &app,
            "GET",
            "/products/1",
            &[("Authorization", &third_auth)],
        )
        .await,
        401,
        "wrong_audience",
    )
    .await;
    assert_eq!(
        check(
            &app,
            "GET",
            "/products/1",
            &[("Authorization", &fronted_auth)]
        )
        .await
        .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_pass_anonymous_but_not_malformed_keys() {
    let app = spawn().await;
    let res = check(&app, "GET", "/search?q=milk", &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-castellan-credential"], "anonymous");
    refused(
        check(&app, "GET", "/search", &[("X-API-Key", "csb_bad")]).await,
        401,
        "malformed_api_key",
    )
    .await;
    let (k, _) = key(&app, json!({"name": "k", "scope": "products:read"})).await;
    assert_eq!(
        check(&app, "GET", "/search", &[("X-API-Key", &k)])
            .await
            .status(),
        200
    );
}

/// The six identity headers of a 200, each exactly once.
fn identity_headers(res: &reqwest::Response) -> Vec<(String, String)> {
    [
        "x-castellan-subject",
        "x-castellan-client-id",
        "x-castellan-organization",
        "x-castellan-scopes",
        "x-castellan-role",
        "x-castellan-credential",
    ]
    .iter()
    .map(|name| {
        let values: Vec<_> = res.headers().get_all(*name).iter().collect();
        assert_eq!(values.len(), 1, "{name} once: {:?}", res.headers());
        ((*name).to_owned(), values[0].to_str().unwrap().to_owned())
    })
    .collect()
}

/// A proxy copies the identity headers onto the forwarded request, replacing the client's
/// own only when the answer carries them: so every 200 carries all six, empty when unknown
/// (a client's `X-Castellan-Role: OWNER` would otherwise reach the API next to a key that has
/// no role).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_allowed_answer_carries_all_six_identity_headers() {
    let app = spawn().await;
    let planted = [
        ("X-Castellan-Role", "OWNER"),
        ("X-Castellan-Organization", "org-1"),
    ];
    let res = check(&app, "GET", "/search", &planted).await;
    assert_eq!(res.status(), 200);
    let h = identity_headers(&res);
    for (name, value) in &h {
        let expected = if name == "x-castellan-credential" {
            "anonymous"
        } else {
            ""
        };
        assert_eq!(value, expected, "{name}");
    }
    let (k, key_id) = key(&app, json!({"name": "k", "scope": "products:read"})).await;
    let mut with_key = planted.to_vec();
    with_key.push(("X-API-Key", &k));
    let res = check(&app, "GET", "/products/1", &with_key).await;
    assert_eq!(res.status(), 200);
    let h = identity_headers(&res);
    assert_eq!(h[0].1, key_id);
    assert_eq!(h[2].1, "", "a key without organization");
    assert_eq!(h[4].1, "", "a key has no role");
    assert_eq!(h[5].1, "api_key");
    let (id, secret) = client(&app).await;
    let t = app.token_for(&id, &secret, Some("products:read")).await;
    let auth = format!("Bearer {t}");
    let mut with_token = planted.to_vec();
    with_token.push(("Authorization", &auth));
    let res = check(&app, "GET", "/products/1", &with_token).await;
    assert_eq!(res.status(), 200);
    let h = identity_headers(&res);
    assert_eq!(h[1].1, id);
    assert_eq!((h[2].1.as_str(), h[4].1.as_str()), ("", ""));
    assert_eq!(h[3].1, "products:read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_headers_and_envoy_prefix_are_understood() {
    let app = spawn().await;
    let (k, _) = key(&app, json!({"name": "k", "scope": "products:read"})).await;
    let res = app
        .http
        .get(app.url("/forward-auth"))
        .header("X-Original-Method", "GET")
        .header("X-Original-URI", "/products/9?x=1")
        .header("X-API-Key", &k)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .http
        .get(app.url("/forward-auth/envoy/products/9"))
        .header("X-API-Key", &k)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .http
        .post(app.url("/forward-auth/envoy/products/9"))
        .header("X-API-Key", &k)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app.http.get(app.url("/forward-auth")).send().await.unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_answers_carry_rate_limit_headers() {
    let app = spawn().await;
    let (k, _) = key(&app, json!({"name": "k", "scope": "products:read"})).await;
    let res = check(&app, "GET", "/products/1", &[("X-API-Key", &k)]).await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["ratelimit-policy"], "300;w=60, 10000;w=86400");
    assert_eq!(h["ratelimit-limit"], "300");
    assert_eq!(h["ratelimit-remaining"], "299");
    assert!(h.contains_key("ratelimit-reset"));
    assert!(h.contains_key("x-ratelimit-reset"));
}

fn header_pairs(res: &reqwest::Response) -> Vec<(String, String)> {
    res.headers()
        .iter()
        .filter(|(n, _)| *n != "date")
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect()
}

/// A key's later answers reuse its first answer's headers with the counts refreshed: each
/// answer is the key's own (another key's answers are not mixed in), the counts go down, and
/// a 200 carries exactly these headers (no browser security headers: the proxy reads it),
/// while a refusal carries the security headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_answer_carries_the_keys_identity_and_fresh_counts() {
    let app = spawn().await;
    let (k1, id1) = key(&app, json!({"name": "one", "scope": "products:read"})).await;
    let (k2, id2) = key(
        &app,
        json!({"name": "two", "scope": "products:read products:write"}),
    )
    .await;
    for (n, remaining) in ["299", "298", "297"].into_iter().enumerate() {
        for (k, id, scopes) in [
            (&k1, &id1, "products:read"),
            (&k2, &id2, "products:read products:write"),
        ] {
            let res = check(&app, "GET", "/products/1", &[("X-API-Key", k)]).await;
            assert_eq!(res.status(), 200);
            let h = header_pairs(&res);
            let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names,
                [
                    "cache-control",
                    "x-castellan-subject",
                    "x-castellan-client-id",
                    "x-castellan-organization",
                    "x-castellan-scopes",
                    "x-castellan-role",
                    "x-castellan-credential",
                    "ratelimit-policy",
                    "ratelimit-limit",
                    "ratelimit-remaining",
                    "ratelimit-reset",
                    "x-ratelimit-limit",
                    "x-ratelimit-remaining",
                    "x-ratelimit-reset",
                    "content-length",
                ],
                "call {n}"
            );
            let get = |name: &str| h.iter().find(|(k, _)| k == name).unwrap().1.clone();
            assert_eq!(get("x-castellan-subject"), *id);
            assert_eq!(get("x-castellan-client-id"), *id);
            assert_eq!(get("x-castellan-scopes"), scopes);
            assert_eq!(get("ratelimit-remaining"), remaining, "call {n}");
            assert_eq!(get("x-ratelimit-remaining"), remaining, "call {n}");
            let reset: u64 = get("ratelimit-reset").parse().unwrap();
            assert!((1..=60).contains(&reset), "{reset}");
        }
    }
    // A key whose route policy refuses it: the refusal carries the security headers.
    let res = check(&app, "POST", "/products/1", &[("X-API-Key", &k1)]).await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    let res = check(&app, "GET", "/products/1", &[("X-API-Key", "csb_bad_key")]).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}

/// A key on a tier configured `"off"` is never counted: no rate-limit header, and no 429
/// where a limited tier's key would be refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_on_an_off_tier_is_not_limited() {
    let app = TestApp::spawn_with(|c| {
        routes(c);
        let tiny = castellan_limit::PolicyConfig {
            windows: vec![castellan_limit::Window::new(2, 3_600)],
        };
        c.rate_limit.policies.insert("tiny".into(), tiny);
        c.rate_limit.tiers.insert("tiny".into(), "tiny".into());
        c.rate_limit.tiers.insert("internal".into(), "off".into());
    })
    .await;
    let (off, _) = key(
        &app,
        json!({"name": "job", "scope": "products:read", "tier": "internal"}),
    )
    .await;
    let (tiny, _) = key(
        &app,
        json!({"name": "small", "scope": "products:read", "tier": "tiny"}),
    )
    .await;
    for _ in 0..5 {
        let res = check(&app, "GET", "/products/1", &[("X-API-Key", &off)]).await;
        assert_eq!(res.status(), 200);
        assert!(!res.headers().contains_key("ratelimit-policy"));
        assert!(!res.headers().contains_key("x-ratelimit-limit"));
    }
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(
                check(&app, "GET", "/products/1", &[("X-API-Key", &tiny)])
                    .await
                    .status()
                    .as_u16(),
            );
        }
        v
    };
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_resource_metadata() {
    let app = spawn().await;
    let b: Value = app.get_json("/.well-known/oauth-protected-resource").await;
    assert_eq!(b["resource"], "http://localhost:8000");
    assert_eq!(b["authorization_servers"], json!(["http://localhost:8000"]));
    assert_eq!(b["bearer_methods_supported"], json!(["header"]));
    assert!(b["scopes_supported"].is_array());
}

// ----- tenant tokens ------------------------------------------------------------------------

async fn tenant_token(app: &TestApp, id: &str, secret: &str) -> reqwest::Response {
    tenant_token_for(app, id, secret, "openapitest", "1").await
}

async fn tenant_token_for(
    app: &TestApp,
    id: &str,
    secret: &str,
    brand: &str,
    venue: &str,
) -> reqwest::Response {
    app.http
        .post(app.url("/auth"))
        .json(&json!({"client_id": id, "client_secret": secret, "brand": brand, "venue_id": venue}))
        .send()
        .await
        .unwrap()
}

/// A client given brand `openapitest` (venue 1) and brand `b` (venue 2); answers (id,
/// secret).
async fn tenant_client(app: &TestApp) -> (String, String) {
    let c = app
        .create_client(json!({
            "name": "venue integration",
            "scope": "products:read venues:read",
            "defaultScope": "venues:read",
            "tenants": [
                {"brand": "openapitest", "venues": ["1"]},
                {"brand": "b", "venues": ["2"]},
            ],
        }))
        .await;
    assert_eq!(
        c["tenants"],
        json!([
            {"brand": "openapitest", "venues": ["1"]},
            {"brand": "b", "venues": ["2"]},
        ])
    );
    (
        c["id"].as_str().unwrap().to_owned(),
        c["secret"].as_str().unwrap().to_owned(),
    )
}

/// The 400 for credentials that do not open this brand and venue, with nothing minted.
async fn invalid_credentials(res: reqwest::Response) {
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "no-store"
    );
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["success"], false, "{b}");
    assert_eq!(b["error"], "invalid_client", "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid credentials"),
        "{b}"
    );
    assert!(b.get("token").is_none(), "{b}");
}

/// A client given brand `openapitest` venue 1 asks for another brand, another
/// venue of its brand, a venue of its other brand, and brand/venue names differing only in
/// case or padding: 400 "invalid credentials", no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_tokens_only_for_the_brands_and_venues_given() {
    let app = spawn().await;
    let (id, secret) = tenant_client(&app).await;
    for (brand, venue) in [
        ("victim-brand", "1"),
        ("openapitest", "2"),
        ("openapitest", "999"),
        ("b", "1"),
        ("OPENAPITEST", "1"),
        ("openapitest", "01"),
    ] {
        invalid_credentials(tenant_token_for(&app, &id, &secret, brand, venue).await).await;
    }
    // What it was given works, surrounding spaces aside, with its default scopes only.
    for (brand, venue) in [("openapitest", "1"), ("b", "2"), (" openapitest ", " 1")] {
        let res = tenant_token_for(&app, &id, &secret, brand, venue).await;
        assert_eq!(res.status(), 200);
        let b: Value = res.json().await.unwrap();
        let c = claims(b["token"].as_str().unwrap());
        assert_eq!(c["brand"], brand.trim());
        assert_eq!(c["venue"], venue.trim());
        assert_eq!(c["scope"], "venues:read");
    }
    // A client given no tenants at all gets none.
    let (other, other_secret) = client(&app).await;
    invalid_credentials(tenant_token(&app, &other, &other_secret).await).await;
}

/// A web app allowed only `authorization_code` (and given the tenant) gets no
/// user-less tenant token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_tokens_need_the_client_credentials_grant() {
    let app = spawn().await;
    let c = app
        .create_client(json!({
            "name": "web app",
            "scope": "openid products:read",
            "grantTypes": ["authorization_code", "refresh_token"],
            "redirectUris": ["https://app.example/cb"],
            "tenants": [{"brand": "openapitest", "venues": ["1"]}],
        }))
        .await;
    let (id, secret) = (c["id"].as_str().unwrap(), c["secret"].as_str().unwrap());
    let res = tenant_token(&app, id, secret).await;
    assert_eq!(res.status(), 400);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"], "unauthorized_client", "{b}");
    assert!(b.get("token").is_none(), "{b}");
}

/// `/auth` counts every attempt per IP under the token endpoint's policy and
/// counter, so guessing secrets there is limited as at the token endpoint, and the two
/// endpoints together get one budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_tokens_are_rate_limited_per_ip() {
    let app = TestApp::spawn_with(|c| {
        routes(c);
        c.rate_limit.policies.insert(
            "tiny-ip".into(),
            castellan_limit::PolicyConfig {
                windows: vec![castellan_limit::Window {
                    limit: 3,
                    seconds: 3600,
                }],
            },
        );
        c.rate_limit.per_ip.token = "tiny-ip".into();
    })
    .await;
    // Stored directly: the management API would spend token requests of this address.
    let draft = castellan_server::management::clients::ClientDraft {
        name: "venue".into(),
        tenants: vec![castellan_server::management::clients::TenantEntry {
            brand: "openapitest".into(),
            venues: vec!["1".into()],
        }],
        ..Default::default()
    };
    let (stored, secret) = castellan_server::management::clients::build_client(
        draft,
        &app.state.config,
        app.state.clock.now(),
    )
    .unwrap();
    app.store.insert_client(&stored).await.unwrap();
    let (id, secret) = (stored.id.clone(), secret.unwrap().into_exposed());

    let wrong = tenant_token(&app, &id, "guess").await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(wrong.headers().get("ratelimit-policy").unwrap(), "3;w=3600");
    assert_eq!(wrong.headers().get("ratelimit-remaining").unwrap(), "2");
    assert_eq!(tenant_token(&app, &id, &secret).await.status(), 200);
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("ratelimit-remaining").unwrap(), "0");
    // The budget is spent: even the right secret is refused, and nothing is minted.
    let refused = tenant_token(&app, &id, &secret).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let b: Value = refused.json().await.unwrap();
    assert_eq!(b["policy"], "tiny-ip", "{b}");
    assert!(b.get("token").is_none(), "{b}");
}

/// `POST /auth` is a request of its own, with the secret in its body: a client registered
/// with `client_secret_basic` or `client_secret_post` gets its tenant token there all the same
/// (its method governs the token endpoint), with the right secret only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_tokens_for_every_secret_method() {
    let app = spawn().await;
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_basic_or_post",
    ] {
        let c = app
            .create_client(json!({
                "name": "venue integration",
                "scope": "venues:read",
                "tokenEndpointAuthMethod": method,
                "tenants": [{"brand": "openapitest", "venues": ["1"]}],
            }))
            .await;
        assert_eq!(c["tokenEndpointAuthMethod"], method);
        let (id, secret) = (c["id"].as_str().unwrap(), c["secret"].as_str().unwrap());
        let res = tenant_token(&app, id, secret).await;
        assert_eq!(res.status(), 200, "{method}");
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["success"], true, "{method}: {b}");
        invalid_credentials(tenant_token(&app, id, "not-the-secret").await).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_tokens_answer_every_documented_status() {
    let app = spawn().await;
    let (id, secret) = tenant_client(&app).await;
    // 400: bad credentials, missing fields.
    assert_eq!(tenant_token(&app, &id, "wrong").await.status(), 400);
    let res = app
        .http
        .post(app.url("/auth"))
        .form(&[("client_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Form bodies work too.
    let res = app
        .http
        .post(app.url("/auth"))
        .form(&[
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("brand", "b"),
            ("venue_id", "2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = tenant_token(&app, &id, &secret).await;
    assert_eq!(res.status(), 200);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["expires_in"], 3600);
    let t = b["token"].as_str().unwrap();
    let ok = [("x-token", t), ("x-brand", "openapitest"), ("x-venue", "1")];
    let res = check(&app, "GET", "/venues/menu", &ok).await;
    assert_eq!(res.status(), 200);
    let with_stage = [
        ("x-token", t),
        ("x-brand", "openapitest"),
        ("x-venue", "1"),
        ("x-stage", "local"),
    ];
    assert_eq!(
        check(&app, "GET", "/venues/menu", &with_stage)
            .await
            .status(),
        200
    );
    // 403: headers that do not match the token.
    for bad in [
        [("x-token", t), ("x-brand", "other"), ("x-venue", "1")],
        [("x-token", t), ("x-brand", "openapitest"), ("x-venue", "2")],
    ] {
        refused(
            check(&app, "GET", "/venues/menu", &bad).await,
            403,
            "tenant_mismatch",
        )
        .await;
    }
    let stage = [
        ("x-token", t),
        ("x-brand", "openapitest"),
        ("x-venue", "1"),
        ("x-stage", "production"),
    ];
    refused(
        check(&app, "GET", "/venues/menu", &stage).await,
        403,
        "tenant_mismatch",
    )
    .await;
    // 401: invalid token.
    let bad = [
        ("x-token", "not.a.token"),
        ("x-brand", "openapitest"),
        ("x-venue", "1"),
    ];
    assert_eq!(check(&app, "GET", "/venues/menu", &bad).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tenant_token_is_401() {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let app = TestApp::spawn_full(routes, Arc::<ManualClock>::clone(&clock)).await;
    let (id, secret) = tenant_client(&app).await;
    let b: Value = tenant_token(&app, &id, &secret).await.json().await.unwrap();
    let t = b["token"].as_str().unwrap();
    let h = [("x-token", t), ("x-brand", "openapitest"), ("x-venue", "1")];
    assert_eq!(check(&app, "GET", "/venues/menu", &h).await.status(), 200);
    clock.advance(Duration::seconds(3601 + 60));
    refused(check(&app, "GET", "/venues/menu", &h).await, 401, "expired").await;
}

/// A key created by `user` for `org-1` (as their account page would), answered as text.
async fn members_key(app: &TestApp, user: &str) -> String {
    let held = castellan_core::ScopeSet::parse("products:read").unwrap();
    let created = castellan_server::management::api_keys::create_api_key(
        &app.state,
        castellan_server::management::api_keys::KeyDraft {
            name: format!("key of {user}"),
            scope: "products:read".into(),
            organization_id: Some("org-1".into()),
            tier: None,
            expires_at: None,
            expires_in_days: None,
        },
        &castellan_server::management::api_keys::Creator {
            id: user,
            held: &held,
            allowed: &[],
        },
        Utc::now(),
        &castellan_server::audit::Caller::person(user, None),
    )
    .await
    .unwrap();
    created.key.into_exposed()
}

async fn status_of(app: &TestApp, header: (&str, &str)) -> u16 {
    check(app, "GET", "/products/1", &[header])
        .await
        .status()
        .as_u16()
}

/// Removing a member disables their keys in that organization (in the same
/// transaction) and forward-auth stops accepting their token bound to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_members_keys_and_tokens_are_refused() {
    let app = TestApp::spawn_with(|c| {
        routes(c);
        c.api_keys.cache_seconds = 0;
    })
    .await;
    let t = user_token(&app, Role::Manager).await;
    let k = members_key(&app, "u1").await;
    assert_eq!(status_of(&app, ("X-API-Key", &k)).await, 200);

    assert!(app.store.remove_membership("org-1", "u1").await.unwrap());
    assert_eq!(
        status_of(&app, ("X-API-Key", &k)).await,
        403,
        "the key is disabled"
    );
    let auth = format!("Bearer {t}");
    refused(
        check(&app, "GET", "/products/1", &[("Authorization", &auth)]).await,
        401,
        "revoked",
    )
    .await;

    // Through the management API: back in, then removed again; this replica forgets the
    // cached membership at once.
    let admin = app.admin_token().await;
    let member = app.url("/organizations/org-1/members/u1");
    let res = app
        .http
        .put(&member)
        .bearer_auth(&admin)
        .json(&json!({"role": "MANAGER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(status_of(&app, ("Authorization", &auth)).await, 200);
    let k2 = members_key(&app, "u1").await;
    assert_eq!(status_of(&app, ("X-API-Key", &k2)).await, 200);
    let (id, secret) = client(&app).await;
    let weak = app.token_for(&id, &secret, None).await;
    let res = app
        .http
        .delete(&member)
        .bearer_auth(&weak)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "manage_organizations is needed");
    let res = app
        .http
        .delete(&member)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(status_of(&app, ("Authorization", &auth)).await, 401);
    assert_eq!(status_of(&app, ("X-API-Key", &k2)).await, 403);
    let res = app
        .http
        .delete(&member)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "no longer a member");
}

/// Lowering a member's role disables the keys they created in that
/// organization; other members' keys keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_role_disables_the_members_keys() {
    let app = TestApp::spawn_with(|c| {
        routes(c);
        c.api_keys.cache_seconds = 0;
    })
    .await;
    let _ = user_token(&app, Role::Owner).await;
    let now = Utc::now();
    app.store
        .insert_user(&User {
            id: "u2".into(),
            email: "u2@example.com".into(),
            name: "W".into(),
            password_hash: "x".into(),
            created_at: now,
            is_admin: false,
            disabled_at: None,
            email_verified_at: None,
        })
        .await
        .unwrap();
    app.store
        .upsert_membership(&Membership {
            organization_id: "org-1".into(),
            user_id: "u2".into(),
            role: Role::Manager,
        })
        .await
        .unwrap();
    // Another OWNER, so that u1 may be demoted (an organization keeps one).
    app.store
        .insert_user(&User {
            id: "u3".into(),
            email: "u3@example.com".into(),
            name: "X".into(),
            password_hash: "x".into(),
            created_at: now,
            is_admin: false,
            disabled_at: None,
            email_verified_at: None,
        })
        .await
        .unwrap();
    app.store
        .upsert_membership(&Membership {
            organization_id: "org-1".into(),
            user_id: "u3".into(),
            role: Role::Owner,
        })
        .await
        .unwrap();
    let lowered = members_key(&app, "u1").await;
    let other = members_key(&app, "u2").await;
    assert_eq!(status_of(&app, ("X-API-Key", &lowered)).await, 200);

    // Same role again: nothing changes.
    app.store
        .upsert_membership(&Membership {
            organization_id: "org-1".into(),
            user_id: "u1".into(),
            role: Role::Owner,
        })
        .await
        .unwrap();
    assert_eq!(status_of(&app, ("X-API-Key", &lowered)).await, 200);

    app.store
        .upsert_membership(&Membership {
            organization_id: "org-1".into(),
            user_id: "u1".into(),
            role: Role::Viewer,
        })
        .await
        .unwrap();
    assert_eq!(status_of(&app, ("X-API-Key", &lowered)).await, 403);
    assert_eq!(status_of(&app, ("X-API-Key", &other)).await, 200);

    // Through the management API.
    let res = app
        .http
        .put(app.url("/organizations/org-1/members/u2"))
        .bearer_auth(app.admin_token().await)
        .json(&json!({"role": "VIEWER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(status_of(&app, ("X-API-Key", &other)).await, 403);
}

/// An organization keeps an OWNER: its last one can be neither demoted nor removed (409,
/// nothing changes), through the API or storage; once another member is OWNER, it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let app = spawn().await;
    let _ = user_token(&app, Role::Owner).await;
    let admin = app.admin_token().await;
    let put = |user: &'static str, role: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.http
                .put(app.url(&format!("/organizations/org-1/members/{user}")))
                .bearer_auth(admin)
                .json(&json!({"role": role}))
                .send()
                .await
                .unwrap()
        }
    };
    let delete = |user: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.http
                .delete(app.url(&format!("/organizations/org-1/members/{user}")))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
        }
    };
    let res = put("u1", "MANAGER").await;
    assert_eq!(res.status(), 409);
    let b: Value = res.json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("last OWNER"), "{b}");
    assert_eq!(delete("u1").await.status(), 409);
    assert_eq!(
        app.store.role_in("org-1", "u1").await.unwrap(),
        Some(Role::Owner),
        "nothing changed"
    );
    // Storage keeps the rule whoever asks.
    let e = app
        .store
        .remove_membership("org-1", "u1")
        .await
        .unwrap_err();
    assert!(
        matches!(e, castellan_store::StoreError::Conflict(_)),
        "{e:?}"
    );

    // With a second OWNER, the first may step down.
    app.store
        .insert_user(&User {
            id: "u2".into(),
            email: "u2@example.com".into(),
            name: "W".into(),
            password_hash: "x".into(),
            created_at: Utc::now(),
            is_admin: false,
            disabled_at: None,
            email_verified_at: None,
        })
        .await
        .unwrap();
    assert_eq!(put("u2", "OWNER").await.status(), 200);
    assert_eq!(put("u1", "VIEWER").await.status(), 200);
    assert_eq!(delete("u1").await.status(), 204);
    assert_eq!(delete("u2").await.status(), 409);
}
