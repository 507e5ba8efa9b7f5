//! Helpers shared by the guard's integration tests.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_core::Environment;
use castellan_guard::config::IntrospectionConfig;
use castellan_guard::example::catalog_routes;
use castellan_guard::{ClientSecret, GuardConfig};
use castellan_testkit::TestApp;

/// Serves `router` on `127.0.0.1:0`; answers its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// A URL on which nothing listens.
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/oauth/introspect")
}

/// The catalog's guard configuration for a test server.
pub fn guard_config(app: &TestApp) -> GuardConfig {
    let mut c = GuardConfig::new(app.state.config.issuer.clone(), Environment::Local);
    c.jwks_url = Some(app.url("/.well-known/jwks.json"));
    c.routes = catalog_routes();
    c
}

/// Lets the guard introspect as the test server's admin client (confidential).
pub fn with_introspection(c: &mut GuardConfig, app: &TestApp, url: Option<String>) {
    c.introspection = Some(IntrospectionConfig {
        url: Some(url.unwrap_or_else(|| app.url("/oauth/introspect"))),
        client_id: app.admin_id.clone(),
        client_secret: ClientSecret::new(app.admin_secret.clone()),
    });
}

pub fn bearer(rb: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    rb.header("authorization", format!("Bearer {token}"))
}

/// A well-formed API key (right checksum).
pub fn api_key(prefix: &str, body: &str) -> String {
    format!(
        "{prefix}_{body}_{:08x}",
        castellan_guard::api_key::api_key_checksum(prefix, body)
    )
}
