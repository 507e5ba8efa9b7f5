//! Resource indicators (RFC 8707): several `resource` parameters on the authorization and token
//! requests, kept with the code and the refresh family, narrowed (never widened) per token
//! request, each access token's `aud` its resources (a string for one, an array for several),
//! and `invalid_target` for a resource the server does not issue tokens for.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::pages::*;
use castellan_testkit::oauth::claims;
use castellan_testkit::TestApp;
use serde_json::{json, Value};

const A: &str = "https://a.example/mcp";
const B: &str = "https://b.example/api";
const C: &str = "https://c.example/";

async fn app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.token.resources = vec![A.into(), B.into(), C.into()];
    })
    .await
}

/// A public client's code for `resources` through the login and consent pages; answers
/// (client id, code, verifier).
async fn code_for(app: &TestApp, resources: &[&str]) -> (String, String, String) {
    let client_id = public_client(app).await;
    let email = format!("{}@example.com", castellan_testkit::people::new_id("ann")).to_lowercase();
    add_person(app, &email, &["Acme"]).await;
    let (verifier, challenge) = pkce();
    let b = Browser::new(app);
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "offline_access products:read"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    q.extend(resources.iter().map(|r| ("resource", *r)));
    let login = b.get(&authorize_query(&q)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = sign_in(&b, &login, &email, PASSWORD).await;
    let back = decide(&b, &consent, "approve", None).await;
    assert_eq!(back.status, 302, "{}", back.body);
    (client_id, back.param("code").unwrap(), verifier)
}

async fn token(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn aud(body: &Value) -> Value {
    claims(body["access_token"].as_str().unwrap())["aud"].clone()
}

fn rt(body: &Value) -> String {
    body["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn several_resources_go_through_code_and_refresh_and_may_be_narrowed() {
    let app = app().await;
    let (client_id, code, verifier) = code_for(&app, &[A, B]).await;
    let (s, first) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(aud(&first), json!([A, B]), "several resources: an array");

    // A refresh narrowed to one resource: `aud` is a string.
    let (s, narrow) = refresh(&app, &client_id, &rt(&first), Some(B)).await;
    assert_eq!(s, 200, "{narrow}");
    assert_eq!(aud(&narrow), json!(B));
    // The next refresh without `resource` has every resource of the grant again.
    let (s, again) = refresh(&app, &client_id, &rt(&narrow), None).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(aud(&again), json!([A, B]));
    // Widening (a configured resource the grant was not given) is refused.
    let (s, wide) = refresh(&app, &client_id, &rt(&again), Some(C)).await;
    assert_eq!(s, 400, "{wide}");
    assert_eq!(wide["error"], "invalid_target");
}

async fn refresh(
    app: &TestApp,
    client_id: &str,
    refresh_token: &str,
    resource: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("refresh_token", refresh_token),
    ];
    form.extend(resource.map(|r| ("resource", r)));
    token(app, &form).await
}

#[tokio::test]
async fn the_code_exchange_may_narrow_but_not_widen() {
    let app = app().await;
    let (client_id, code, verifier) = code_for(&app, &[A, B]).await;
    let base = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let mut wide = base.to_vec();
    wide.extend([("resource", A), ("resource", C)]);
    let (s, b) = token(&app, &wide).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"], "invalid_target");

    let (client_id, code, verifier) = code_for(&app, &[A, B]).await;
    let (s, b) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", REDIRECT),
            ("resource", A),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(aud(&b), json!(A));
    // The refresh family keeps both resources, not just the narrowed one.
    let (s, r) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("refresh_token", &rt(&b)),
        ],
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(aud(&r), json!([A, B]));
}

#[tokio::test]
async fn a_code_without_resources_cannot_be_widened_to_one() {
    let app = app().await;
    let (client_id, code, verifier) = code_for(&app, &[]).await;
    let (s, b) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", REDIRECT),
            ("resource", A),
        ],
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"], "invalid_target");
}

#[tokio::test]
async fn an_unknown_or_malformed_resource_at_authorize_is_invalid_target_at_the_redirect() {
    let app = app().await;
    let client_id = public_client(&app).await;
    let (_, challenge) = pkce();
    let b = Browser::new(&app);
    for bad in [
        "https://unknown.example/",
        "https://a.example/mcp#frag",
        "not-a-uri",
    ] {
        let page = b
            .get(&authorize_query(&[
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", REDIRECT),
                ("scope", "products:read"),
                ("state", "s1"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("resource", A),
                ("resource", bad),
            ]))
            .await;
        assert_eq!(page.status, 302, "{bad}: {}", page.body);
        assert!(page.location.as_deref().unwrap().starts_with(REDIRECT));
        assert_eq!(page.param("error").as_deref(), Some("invalid_target"));
        assert_eq!(page.param("state").as_deref(), Some("s1"));
    }
}

#[tokio::test]
async fn client_credentials_takes_several_resources_for_jwt_and_opaque_tokens() {
    let app = app().await;
    for format in ["jwt", "opaque"] {
        let c = app
            .new_client(json!({"name": "svc", "scope": "products:read", "tokenFormat": format}))
            .await;
        let ask = |resources: &'static [&'static str]| {
            let c = c.clone();
            let app = &app;
            async move {
                let mut form = vec![("grant_type", "client_credentials")];
                form.extend(resources.iter().map(|r| ("resource", *r)));
                let res = app
                    .http
                    .post(app.url("/oauth/token"))
                    .basic_auth(&c.id, Some(&c.secret))
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                (res.status().as_u16(), res.json::<Value>().await.unwrap())
            }
        };
        let (s, b) = ask(&[A, C]).await;
        assert_eq!(s, 200, "{b}");
        let token = b["access_token"].as_str().unwrap();
        if format == "jwt" {
            assert_eq!(claims(token)["aud"], json!([A, C]));
        }
        // Introspection shows the same audience, whatever the format.
        assert_eq!(
            app.introspect(token).await["aud"],
            json!([A, C]),
            "{format}"
        );
        let (s, b) = ask(&[B]).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(
            app.introspect(b["access_token"].as_str().unwrap()).await["aud"],
            json!(B)
        );
        let (s, b) = ask(&[A, "https://unknown.example/"]).await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["error"], "invalid_target");
    }
}

#[tokio::test]
async fn too_many_resources_are_refused() {
    let app = TestApp::spawn().await;
    let c = app
        .new_client(json!({"name": "svc", "scope": "products:read"}))
        .await;
    let many: Vec<String> = (0..20).map(|i| format!("https://r{i}.example/")).collect();
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(many.iter().map(|r| ("resource", r.as_str())));
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"], "invalid_target");
}

const GATEWAY: &str = "https://gw.example/orders/v1";

async fn gateway_app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.token.resources = vec![A.into(), B.into(), C.into(), GATEWAY.into()];
        c.gateway.resource = GATEWAY.into();
        let mut write = crate::support::gateway::route("POST", "/orders/*");
        write.scope = Some("orders:write".into());
        let mut read = crate::support::gateway::route("GET", "/orders/*");
        read.scope = Some("products:read".into());
        c.gateway.routes = vec![write, read];
    })
    .await
}

#[tokio::test]
async fn each_configured_resource_has_its_metadata_document() {
    let app = gateway_app().await;
    let issuer = app.state.config.issuer.clone();
    for (path, resource) in [
        ("/.well-known/oauth-protected-resource/mcp", A),
        ("/.well-known/oauth-protected-resource/api", B),
        ("/.well-known/oauth-protected-resource/orders/v1", GATEWAY),
        // The root document is the gateway's.
        ("/.well-known/oauth-protected-resource", GATEWAY),
    ] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let doc: Value = res.json().await.unwrap();
        assert_eq!(doc["resource"], resource, "{path}: {doc}");
        assert_eq!(doc["authorization_servers"], json!([issuer]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
        assert!(doc["scopes_supported"].is_array());
    }
    for path in [
        "/.well-known/oauth-protected-resource/unknown",
        "/.well-known/oauth-protected-resource/orders",
        "/.well-known/oauth-protected-resource/mcp/extra",
    ] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
}

async fn forward(app: &TestApp, method: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app
        .http
        .get(app.url("/forward-auth"))
        .header("X-Forwarded-Method", method)
        .header("X-Forwarded-Uri", "/orders/1");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_gateway_names_its_resource_document_and_the_scope_to_step_up_to() {
    let app = gateway_app().await;
    let metadata = format!(
        "resource_metadata=\"{}/.well-known/oauth-protected-resource/orders/v1\"",
        app.state.config.issuer
    );
    let res = forward(&app, "GET", None).await;
    assert_eq!(res.status(), 401);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(www.contains(&metadata), "{www}");

    let c = app
        .new_client(json!({"name": "svc", "scope": "products:read orders:write"}))
        .await;
    let token = |resources: &'static [&'static str], scope: &'static str| {
        let c = c.clone();
        let app = &app;
        async move {
            let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
            form.extend(resources.iter().map(|r| ("resource", *r)));
            let b: Value = app
                .http
                .post(app.url("/oauth/token"))
                .basic_auth(&c.id, Some(&c.secret))
                .form(&form)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            b["access_token"].as_str().unwrap().to_owned()
        }
    };
    // A token for several resources, the gateway's among them, is accepted.
    let both = token(&[A, GATEWAY], "products:read").await;
    assert_eq!(claims(&both)["aud"], json!([A, GATEWAY]));
    assert_eq!(forward(&app, "GET", Some(&both)).await.status(), 200);
    // One for other resources only is not.
    let other = token(&[A, B], "products:read").await;
    let res = forward(&app, "GET", Some(&other)).await;
    assert_eq!(res.status(), 401);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["reason"], "wrong_audience");
    // Too narrow a scope: 403 naming the scope to ask for (RFC 6750 §3) and the document.
    let res = forward(&app, "POST", Some(&both)).await;
    assert_eq!(res.status(), 403);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        www.contains("error=\"insufficient_scope\"") && www.contains("scope=\"orders:write\""),
        "{www}"
    );
    assert!(www.contains(&metadata), "{www}");
}
