//! The management API for clients, shaped like the commercetools API Clients API:
//! `POST/GET/HEAD /api-clients`, `GET/HEAD/POST/DELETE /api-clients/{id}`
//! (`POST` applies update actions), also under `/{projectKey}/…`. Reading needs `view_api_clients`, writing `manage_api_clients`
//! (each optionally `:{projectKey}`); `manage_project` does not imply them.

use crate::audit::{self, Kind};
use crate::error::ApiError;
use crate::management::client_update::{apply_actions, MAX_ACTIONS};
pub use crate::management::client_update::{ClientUpdate, ClientUpdateAction};
use crate::management::clients::{build_client, ClientDraft, TenantEntry};
use crate::oauth::bearer::Bearer;
use crate::platform::http::json::JsonBody;
use crate::platform::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use castellan_core::client::Client;
use castellan_core::ids::is_plausible_client_id;
use castellan_core::query::{self, ClientQuery, MAX_LIMIT, MAX_OFFSET};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

const VIEW: &str = "view_api_clients";
pub(crate) const MANAGE: &str = "manage_api_clients";

/// The `/api-clients` routes, with and without the `/{project}` prefix.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api-clients",
            get(query_clients)
                .head(check_clients_exist)
                .post(create_client),
        )
        .route(
            "/api-clients/{id}",
            get(get_client)
                .head(check_client_exists)
                .post(update_client)
                .delete(delete_client),
        )
        .route(
            "/{project}/api-clients",
            get(query_project_clients)
                .head(check_project_clients_exist)
                .post(create_project_client),
        )
        .route(
            "/{project}/api-clients/{id}",
            get(get_project_client)
                .head(check_project_client_exists)
                .post(update_project_client)
                .delete(delete_project_client),
        )
}

/// An API client as answered (`APIClient`). `Debug` hides the secret.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientRepresentation {
    /// The client's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its space-separated allowed scopes.
    pub scope: String,
    /// Only in the answers to create and to a secret rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until when the secret it had before its last rotation is still accepted (RFC 3339),
    /// while it is (as of the answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// The last day it obtained a token (`YYYY-MM-DD`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// When it stops getting tokens and is purged (RFC 3339), if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_at: Option<String>,
    /// Its access-token lifetime, when it set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_validity_seconds: Option<u32>,
    /// Its refresh-token lifetime, when it set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_validity_seconds: Option<u32>,
    /// `confidential` or `public`.
    pub client_kind: &'static str,
    /// The grant types it may use.
    pub grant_types: Vec<&'static str>,
    /// Its redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// How it authenticates at the token endpoint.
    pub token_endpoint_auth_method: &'static str,
    /// The shape of its access tokens.
    pub token_format: &'static str,
    /// The scopes a request naming none receives, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_scope: Option<String>,
    /// A public client allowed `client_credentials` when it names a market.
    pub public_client_credentials: bool,
    /// It must push its authorization requests (PAR, RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// Where it may send a person after signing them out (RP-Initiated Logout 1.0).
    pub post_logout_redirect_uris: Vec<String>,
    /// Where it receives logout tokens (Back-Channel Logout 1.0), when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// Its logout tokens must carry `sid`.
    pub backchannel_logout_session_required: bool,
    /// Ending a session it got tokens in also revokes the refresh-token families issued there.
    pub logout_revokes_refresh_tokens: bool,
    /// Its public keys for `private_key_jwt`, when given as a JWK Set.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// The URL of its JWK Set for `private_key_jwt`, when given as one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Its access tokens must be bound to a DPoP key (RFC 9449 §5.2).
    pub dpop_bound_access_tokens: bool,
    /// The rate-limit tier its token requests and gateway calls are counted under.
    pub tier: String,
    /// The brands and venues it may ask tenant tokens for at `POST /auth`.
    pub tenants: Vec<TenantEntry>,
}

impl std::fmt::Debug for ClientRepresentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRepresentation")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("client_kind", &self.client_kind)
            .field("grant_types", &self.grant_types)
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

impl ClientRepresentation {
    /// The representation of `c` at `now`, with its secret when it was just created or
    /// rotated.
    pub fn new(c: &Client, secret: Option<String>, now: DateTime<Utc>) -> Self {
        ClientRepresentation {
            id: c.id.clone(),
            name: c.name.clone(),
            scope: castellan_core::scope::patterns_to_string(&c.scope),
            secret,
            previous_secret_expires_at: c
                .previous_secret
                .as_ref()
                .filter(|p| now < p.expires_at)
                .map(|p| p.expires_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            created_at: c.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            last_used_at: c.last_used_at.map(|d| d.format("%Y-%m-%d").to_string()),
            delete_at: c
                .delete_at
                .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true)),
            access_token_validity_seconds: c.access_token_validity_seconds,
            refresh_token_validity_seconds: c.refresh_token_validity_seconds,
            client_kind: c.kind.as_str(),
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            redirect_uris: c.redirect_uris.clone(),
            token_endpoint_auth_method: c.auth_method.as_str(),
            token_format: c.token_format.as_str(),
            default_scope: c.default_scope.as_ref().map(ToString::to_string),
            public_client_credentials: c.public_client_credentials,
            require_pushed_authorization_requests: c.requires_pushed_authorization_requests(),
            post_logout_redirect_uris: c
                .post_logout_redirect_uris()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            backchannel_logout_uri: c.backchannel_logout_uri().map(str::to_owned),
            backchannel_logout_session_required: c.backchannel_logout_session_required(),
            logout_revokes_refresh_tokens: c.logout_revokes_refresh_tokens(),
            jwks: c.jwks().cloned(),
            jwks_uri: c.jwks_uri().map(str::to_owned),
            dpop_bound_access_tokens: c.requires_dpop(),
            tier: c
                .tier
                .clone()
                .unwrap_or_else(|| castellan_limit::DEFAULT_TIER.to_owned()),
            tenants: c.tenants.iter().map(TenantEntry::from).collect(),
        }
    }
}

/// `ApiClientPagedQueryResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PagedClients {
    /// The most clients asked for.
    pub limit: u32,
    /// How many were skipped.
    pub offset: u32,
    /// How many are in `results`.
    pub count: usize,
    /// How many match in all, when asked for (`withTotal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The clients of this page.
    pub results: Vec<ClientRepresentation>,
}

pub(crate) fn check_project(state: &AppState, project: &str) -> Result<(), ApiError> {
    if project == state.config.project_key {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "The project `{}` does not exist.",
            query::truncate_for_message(project)
        )))
    }
}

// Ids no client can have (control characters such as NUL, which PostgreSQL refuses in text,
// or absurd lengths) are answered 404 without a storage round trip.
pub(crate) fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "The Resource with ID '{}' was not found.",
        query::truncate_for_message(id)
    ))
}

/// Parses the query string of the query endpoint.
pub fn parse_query(raw: Option<&str>) -> Result<ClientQuery, ApiError> {
    let mut q = ClientQuery::default();
    let mut wheres = Vec::new();
    let mut seen_limit = false;
    let mut seen_offset = false;
    let mut seen_total = false;
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "limit" => {
                if std::mem::replace(&mut seen_limit, true) {
                    return Err(ApiError::invalid_input("limit is given more than once."));
                }
                q.limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|l| *l <= MAX_LIMIT)
                    .ok_or_else(|| ApiError::invalid_input(format!("limit must be an integer from 0 to {MAX_LIMIT}.")))?;
            }
            "offset" => {
                if std::mem::replace(&mut seen_offset, true) {
                    return Err(ApiError::invalid_input("offset is given more than once."));
                }
                q.offset = v
                    .parse::<u32>()
                    .ok()
                    .filter(|o| *o <= MAX_OFFSET)
                    .ok_or_else(|| ApiError::invalid_input(format!("offset must be an integer from 0 to {MAX_OFFSET}.")))?;
            }
            "withTotal" => {
                if std::mem::replace(&mut seen_total, true) {
                    return Err(ApiError::invalid_input("withTotal is given more than once."));
                }
                q.with_total = match v.as_ref() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::invalid_input("withTotal must be true or false.")),
                };
            }
            "where" => {
                if wheres.len() >= 10 {
                    return Err(ApiError::invalid_input("At most 10 where parameters."));
                }
                wheres.push(v.into_owned());
            }
            "sort" => {
                if q.sort.len() >= 5 {
                    return Err(ApiError::invalid_input("At most 5 sort parameters."));
                }
                q.sort.push(query::parse_sort(&v).map_err(|e| ApiError::invalid_input(e.0))?);
            }
            "expand" => {}
            other => {
                return Err(ApiError::invalid_input(format!(
                    "Unknown query parameter `{}`; supported: limit, offset, withTotal, where, sort, expand.",
                    query::truncate_for_message(other)
                )))
            }
        }
    }
    q.predicate = query::parse_predicates(&wheres).map_err(|e| ApiError::BadRequest {
        code: "InvalidInput",
        message: format!("Malformed where parameter: {}", e.0),
    })?;
    Ok(q)
}

/// Answers one page of the clients matching the query.
#[utoipa::path(get, path = "/api-clients", tag = "api-clients",
    params(
        ("limit" = Option<u32>, Query, description = "0 to 500, default 20"),
        ("offset" = Option<u32>, Query, description = "0 to 10000, default 0"),
        ("withTotal" = Option<bool>, Query, description = "default true"),
        ("where" = Option<Vec<String>>, Query, description = "query predicate (repeatable; see docs/api.md)"),
        ("sort" = Option<Vec<String>>, Query, description = "`<field> asc|desc` (repeatable)"),
    ),
    responses((status = 200, body = PagedClients), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = ["view_api_clients"])))]
pub async fn query_clients(
    State(state): State<AppState>,
    bearer: Bearer,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    bearer.require(VIEW, &[MANAGE], &state.config.project_key)?;
    let q = parse_query(raw.as_deref())?;
    let page = state.store.query_clients(&q).await?;
    let results: Vec<_> = page
        .results
        .iter()
        .map(|c| ClientRepresentation::new(c, None, state.clock.now()))
        .collect();
    Ok(Json(PagedClients {
        limit: q.limit,
        offset: q.offset,
        count: results.len(),
        total: page.total,
        results,
    })
    .into_response())
}

/// Answers 200 when some client matches the query, 404 when none does.
#[utoipa::path(head, path = "/api-clients", tag = "api-clients",
    params(("where" = Option<Vec<String>>, Query, description = "query predicate")),
    responses((status = 200, description = "some client matches"), (status = 400), (status = 401), (status = 403), (status = 404, description = "none matches")),
    security(("bearer" = ["view_api_clients"])))]
pub async fn check_clients_exist(
    State(state): State<AppState>,
    bearer: Bearer,
    RawQuery(raw): RawQuery,
) -> Result<StatusCode, ApiError> {
    bearer.require(VIEW, &[MANAGE], &state.config.project_key)?;
    let q = parse_query(raw.as_deref())?;
    let found = state.store.client_exists(q.predicate.as_ref()).await?;
    Ok(if found {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}

/// Creates a client and answers it with its secret, shown this once.
#[utoipa::path(post, path = "/api-clients", tag = "api-clients", request_body = ClientDraft,
    responses((status = 201, body = ClientRepresentation, description = "created; `secret` is shown only here"), (status = 400), (status = 401), (status = 403), (status = 413), (status = 415)),
    security(("bearer" = ["manage_api_clients"])))]
pub async fn create_client(
    State(state): State<AppState>,
    bearer: Bearer,
    JsonBody(draft): JsonBody<ClientDraft>,
) -> Result<Response, ApiError> {
    bearer.require(MANAGE, &[], &state.config.project_key)?;
    let now = state.clock.now();
    let (client, secret) = build_client(draft, &state.config, now)
        .map_err(|e| ApiError::invalid_field(e.to_string()))?;
    state.store.insert_client(&client).await?;
    tracing::info!(client_id = %client.id, by = %bearer.token.client_id(), "client created");
    audit::record(
        &state,
        bearer
            .caller()
            .did(Kind::ClientCreated)
            .target(&client.id)
            .detail(format!(
                "scope {}",
                castellan_core::scope::patterns_to_string(&client.scope)
            )),
    )
    .await;
    let body = ClientRepresentation::new(
        &client,
        secret.map(castellan_core::Secret::into_exposed),
        now,
    );
    Ok(crate::platform::http::no_store(
        (StatusCode::CREATED, Json(body)).into_response(),
    ))
}

/// Answers one client.
#[utoipa::path(get, path = "/api-clients/{id}", tag = "api-clients",
    responses((status = 200, body = ClientRepresentation), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = ["view_api_clients"])))]
pub async fn get_client(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    bearer.require(VIEW, &[MANAGE], &state.config.project_key)?;
    if !is_plausible_client_id(&id) {
        return Err(not_found(&id));
    }
    let client = state
        .store
        .get_client(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(ClientRepresentation::new(&client, None, state.clock.now())).into_response())
}

/// Answers 200 when the client exists, 404 when it does not.
#[utoipa::path(head, path = "/api-clients/{id}", tag = "api-clients",
    responses((status = 200), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = ["view_api_clients"])))]
pub async fn check_client_exists(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    bearer.require(VIEW, &[MANAGE], &state.config.project_key)?;
    if !is_plausible_client_id(&id) {
        return Ok(StatusCode::NOT_FOUND);
    }
    Ok(match state.store.get_client(&id).await? {
        Some(_) => StatusCode::OK,
        None => StatusCode::NOT_FOUND,
    })
}

/// Applies update actions to a client and answers it as updated.
#[utoipa::path(post, path = "/api-clients/{id}", tag = "api-clients", request_body = ClientUpdate,
    responses((status = 200, body = ClientRepresentation, description = "the updated client"), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409, description = "the secret was rotated meanwhile"), (status = 415)),
    security(("bearer" = ["manage_api_clients"])))]
pub async fn update_client(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(update): JsonBody<ClientUpdate>,
) -> Result<Response, ApiError> {
    bearer.require(MANAGE, &[], &state.config.project_key)?;
    if !is_plausible_client_id(&id) {
        return Err(not_found(&id));
    }
    if update.actions.len() > MAX_ACTIONS {
        return Err(ApiError::invalid_input(format!(
            "At most {MAX_ACTIONS} update actions."
        )));
    }
    let mut client = state
        .store
        .get_client(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let secret_read = client.secret_hash.clone();
    let detail = format!("{} update action(s)", update.actions.len());
    apply_actions(&mut client, update.actions, state.config.environment)
        .map_err(|e| ApiError::invalid_field(e.to_string()))?;
    // Written only if no rotation came in between (it would be undone).
    if !state
        .store
        .update_client_if_secret(&client, secret_read.as_ref())
        .await?
    {
        return Err(match state.store.get_client(&id).await? {
            Some(_) => ApiError::Conflict(
                "the client's secret was rotated while updating it: read it again and retry".into(),
            ),
            None => not_found(&id),
        });
    }
    // This replica stops using the old client at once; others within the cache's bound.
    state.clients.invalidate(&id);
    tracing::info!(client_id = %id, by = %bearer.token.client_id(), "client updated");
    audit::record(
        &state,
        bearer
            .caller()
            .did(Kind::ClientUpdated)
            .target(&id)
            .detail(detail),
    )
    .await;
    Ok(Json(ClientRepresentation::new(&client, None, state.clock.now())).into_response())
}

/// Deletes a client and answers it as it was.
#[utoipa::path(delete, path = "/api-clients/{id}", tag = "api-clients",
    responses((status = 200, body = ClientRepresentation, description = "the deleted client"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = ["manage_api_clients"])))]
pub async fn delete_client(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    bearer.require(MANAGE, &[], &state.config.project_key)?;
    if !is_plausible_client_id(&id) {
        return Err(not_found(&id));
    }
    let client = state
        .store
        .delete_client(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    state.clients.invalidate(&id);
    state.usage.forget(&id);
    tracing::info!(client_id = %id, by = %bearer.token.client_id(), "client deleted");
    audit::record(&state, bearer.caller().did(Kind::ClientDeleted).target(&id)).await;
    Ok(Json(ClientRepresentation::new(&client, None, state.clock.now())).into_response())
}

// The same endpoints under `/{projectKey}`.

/// `GET /{projectKey}/api-clients`: [`query_clients`] under the project key.
#[utoipa::path(get, path = "/{projectKey}/api-clients", tag = "api-clients",
    params(
        ("projectKey" = String, Path, description = "the project key (`project_key`)"),
        ("limit" = Option<u32>, Query, description = "0 to 500, default 20"),
        ("offset" = Option<u32>, Query, description = "0 to 10000, default 0"),
        ("withTotal" = Option<bool>, Query, description = "default true"),
        ("where" = Option<Vec<String>>, Query, description = "query predicate (repeatable; see docs/api.md)"),
        ("sort" = Option<Vec<String>>, Query, description = "`<field> asc|desc` (repeatable)"),
    ), responses((status = 200, body = PagedClients), (status = 400), (status = 401), (status = 403), (status = 404, description = "no such project")), security(("bearer" = ["view_api_clients"])))]
pub async fn query_project_clients(
    State(state): State<AppState>,
    Path(project): Path<String>,
    bearer: Bearer,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    check_project(&state, &project)?;
    query_clients(State(state), bearer, raw).await
}

/// `HEAD /{projectKey}/api-clients`: [`check_clients_exist`] under the project key.
#[utoipa::path(head, path = "/{projectKey}/api-clients", tag = "api-clients",
    params(
        ("projectKey" = String, Path, description = "the project key (`project_key`)"),
        ("where" = Option<Vec<String>>, Query, description = "query predicate"),
    ),
    responses((status = 200, description = "some client matches"), (status = 400), (status = 401), (status = 403), (status = 404, description = "none matches, or no such project")), security(("bearer" = ["view_api_clients"])))]
pub async fn check_project_clients_exist(
    State(state): State<AppState>,
    Path(project): Path<String>,
    bearer: Bearer,
    raw: RawQuery,
) -> Result<StatusCode, ApiError> {
    check_project(&state, &project)?;
    check_clients_exist(State(state), bearer, raw).await
}

/// `POST /{projectKey}/api-clients`: [`create_client`] under the project key.
#[utoipa::path(post, path = "/{projectKey}/api-clients", tag = "api-clients", params(("projectKey" = String, Path, description = "the project key (`project_key`)")), request_body = ClientDraft, responses((status = 201, body = ClientRepresentation, description = "created; `secret` is shown only here"), (status = 400), (status = 401), (status = 403), (status = 404, description = "no such project"), (status = 413), (status = 415)), security(("bearer" = ["manage_api_clients"])))]
pub async fn create_project_client(
    State(state): State<AppState>,
    Path(project): Path<String>,
    bearer: Bearer,
    body: JsonBody<ClientDraft>,
) -> Result<Response, ApiError> {
    check_project(&state, &project)?;
    create_client(State(state), bearer, body).await
}

/// `GET /{projectKey}/api-clients/{id}`: [`get_client`] under the project key.
#[utoipa::path(get, path = "/{projectKey}/api-clients/{id}", tag = "api-clients", params(("projectKey" = String, Path, description = "the project key (`project_key`)"), ("id" = String, Path, description = "the client id")), responses((status = 200, body = ClientRepresentation), (status = 401), (status = 403), (status = 404)), security(("bearer" = ["view_api_clients"])))]
pub async fn get_project_client(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
    bearer: Bearer,
) -> Result<Response, ApiError> {
    check_project(&state, &project)?;
    get_client(State(state), bearer, Path(id)).await
}

/// `HEAD /{projectKey}/api-clients/{id}`: [`check_client_exists`] under the project key.
#[utoipa::path(head, path = "/{projectKey}/api-clients/{id}", tag = "api-clients", params(("projectKey" = String, Path, description = "the project key (`project_key`)"), ("id" = String, Path, description = "the client id")), responses((status = 200), (status = 401), (status = 403), (status = 404)), security(("bearer" = ["view_api_clients"])))]
pub async fn check_project_client_exists(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
    bearer: Bearer,
) -> Result<StatusCode, ApiError> {
    check_project(&state, &project)?;
    check_client_exists(State(state), bearer, Path(id)).await
}

/// `POST /{projectKey}/api-clients/{id}`: [`update_client`] under the project key.
#[utoipa::path(post, path = "/{projectKey}/api-clients/{id}", tag = "api-clients", params(("projectKey" = String, Path, description = "the project key (`project_key`)"), ("id" = String, Path, description = "the client id")), request_body = ClientUpdate, responses((status = 200, body = ClientRepresentation, description = "the updated client"), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409, description = "the secret was rotated meanwhile"), (status = 415)), security(("bearer" = ["manage_api_clients"])))]
pub async fn update_project_client(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
    bearer: Bearer,
    body: JsonBody<ClientUpdate>,
) -> Result<Response, ApiError> {
    check_project(&state, &project)?;
    update_client(State(state), bearer, Path(id), body).await
}

/// `DELETE /{projectKey}/api-clients/{id}`: [`delete_client`] under the project key.
#[utoipa::path(delete, path = "/{projectKey}/api-clients/{id}", tag = "api-clients", params(("projectKey" = String, Path, description = "the project key (`project_key`)"), ("id" = String, Path, description = "the client id")), responses((status = 200, body = ClientRepresentation), (status = 401), (status = 403), (status = 404)), security(("bearer" = ["manage_api_clients"])))]
pub async fn delete_project_client(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
    bearer: Bearer,
) -> Result<Response, ApiError> {
    check_project(&state, &project)?;
    delete_client(State(state), bearer, Path(id)).await
}
