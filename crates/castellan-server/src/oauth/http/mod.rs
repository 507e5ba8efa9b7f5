//! The OAuth endpoints over HTTP: each handler reads the request into typed input, calls one
//! service of [`crate::oauth`] and writes its answer.

pub mod authorize;
pub mod bearer;
pub mod client_auth;
pub mod client_endpoint;
pub mod consent;
pub mod device;
pub mod device_pages;
pub mod discovery;
pub mod dpop;
pub mod introspect;
pub mod logout;
pub mod par;
pub mod params;
pub mod register;
pub mod revocations;
pub mod revoke;
pub mod token;
pub mod token_answer;
pub mod userinfo;

use crate::people::http::pages::as_pages;
use crate::platform::state::AppState;
use axum::routing::{get, post};
use axum::Router;

/// The OAuth endpoints served through the router (the token endpoint is answered by the
/// edge), with the authorization and consent pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::get_authorization_server_metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            get(discovery::get_openid_configuration),
        )
        .route("/.well-known/jwks.json", get(discovery::get_jwks))
        .route("/oauth/introspect", post(introspect::introspect_token))
        .route("/oauth/revoke", post(revoke::revoke_token))
        .route("/oauth/par", post(par::push_authorization_request))
        .route(
            "/oauth/device_authorization",
            post(device::create_device_authorization),
        )
        .route("/oauth/revocations", get(revocations::get_revocations))
        .route(
            "/oauth/userinfo",
            get(userinfo::read_userinfo).post(userinfo::read_userinfo),
        )
        .merge(register::router())
        .merge(as_pages(
            Router::new()
                .route("/oauth/authorize", get(authorize::get_authorize))
                .route("/oauth/authorize/decision", post(consent::create_decision))
                .route(
                    logout::PATH,
                    get(logout::get_logout).post(logout::post_logout),
                )
                .route(logout::CONFIRM_PATH, post(logout::post_confirm))
                .route(
                    "/device",
                    get(device_pages::get_device).post(device_pages::post_device),
                )
                .route("/device/decision", post(device_pages::post_decision)),
        ))
}
