//! `gateway.listen`: the gateway check on a listener of its own, kept off
//! the public port; the public port keeps everything else.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_server::gateway::config::GatewayRoute;
use castellan_server::platform::config::Config;
use castellan_testkit::TestApp;

fn products(c: &mut Config) {
    c.gateway.routes = vec![GatewayRoute {
        method: "GET".into(),
        path: "/products/*".into(),
        public: false,
        scope: None,
        min_role: None,
        organization_header: None,
        organization_param: None,
        tenant: false,
    }];
}

fn split(c: &mut Config) {
    products(c);
    c.gateway.listen = Some("127.0.0.1:0".parse().unwrap());
}

async fn check(app: &TestApp, base: &str, path: &str, token: &str) -> u16 {
    app.http
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .header("X-Original-Method", "GET")
        .header("X-Original-URI", "/products/1")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn with_gateway_listen_forward_auth_answers_on_the_gateway_port_only() {
    let app = TestApp::spawn_with(split).await;
    let gateway = app.gateway_base.clone().expect("a gateway listener");
    assert_ne!(gateway, app.base);
    let token = app.admin_token().await;
    assert_eq!(check(&app, &gateway, "/forward-auth", &token).await, 200);
    assert_eq!(check(&app, &app.base, "/forward-auth", &token).await, 404);
    assert_eq!(
        check(&app, &app.base, "/forward-auth/envoy/products/1", &token).await,
        404
    );
    let health = app.http.get(format!("{gateway}/healthz")).send().await;
    assert_eq!(health.unwrap().status(), 200);
}

#[tokio::test]
async fn the_gateway_port_serves_nothing_else() {
    let app = TestApp::spawn_with(split).await;
    let gateway = app.gateway_base.clone().unwrap();
    let token = app
        .http
        .post(format!("{gateway}/oauth/token"))
        .basic_auth(&app.admin_id, Some(&app.admin_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 404);
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/api-clients",
        "/login",
        "/openapi.json",
    ] {
        let res = app.http.get(format!("{gateway}{path}")).send().await;
        assert_eq!(res.unwrap().status(), 404, "{path}");
    }
    // The public port still serves them.
    let jwks = app.http.get(app.url("/.well-known/jwks.json")).send().await;
    assert_eq!(jwks.unwrap().status(), 200);
    app.admin_token().await;
}

#[tokio::test]
async fn without_gateway_listen_forward_auth_stays_on_the_public_port() {
    let app = TestApp::spawn_with(products).await;
    assert!(app.gateway_base.is_none());
    let token = app.admin_token().await;
    assert_eq!(check(&app, &app.base, "/forward-auth", &token).await, 200);
}

#[test]
fn gateway_listen_must_differ_from_listen() {
    let e = Config::from_toml_str(
        "listen = \"127.0.0.1:8000\"\n[gateway]\nlisten = \"127.0.0.1:8000\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("gateway.listen"), "{e}");
    Config::from_toml_str("[gateway]\nlisten = \"127.0.0.1:8001\"\n").unwrap();
}
