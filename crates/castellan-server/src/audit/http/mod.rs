//! The audit log over HTTP: `GET /audit-events` (a token with `view_audit_log`, plain or
//! `:{projectKey}`) answers every event, filtered and paged; the page `/account/audit` shows
//! an organization OWNER the events of the organizations they own.

mod page;

use crate::audit::Kind;
use crate::error::ApiError;
use crate::oauth::bearer::Bearer;
use crate::platform::http::text::CleanQuery;
use crate::platform::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use castellan_store::audit::{AuditEvent, AuditQuery};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use page::get_audit_page;

/// The scope that reads the audit log.
pub const VIEW: &str = "view_audit_log";
/// The owner's page.
pub const PAGE_PATH: &str = "/account/audit";

/// The API's route and the owner's page (with the pages' layers).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit-events", get(list_audit_events))
        .merge(crate::people::http::pages::as_pages(
            Router::new().route(PAGE_PATH, get(get_audit_page)),
        ))
}

/// The filters and paging of `GET /audit-events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AuditParams {
    /// One event type (`api_key.revoked`) or a family of them (`api_key.*`).
    #[serde(default, rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// The actor's id (a person, a client, an operator's name).
    #[serde(default)]
    pub actor: Option<String>,
    /// The organization the events concern.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// Events at or after this instant (RFC 3339).
    #[serde(default)]
    pub since: Option<String>,
    /// Events before this instant (RFC 3339).
    #[serde(default)]
    pub until: Option<String>,
    /// Most events answered (default 20, at most 500).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Events skipped before the first answered (at most 10 000).
    #[serde(default)]
    pub offset: Option<u32>,
}

/// Who caused an event, as answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActorRepresentation {
    /// `person`, `client`, `operator` or `system`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Their id (empty when unknown).
    pub id: String,
}

/// One event, as answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventRepresentation {
    /// The event's id.
    pub id: String,
    /// When it happened (RFC 3339).
    pub at: String,
    /// What happened (`client.created`, `sign_in.failed` …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Who caused it.
    pub actor: ActorRepresentation,
    /// The organization it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The address the request came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `success` or `failure`.
    pub outcome: &'static str,
    /// The id of what was acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A short plain detail.
    pub detail: String,
}

impl From<AuditEvent> for AuditEventRepresentation {
    fn from(e: AuditEvent) -> Self {
        AuditEventRepresentation {
            id: e.id,
            at: e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            kind: e.kind,
            actor: ActorRepresentation {
                kind: e.actor_kind.as_str(),
                id: e.actor_id,
            },
            organization_id: e.organization_id,
            address: e.address,
            outcome: e.outcome.as_str(),
            target: e.target,
            detail: e.detail,
        }
    }
}

/// One page of events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PagedAuditEvents {
    /// The page size asked for.
    pub limit: u32,
    /// Events skipped.
    pub offset: u32,
    /// Events in this page.
    pub count: usize,
    /// Events matching in all.
    pub total: u64,
    /// The events, newest first.
    pub results: Vec<AuditEventRepresentation>,
}

/// The instant a filter names, or a 400 naming the parameter.
fn instant(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::invalid_input(format!(
                        "`{name}` must be an RFC 3339 instant such as 2026-01-31T00:00:00Z."
                    ))
                })
        })
        .transpose()
}

/// The store query of a filter's parameters (`type`, `actor`, `since`, `until`; the
/// organization is the caller's to set), or a 400 naming what is wrong.
pub fn query_of(
    kind: Option<&str>,
    actor: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<AuditQuery, ApiError> {
    let kinds = match kind.filter(|k| !k.is_empty()) {
        Some(k) => Kind::matching(k)
            .ok_or_else(|| {
                ApiError::invalid_input(format!(
                    "`type` must name an event type or a family such as `api_key.*`; known types: {}.",
                    Kind::ALL.map(Kind::as_str).join(", ")
                ))
            })?
            .into_iter()
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    if actor.is_some_and(|a| a.len() > 255) {
        return Err(ApiError::invalid_input(
            "`actor` is at most 255 characters.",
        ));
    }
    Ok(AuditQuery {
        kinds,
        actor_id: actor.filter(|a| !a.is_empty()).map(str::to_owned),
        since: instant("since", since)?,
        until: instant("until", until)?,
        ..AuditQuery::default()
    })
}

/// `GET /audit-events`: one page of the audit log, newest first.
#[utoipa::path(get, path = "/audit-events", tag = "audit", params(AuditParams),
    responses((status = 200, body = PagedAuditEvents), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = ["view_audit_log"])))]
pub async fn list_audit_events(
    State(state): State<AppState>,
    bearer: Bearer,
    CleanQuery(params): CleanQuery<AuditParams>,
) -> Result<Response, ApiError> {
    bearer.require(VIEW, &[], &state.config.project_key)?;
    let mut query = query_of(
        params.kind.as_deref(),
        params.actor.as_deref(),
        params.since.as_deref(),
        params.until.as_deref(),
    )?;
    if params
        .organization_id
        .as_ref()
        .is_some_and(|o| o.len() > 255)
    {
        return Err(ApiError::invalid_input(
            "`organizationId` is at most 255 characters.",
        ));
    }
    query.organization_id = params.organization_id.filter(|o| !o.is_empty());
    let limit = params.limit.unwrap_or(20).clamp(1, 500);
    let offset = params.offset.unwrap_or(0).min(10_000);
    let (events, total) = state.store.list_audit_events(&query, limit, offset).await?;
    let results: Vec<AuditEventRepresentation> = events
        .into_iter()
        .map(AuditEventRepresentation::from)
        .collect();
    Ok(Json(PagedAuditEvents {
        limit,
        offset,
        count: results.len(),
        total,
        results,
    })
    .into_response())
}
