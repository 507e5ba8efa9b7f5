//! `POST /api-clients/{id}/rotate-secret` (also under `/{projectKey}/…`): a confidential
//! client's new secret, shown once, with the end of the previous one's overlap
//! ([`crate::management::client_secret`]). Needs `manage_api_clients`.

use crate::audit::{self, Kind};
use crate::error::ApiError;
use crate::management::client_secret::{rotate_client_secret, RotateError};
use crate::management::http::clients::{check_project, not_found, ClientRepresentation, MANAGE};
use crate::oauth::bearer::Bearer;
use crate::platform::http::json::JsonBody;
use crate::platform::http::no_store;
use crate::platform::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use castellan_core::ids::is_plausible_client_id;
use serde::Deserialize;

/// The rotation routes, with and without the `/{project}` prefix.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api-clients/{id}/rotate-secret", post(rotate_secret))
        .route(
            "/{project}/api-clients/{id}/rotate-secret",
            post(rotate_project_secret),
        )
}

/// How to rotate (`{}`: the configured overlap).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretRotation {
    /// How long the current secret is still accepted (seconds, 0 to 2592000; 0 ends it at
    /// once, as after a leak). Default: `clients.secret_overlap_seconds`.
    pub overlap_seconds: Option<u32>,
}

/// Gives a confidential client a new secret, answered once in `secret`; the previous one is
/// accepted until `previousSecretExpiresAt`.
#[utoipa::path(post, path = "/api-clients/{id}/rotate-secret", tag = "api-clients",
    request_body = SecretRotation,
    responses(
        (status = 200, body = ClientRepresentation, description = "rotated; `secret` is shown only here"),
        (status = 400, description = "no secret to rotate (public, private_key_jwt or registered client), or a bad overlap"),
        (status = 401), (status = 403), (status = 404),
        (status = 409, description = "another change of the secret won: read the client again")),
    security(("bearer" = ["manage_api_clients"])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(asked): JsonBody<SecretRotation>,
) -> Result<Response, ApiError> {
    bearer.require(MANAGE, &[], &state.config.project_key)?;
    if !is_plausible_client_id(&id) {
        return Err(not_found(&id));
    }
    let now = state.clock.now();
    let rotated = rotate_client_secret(&state, &id, asked.overlap_seconds, now)
        .await
        .map_err(|e| match e {
            RotateError::NotFound => not_found(&id),
            e @ (RotateError::NoSecret | RotateError::Registered) => ApiError::BadRequest {
                code: "InvalidOperation",
                message: e.to_string(),
            },
            e @ RotateError::Overlap => ApiError::invalid_field(e.to_string()),
            e @ RotateError::Raced => ApiError::Conflict(e.to_string()),
            RotateError::Store(e) => e.into(),
        })?;
    tracing::info!(
        client_id = %id,
        by = %bearer.token.client_id(),
        overlap_seconds = rotated.client.previous_secret.as_ref().map_or(0, |p| (p.expires_at - now).num_seconds()),
        "client secret rotated"
    );
    let overlap = rotated
        .client
        .previous_secret
        .as_ref()
        .map_or(0, |p| (p.expires_at - now).num_seconds());
    audit::record(
        &state,
        bearer
            .caller()
            .did(Kind::ClientSecretRotated)
            .target(&id)
            .detail(format!("old secret accepted for {overlap} s")),
    )
    .await;
    let body = ClientRepresentation::new(&rotated.client, Some(rotated.secret.into_exposed()), now);
    Ok(no_store(Json(body).into_response()))
}

/// `POST /{projectKey}/api-clients/{id}/rotate-secret`: [`rotate_secret`] under the project key.
#[utoipa::path(post, path = "/{projectKey}/api-clients/{id}/rotate-secret", tag = "api-clients",
    params(("projectKey" = String, Path), ("id" = String, Path)),
    request_body = SecretRotation,
    responses((status = 200, body = ClientRepresentation), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409), (status = 415)),
    security(("bearer" = ["manage_api_clients"])))]
pub async fn rotate_project_secret(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
    bearer: Bearer,
    body: JsonBody<SecretRotation>,
) -> Result<Response, ApiError> {
    check_project(&state, &project)?;
    rotate_secret(State(state), bearer, Path(id), body).await
}
