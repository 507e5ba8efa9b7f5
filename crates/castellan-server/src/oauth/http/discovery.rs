//! `/.well-known/oauth-authorization-server` (RFC 8414) and `/.well-known/openid-configuration`
//! (OIDC Discovery 1.0 §3), listing what this server actually does, and the JWKS (RFC 7517).

use crate::oauth::id_token::id_token_algorithm;
use crate::oauth::token::request::SUPPORTED_GRANTS;
use crate::platform::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// Token-endpoint authentication methods this server accepts.
pub const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// Methods of the endpoints only confidential clients call (revocation, introspection).
const CONFIDENTIAL_AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// The metadata both documents share.
pub fn metadata(state: &AppState) -> Value {
    let c = &state.config;
    let mut scopes: Vec<String> = c.scopes.iter().map(|s| s.name.clone()).collect();
    for s in &c.registration.open_scopes {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    let mut doc = json!({
        "issuer": c.issuer,
        "token_endpoint": c.endpoint("/oauth/token"),
        "jwks_uri": c.endpoint("/.well-known/jwks.json"),
        "revocation_endpoint": c.endpoint("/oauth/revoke"),
        "introspection_endpoint": c.endpoint("/oauth/introspect"),
        "scopes_supported": scopes,
        "authorization_endpoint": c.endpoint("/oauth/authorize"),
        "end_session_endpoint": c.endpoint("/oauth/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "userinfo_endpoint": c.endpoint("/oauth/userinfo"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "id_token_signing_alg_values_supported": [id_token_algorithm(state).name()],
        "grant_types_supported": grants_supported(state),
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported":
            castellan_crypto::jwk::JwsAlgorithm::ALL.map(castellan_crypto::jwk::JwsAlgorithm::name),
        "revocation_endpoint_auth_methods_supported": CONFIDENTIAL_AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported":
            castellan_crypto::jwk::JwsAlgorithm::ALL.map(castellan_crypto::jwk::JwsAlgorithm::name),
        "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported":
            castellan_crypto::jwk::JwsAlgorithm::ALL.map(castellan_crypto::jwk::JwsAlgorithm::name),
        "access_token_signing_alg_values_supported": [state.access_alg.name()],
        "service_documentation": c.endpoint("/openapi.json"),
        "client_id_metadata_document_supported": c.client_metadata.enabled,
        "pushed_authorization_request_endpoint": c.endpoint("/oauth/par"),
        "device_authorization_endpoint": c.endpoint("/oauth/device_authorization"),
        "require_pushed_authorization_requests": c.par.required,
        "request_parameter_supported": false,
        "dpop_signing_alg_values_supported": castellan_crypto::dpop::SUPPORTED_ALGS,
    });
    if c.registration_mode() != crate::platform::config::RegistrationMode::Disabled {
        if let Some(obj) = doc.as_object_mut() {
            obj.insert(
                "registration_endpoint".into(),
                c.endpoint("/oauth/register").into(),
            );
        }
    }
    doc
}

/// `GET /.well-known/oauth-authorization-server`: the server's metadata (RFC 8414).
pub async fn get_authorization_server_metadata(State(state): State<AppState>) -> Response {
    cacheable(Json(metadata(&state)).into_response())
}

/// `GET /.well-known/openid-configuration`: the OpenID Provider metadata (OIDC Discovery).
pub async fn get_openid_configuration(State(state): State<AppState>) -> Response {
    let mut doc = metadata(&state);
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("subject_types_supported".into(), json!(["public"]));
        obj.insert(
            "acr_values_supported".into(),
            json!(castellan_core::authn::ACR_VALUES_SUPPORTED),
        );
        obj.insert(
            "claims_supported".into(),
            json!([
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "amr",
                "nonce",
                "at_hash",
                "email",
                "email_verified",
                "name"
            ]),
        );
    }
    cacheable(Json(doc).into_response())
}

/// `GET /.well-known/jwks.json`: the public signing keys.
pub async fn get_jwks(State(state): State<AppState>) -> Response {
    let keys = state.keys.keys();
    let mut res = keys.jwks_json().to_owned().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    cacheable(res)
}

/// Metadata may be cached briefly; keys rotate with overlap, so minutes are safe.
fn cacheable(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// The grants the token endpoint answers: the JWT bearer grant only when an issuer is trusted.
fn grants_supported(state: &AppState) -> Vec<&'static str> {
    SUPPORTED_GRANTS
        .iter()
        .filter(|g| {
            **g != castellan_core::client::GrantType::JwtBearer
                || !state.config.jwt_bearer.issuers.is_empty()
        })
        .map(|g| g.as_str())
        .collect()
}
