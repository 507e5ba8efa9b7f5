//! Organization membership through the management API:
//! `PUT /organizations/{org}/members/{user}` `{"role": "OWNER" | "MANAGER" | "VIEWER"}` and
//! `DELETE /organizations/{org}/members/{user}`, both needing `manage_organizations`. A
//! person's token (its holder needs the admin flag for the scope) must also be OWNER of the
//! organization. Removing a member or lowering their role disables their API keys there.

use crate::error::ApiError;
use crate::oauth::bearer::Bearer;
use crate::people::organizations::{self, MemberError};
use crate::platform::http::json::JsonBody;
use crate::platform::http::text::IdPairPath;
use crate::platform::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use castellan_core::user::Role;
use serde::Deserialize;

const MANAGE: &str = "manage_organizations";

/// The routes that set and remove a member's role in an organization.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/organizations/{org}/members/{user}",
        put(set_member_role).delete(remove_member),
    )
}

/// The body of `PUT /organizations/{org}/members/{user}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleBody {
    /// `VIEWER`, `MANAGER` or `OWNER`.
    pub role: String,
}

fn member_error(e: MemberError) -> ApiError {
    match e {
        MemberError::Store(s) => s.into(),
        e @ MemberError::LastOwner => ApiError::Conflict(e.to_string()),
        e @ MemberError::Disabled => ApiError::BadRequest {
            code: "InvalidOperation",
            message: format!("{}.", capitalised(&e.to_string())),
        },
        e => ApiError::NotFound(format!("{}.", capitalised(&e.to_string()))),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Needs the scope; a person must also be OWNER of the organization.
async fn allowed(state: &AppState, bearer: &Bearer, org: &str) -> Result<(), ApiError> {
    bearer.require(MANAGE, &[], &state.config.project_key)?;
    if let Some(person) = &bearer.person {
        if state.store.role_in(org, &person.id).await? != Some(Role::Owner) {
            return Err(ApiError::NotAllowed(
                "Only an OWNER of the organization may change its members.".into(),
            ));
        }
    }
    Ok(())
}

/// `PUT /organizations/{org}/members/{user}`: sets a member's role.
#[utoipa::path(put, path = "/organizations/{org}/members/{user}", tag = "organizations",
    params(("org" = String, Path), ("user" = String, Path)),
    request_body = RoleBody,
    responses(
        (status = 200, description = "`{organizationId, userId, role}`; a lowered role disables the member's API keys there"),
        (status = 400, description = "a bad role, or a disabled person"), (status = 401), (status = 403, description = "the scope is missing, or a person who is not OWNER"),
        (status = 404, description = "no such organization or user"), (status = 409, description = "the organization's last OWNER cannot be demoted"), (status = 413), (status = 415)),
    security(("bearer" = ["manage_organizations"])))]
pub async fn set_member_role(
    State(state): State<AppState>,
    bearer: Bearer,
    IdPairPath(org, user): IdPairPath,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Response, ApiError> {
    allowed(&state, &bearer, &org).await?;
    let role = Role::parse(&body.role)
        .ok_or_else(|| ApiError::invalid_field("role must be OWNER, MANAGER or VIEWER"))?;
    organizations::set_role(&state, &org, &user, role, &bearer.caller())
        .await
        .map_err(member_error)?;
    Ok(Json(serde_json::json!({
        "organizationId": org,
        "userId": user,
        "role": role.as_str(),
    }))
    .into_response())
}

/// `DELETE /organizations/{org}/members/{user}`: removes a member.
#[utoipa::path(delete, path = "/organizations/{org}/members/{user}", tag = "organizations",
    params(("org" = String, Path), ("user" = String, Path)),
    responses(
        (status = 204, description = "removed; their API keys there are disabled"),
        (status = 401), (status = 403), (status = 404, description = "not a member"), (status = 409, description = "the organization's last OWNER cannot be removed")),
    security(("bearer" = ["manage_organizations"])))]
pub async fn remove_member(
    State(state): State<AppState>,
    bearer: Bearer,
    IdPairPath(org, user): IdPairPath,
) -> Result<Response, ApiError> {
    allowed(&state, &bearer, &org).await?;
    organizations::remove_member(&state, &org, &user, &bearer.caller())
        .await
        .map_err(member_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
