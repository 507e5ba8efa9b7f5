//! The catalog service of `examples/catalog_service.rs`, as a library function so that tests
//! can start it: a public `GET /catalog/search` (anonymous callers pass, a malformed key is
//! still 401), `GET /products` needing `products:read` and
//! `POST /products` needing `products:write`.

use crate::config::{ConfigError, GuardConfig, IntrospectionConfig, RouteConfig, RouteRules};
use crate::guard::Guard;
use crate::identity::Identity;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The catalog's route policies.
pub fn catalog_routes() -> Vec<RouteConfig> {
    let scope = |s: &str| RouteRules {
        scope: Some(s.to_owned()),
        ..RouteRules::default()
    };
    vec![
        RouteConfig::new(
            "GET",
            "/catalog/search",
            RouteRules {
                public: true,
                ..RouteRules::default()
            },
        ),
        RouteConfig::new("GET", "/products", scope("products:read")),
        RouteConfig::new("POST", "/products", scope("products:write")),
    ]
}

/// The catalog service behind `guard`.
pub fn catalog_router(guard: Guard) -> Router {
    Router::new()
        .route("/catalog/search", get(search_catalog))
        .route("/products", get(list_products).post(create_product))
        .layer(guard.layer())
}

async fn search_catalog(caller: Option<Identity>) -> Json<Value> {
    Json(json!({
        "items": [{"gtin": "00012345678905", "name": "Espresso beans"}],
        "total": 1,
        "caller": caller.map(|c| c.subject),
    }))
}

async fn list_products(caller: Identity) -> Json<Value> {
    Json(json!({
        "items": [{"id": "p-1", "name": "Espresso beans"}],
        "caller": caller.subject,
        "credential": caller.kind.as_str(),
    }))
}

async fn create_product(caller: Identity) -> (StatusCode, Json<Value>) {
    (
        StatusCode::CREATED,
        Json(json!({"id": "p-2", "created_by": caller.subject})),
    )
}

/// The example's configuration from environment variables:
/// `CASTELLAN_ISSUER` (required), `CASTELLAN_ENVIRONMENT` (default `local`),
/// `CASTELLAN_JWKS_URL`, `CASTELLAN_INTROSPECTION_URL`, `CASTELLAN_CLIENT_ID` and
/// `CASTELLAN_CLIENT_SECRET` (both needed for opaque tokens, API keys and the revocation
/// feed), `CASTELLAN_REVOCATION_FEED_URL` (required in production).
pub fn config_from_env(var: impl Fn(&str) -> Option<String>) -> Result<GuardConfig, ConfigError> {
    let issuer = var("CASTELLAN_ISSUER")
        .ok_or_else(|| ConfigError("CASTELLAN_ISSUER is required".into()))?;
    let environment = match var("CASTELLAN_ENVIRONMENT") {
        Some(e) => e
            .parse()
            .map_err(|e| ConfigError(format!("CASTELLAN_ENVIRONMENT: {e}")))?,
        None => castellan_core::Environment::Local,
    };
    let mut c = GuardConfig::new(issuer, environment);
    c.jwks_url = var("CASTELLAN_JWKS_URL");
    if let (Some(client_id), Some(secret)) =
        (var("CASTELLAN_CLIENT_ID"), var("CASTELLAN_CLIENT_SECRET"))
    {
        c.introspection = Some(IntrospectionConfig {
            url: var("CASTELLAN_INTROSPECTION_URL"),
            client_id,
            client_secret: crate::config::ClientSecret::new(secret),
        });
    }
    c.revocation_feed_url = var("CASTELLAN_REVOCATION_FEED_URL");
    c.routes = catalog_routes();
    c.validate()?;
    Ok(c)
}
