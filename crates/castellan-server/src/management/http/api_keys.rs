//! The API-key management API: `POST/GET /api-keys`, `GET /api-keys/{id}`,
//! `POST /api-keys/{id}/disable|enable|revoke|rotate`. Reading needs `view_api_keys` (or
//! `manage_api_keys`), writing `manage_api_keys`. The key itself is in the answers to create
//! and rotate only; listings show its visible prefix and last four characters.
//!
//! A person's token reaches only the keys of the person's organizations, and changing them
//! needs MANAGER or OWNER there (`management::key_reach`); a client's own token reaches every key.

use crate::error::ApiError;
use crate::management::api_keys::{self, CreateError, Creator, KeyDraft, RotateError};
use crate::management::key_reach::KeyReach;
use crate::oauth::bearer::Bearer;
use crate::platform::http::json::JsonBody;
use crate::platform::http::no_store;
use crate::platform::http::text::{CleanQuery, IdPath};
use crate::platform::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_store::api_keys::{ApiKey, ApiKeyStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

const VIEW: &str = "view_api_keys";
const MANAGE: &str = "manage_api_keys";
/// Shown next to a key in the answers to create and rotate.
pub const SHOWN_ONCE_NOTE: &str =
    "Copy this key now: you will not see this again. Castellan stores only its hash.";

/// The `/api-keys` routes: list, create, read, disable, enable, revoke and rotate.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api-keys", get(list_api_keys).post(create_api_key))
        .route("/api-keys/{id}", get(get_api_key))
        .route("/api-keys/{id}/disable", post(disable_api_key))
        .route("/api-keys/{id}/enable", post(enable_api_key))
        .route("/api-keys/{id}/revoke", post(revoke_api_key))
        .route("/api-keys/{id}/rotate", post(rotate_api_key))
}

/// An API key as answered; `key` and `note` only when it was just created or rotated.
/// `Debug` hides the key.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRepresentation {
    /// The key's id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// The start of the key, shown so a person can recognise it.
    pub visible_prefix: String,
    /// The key's last four characters.
    pub last_four: String,
    /// The space-separated scopes it carries.
    pub scope: String,
    /// The organization it acts for, if any.
    pub organization_id: Option<String>,
    /// Its rate-limit tier.
    pub tier: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Who created it (a person's or a client's id).
    pub created_by: String,
    /// The last day it was used (`YYYY-MM-DD`).
    pub last_used_at: Option<String>,
    /// When it expires (RFC 3339), if ever.
    pub expires_at: Option<String>,
    /// `active`, `disabled`, `revoked` or `expired`.
    #[schema(value_type = String)]
    pub status: &'static str,
    /// The key it replaced, when it came from a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_from: Option<String>,
    /// The key itself, only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The reminder that the key is shown once, next to `key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub note: Option<&'static str>,
}

impl std::fmt::Debug for ApiKeyRepresentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRepresentation")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("visible_prefix", &self.visible_prefix)
            .field("last_four", &self.last_four)
            .field("scope", &self.scope)
            .field("organization_id", &self.organization_id)
            .field("status", &self.status)
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl ApiKeyRepresentation {
    /// The representation of `k` at `now`, with the key itself when it was just created.
    pub fn new(k: &ApiKey, key: Option<String>, now: DateTime<Utc>) -> Self {
        let expired = k.expires_at.is_some_and(|e| e <= now);
        ApiKeyRepresentation {
            id: k.id.clone(),
            name: k.name.clone(),
            visible_prefix: k.visible_prefix.clone(),
            last_four: k.last_four.clone(),
            scope: k.scope.clone(),
            organization_id: k.organization_id.clone(),
            tier: k.tier.clone(),
            created_at: time(k.created_at),
            created_by: k.created_by.clone(),
            last_used_at: k.last_used_at.map(|d| d.format("%Y-%m-%d").to_string()),
            expires_at: k.expires_at.map(time),
            status: match k.status {
                ApiKeyStatus::Active if expired => "expired",
                s => s.as_str(),
            },
            rotated_from: k.rotated_from.clone(),
            note: key.as_ref().map(|_| SHOWN_ONCE_NOTE),
            key,
        }
    }
}

/// The body of `POST /api-keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    /// The key's display name.
    pub name: String,
    /// The space-separated scopes it carries.
    pub scope: String,
    /// The organization it acts for, if any.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// Its rate-limit tier.
    #[serde(default)]
    pub tier: Option<String>,
    /// When it expires (RFC 3339).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it expires, as days from now.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

fn create_error(e: CreateError) -> ApiError {
    match e {
        CreateError::Invalid(m) => ApiError::invalid_field(m),
        e @ CreateError::ScopeNotHeld(_) => ApiError::BadRequest {
            code: "InvalidScope",
            message: e.to_string(),
        },
        CreateError::Store(s) => s.into(),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "The API key with ID '{}' was not found.",
        castellan_core::query::truncate_for_message(id)
    ))
}

/// One page of API keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PagedApiKeys {
    /// The most keys asked for.
    pub limit: u32,
    /// How many were skipped.
    pub offset: u32,
    /// How many are in `results`.
    pub count: usize,
    /// How many the caller may see in all; absent with `withTotal=false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The keys of this page (never the keys themselves).
    pub results: Vec<ApiKeyRepresentation>,
}

/// `POST /api-keys`: creates a key and answers it, shown this once.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = CreateBody,
    responses(
        (status = 201, body = ApiKeyRepresentation, description = "created; `key` is shown only here"),
        (status = 400, description = "bad input, a scope the creator does not hold (`InvalidScope`), an organization that does not exist"),
        (status = 401), (status = 403), (status = 413), (status = 415)),
    security(("bearer" = ["manage_api_keys"])))]
pub async fn create_api_key(
    State(state): State<AppState>,
    bearer: Bearer,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    bearer.require(MANAGE, &[], &state.config.project_key)?;
    let organization_id = KeyReach::of(&state, &bearer)
        .await?
        .organization_for_new_key(body.organization_id)?;
    let now = state.clock.now();
    // A client acting for itself may also give the scopes it is allowed to request.
    let client = if bearer.token.subject() == bearer.token.client_id() {
        state
            .clients
            .get(state.store.as_ref(), bearer.token.client_id())
            .await?
    } else {
        None
    };
    let allowed = client.as_ref().map_or(&[][..], |c| c.scope.as_slice());
    let creator = Creator {
        id: bearer.token.subject(),
        held: &bearer.scopes,
        allowed,
    };
    let draft = KeyDraft {
        name: body.name,
        scope: body.scope,
        organization_id,
        tier: body.tier,
        expires_at: body.expires_at,
        expires_in_days: body.expires_in_days,
    };
    let created = api_keys::create_api_key(&state, draft, &creator, now, &bearer.caller())
        .await
        .map_err(create_error)?;
    let body = ApiKeyRepresentation::new(&created.stored, Some(created.key.into_exposed()), now);
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

/// The query of `GET /api-keys`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ListParams {
    /// Only keys acting for this organization (not with `createdBy`).
    #[serde(default)]
    pub organization_id: Option<String>,
    /// Only keys created by this person or client (not with `organizationId`).
    #[serde(default)]
    pub created_by: Option<String>,
    /// Most keys answered (default 20, at most 500).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Keys skipped before the first answered (at most 10 000).
    #[serde(default)]
    pub offset: Option<u32>,
    /// Whether to count every key the caller may see (`total`; default `true`). Counting
    /// reads every matching key: `false` pages a large list faster and omits `total`.
    #[serde(default)]
    pub with_total: Option<bool>,
}

/// `GET /api-keys`: one page of the keys the caller may see.
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", params(ListParams),
    responses((status = 200, body = PagedApiKeys), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = ["view_api_keys"])))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    bearer: Bearer,
    CleanQuery(params): CleanQuery<ListParams>,
) -> Result<Response, ApiError> {
    bearer.require(VIEW, &[MANAGE], &state.config.project_key)?;
    let owner = KeyReach::of(&state, &bearer)
        .await?
        .listing(params.organization_id, params.created_by)?;
    let limit = params.limit.unwrap_or(20).clamp(1, 500);
    let offset = params.offset.unwrap_or(0).min(10_000);
    let page = api_keys::list_api_keys(
        &state,
        &owner,
        limit,
        offset,
        params.with_total.unwrap_or(true),
    )
    .await?;
    let now = state.clock.now();
    let results: Vec<ApiKeyRepresentation> = page
        .results
        .iter()
        .map(|k| ApiKeyRepresentation::new(k, None, now))
        .collect();
    Ok(Json(PagedApiKeys {
        limit,
        offset,
        count: results.len(),
        total: page.total,
        results,
    })
    .into_response())
}

/// `GET /api-keys/{id}`: one key.
#[utoipa::path(get, path = "/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "the key's id")),
    responses((status = 200, body = ApiKeyRepresentation), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = ["view_api_keys"])))]
pub async fn get_api_key(
    State(state): State<AppState>,
    bearer: Bearer,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    bearer.require(VIEW, &[MANAGE], &state.config.project_key)?;
    let key = state
        .store
        .get_api_key(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    KeyReach::of(&state, &bearer).await?.check_read(&key)?;
    Ok(Json(ApiKeyRepresentation::new(&key, None, state.clock.now())).into_response())
}

/// Refuses a person who may not change the key `id` (an unknown key is left to the caller).
async fn check_change(state: &AppState, bearer: &Bearer, id: &str) -> Result<(), ApiError> {
    if bearer.person.is_none() {
        return Ok(());
    }
    match state.store.get_api_key(id).await? {
        Some(key) => KeyReach::of(state, bearer).await?.check_change(&key),
        None => Ok(()),
    }
}

async fn change_status(
    state: AppState,
    bearer: Bearer,
    id: String,
    status: ApiKeyStatus,
) -> Result<Response, ApiError> {
    bearer.require(MANAGE, &[], &state.config.project_key)?;
    check_change(&state, &bearer, &id).await?;
    let key = api_keys::set_status(&state, &id, status, &bearer.caller())
        .await?
        .ok_or_else(|| not_found(&id))?;
    if key.status != status {
        return Err(ApiError::BadRequest {
            code: "InvalidOperation",
            message: "A revoked API key stays revoked: create a new key.".into(),
        });
    }
    Ok(Json(ApiKeyRepresentation::new(&key, None, state.clock.now())).into_response())
}

/// `POST /api-keys/{id}/disable`: stops a key until it is enabled again.
#[utoipa::path(post, path = "/api-keys/{id}/disable", tag = "api-keys",
    params(("id" = String, Path, description = "the key's id")),
    responses((status = 200, body = ApiKeyRepresentation), (status = 400, description = "a revoked key stays revoked"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = ["manage_api_keys"])))]
pub async fn disable_api_key(
    State(state): State<AppState>,
    bearer: Bearer,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    change_status(state, bearer, id, ApiKeyStatus::Disabled).await
}

/// `POST /api-keys/{id}/enable`: lets a disabled key work again.
#[utoipa::path(post, path = "/api-keys/{id}/enable", tag = "api-keys",
    params(("id" = String, Path, description = "the key's id")),
    responses((status = 200, body = ApiKeyRepresentation), (status = 400, description = "a revoked key stays revoked"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = ["manage_api_keys"])))]
pub async fn enable_api_key(
    State(state): State<AppState>,
    bearer: Bearer,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    change_status(state, bearer, id, ApiKeyStatus::Active).await
}

/// `POST /api-keys/{id}/revoke`: stops a key for good.
#[utoipa::path(post, path = "/api-keys/{id}/revoke", tag = "api-keys",
    params(("id" = String, Path, description = "the key's id")),
    responses((status = 200, body = ApiKeyRepresentation), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = ["manage_api_keys"])))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    bearer: Bearer,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    change_status(state, bearer, id, ApiKeyStatus::Revoked).await
}

/// `POST /api-keys/{id}/rotate`: replaces a key by a new one with the same settings.
#[utoipa::path(post, path = "/api-keys/{id}/rotate", tag = "api-keys",
    params(("id" = String, Path, description = "the key's id")),
    responses((status = 201, body = ApiKeyRepresentation, description = "the new key; `key` is shown only here"), (status = 400, description = "a revoked key cannot be rotated"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = ["manage_api_keys"])))]
pub async fn rotate_api_key(
    State(state): State<AppState>,
    bearer: Bearer,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    bearer.require(MANAGE, &[], &state.config.project_key)?;
    check_change(&state, &bearer, &id).await?;
    let now = state.clock.now();
    let created = match api_keys::rotate_api_key(&state, &id, now, &bearer.caller()).await {
        Ok(c) => c,
        Err(RotateError::NotFound) => return Err(not_found(&id)),
        Err(RotateError::Revoked) => {
            return Err(ApiError::BadRequest {
                code: "InvalidOperation",
                message: "A revoked API key cannot be rotated: create a new key.".into(),
            })
        }
        Err(RotateError::Create(e)) => return Err(create_error(e)),
        Err(RotateError::Store(e)) => return Err(e.into()),
    };
    let body = ApiKeyRepresentation::new(&created.stored, Some(created.key.into_exposed()), now);
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}
