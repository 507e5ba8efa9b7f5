//! The OpenAPI 3.1 document of the management API, generated from the handlers'
//! annotations and served at `/openapi.json`.

use crate::management::http::clients;
use crate::platform::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The OpenAPI document of the management API and dynamic registration.
#[derive(OpenApi)]
#[openapi(
    info(title = "Castellan management API", description = "Clients (commercetools API Clients semantics; every path also under /{projectKey}), API keys, a person's connected apps and signed-in sessions, the audit log, and dynamic client registration (RFC 7591/7592)."),
    paths(
        clients::query_clients,
        clients::check_clients_exist,
        clients::create_client,
        clients::get_client,
        clients::check_client_exists,
        clients::update_client,
        clients::delete_client,
        crate::management::http::client_secret::rotate_secret,
        clients::query_project_clients,
        clients::check_project_clients_exist,
        clients::create_project_client,
        clients::get_project_client,
        clients::check_project_client_exists,
        clients::update_project_client,
        clients::delete_project_client,
        crate::management::http::client_secret::rotate_project_secret,
        crate::management::http::api_keys::create_api_key,
        crate::management::http::api_keys::list_api_keys,
        crate::management::http::api_keys::get_api_key,
        crate::management::http::api_keys::disable_api_key,
        crate::management::http::api_keys::enable_api_key,
        crate::management::http::api_keys::revoke_api_key,
        crate::management::http::api_keys::rotate_api_key,
        crate::people::http::connected_apps::list_connected_apps_api,
        crate::people::http::connected_apps::revoke_connected_app_api,
        crate::people::http::sessions::list_sessions_api,
        crate::people::http::sessions::end_session_api,
        crate::audit::http::list_audit_events,
        crate::people::http::organizations::set_member_role,
        crate::people::http::organizations::remove_member,
        crate::oauth::http::register::register_client,
        crate::oauth::http::register::get_registration,
        crate::oauth::http::register::update_registration,
        crate::oauth::http::register::delete_registration,
    ),
    components(schemas(clients::ClientRepresentation, clients::PagedClients, crate::management::clients::ClientDraft, crate::management::clients::TenantEntry, clients::ClientUpdate, clients::ClientUpdateAction, crate::management::http::client_secret::SecretRotation, crate::management::http::api_keys::ApiKeyRepresentation, crate::management::http::api_keys::PagedApiKeys, crate::management::http::api_keys::CreateBody, crate::people::http::organizations::RoleBody, crate::people::http::sessions::SessionInfo, crate::audit::http::PagedAuditEvents, crate::audit::http::AuditEventRepresentation, crate::audit::http::ActorRepresentation)),
    modifiers(&BearerAuth),
    tags((name = "api-clients", description = "Manage OAuth clients"), (name = "api-keys", description = "Manage API keys"), (name = "account", description = "A person's own account (their token)"), (name = "organizations", description = "Organization members"), (name = "registration", description = "RFC 7591/7592 dynamic client registration"), (name = "audit", description = "The audit log of security events")),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
        }
    }
}

/// The document, with the issuer as its server.
pub fn document(issuer: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.servers = Some(vec![utoipa::openapi::Server::new(issuer)]);
    doc
}

/// `GET /openapi.json`: the OpenAPI document, with the issuer as its server.
pub async fn get_openapi(State(state): State<AppState>) -> Response {
    Json(document(&state.config.issuer)).into_response()
}
