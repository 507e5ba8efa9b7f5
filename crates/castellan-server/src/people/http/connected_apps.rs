//! The connected-apps API: `GET /account/connected-apps` lists the apps the user
//! behind a bearer access token consented to (scope `account:read` or `account:write`);
//! `DELETE /account/connected-apps/{consent_id}` revokes one (scope `account:write`), ending
//! its refresh tokens and the access tokens issued from them.
//!
//! The list shares its path with the account page of the same name: [`get_connected_apps`]
//! answers a request carrying `Authorization: Bearer` with [`list_connected_apps_api`], and
//! every other request with the page.

use crate::error::ApiError;
use crate::oauth::bearer::Bearer;
use crate::people::connected_apps::{list_connected_apps, revoke_connected_app};
use crate::people::http::account;
use crate::people::http::session::Browser;
use crate::platform::state::AppState;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::delete;
use axum::{Json, Router};
use serde_json::json;

/// The scope that lets a token list the person's connected apps.
pub const READ_SCOPE: &str = "account:read";
/// The scope that lets a token list and revoke the person's connected apps.
pub const WRITE_SCOPE: &str = "account:write";
/// The list's path (shared with the account page).
pub const PATH: &str = "/account/connected-apps";

/// The bearer-token route that revokes a connected app.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/account/connected-apps/{consent_id}",
        delete(revoke_connected_app_api),
    )
}

/// `GET /account/connected-apps`: with an access token (`Bearer` or `DPoP`), the JSON API;
/// otherwise the account page (which then carries the pages' headers, harmless on the JSON
/// answer too).
pub async fn get_connected_apps(State(state): State<AppState>, req: Request) -> Response {
    let is_api = carries_access_token(req.headers());
    let (mut parts, _) = req.into_parts();
    if !is_api {
        return match Browser::from_request_parts(&mut parts, &state).await {
            Ok(browser) => account::list_connected_apps(State(state), browser).await,
            Err(e) => e.into_response(),
        };
    }
    match Bearer::from_request_parts(&mut parts, &state).await {
        Ok(bearer) => list_connected_apps_api(State(state), bearer)
            .await
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Whether a request carries an access token (`Authorization: Bearer` or `DPoP`): on a path
/// an account page shares with its JSON API, such a request is the API's.
pub(crate) fn carries_access_token(headers: &HeaderMap) -> bool {
    headers.get(AUTHORIZATION).is_some_and(|v| {
        let v = v.as_bytes();
        (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer "))
            || (v.len() > 5 && v[..5].eq_ignore_ascii_case(b"dpop "))
    })
}

/// The user behind the token, if it is a user's token carrying one of `scopes`.
pub(crate) fn user_of<'a>(bearer: &'a Bearer, scopes: &[&str]) -> Result<&'a str, ApiError> {
    if bearer.token.family().is_none() {
        return Err(ApiError::Unauthorized(
            "This API needs an access token issued to a user.".into(),
        ));
    }
    if !scopes.iter().any(|s| bearer.scopes.contains_str(s)) {
        return Err(ApiError::Forbidden {
            needed: scopes.join(" or "),
        });
    }
    Ok(bearer.token.subject())
}

/// `GET /account/connected-apps` with a bearer token: the person's connected apps as JSON
/// (without one, the account page).
#[utoipa::path(get, path = "/account/connected-apps", tag = "account",
    responses((status = 200, description = "`{count, results}`: the person's connected apps"), (status = 303, description = "without a token: the account page, which sends a browser to sign in first"), (status = 401, description = "not a person's token"), (status = 403)),
    security(("bearer" = ["account:read"])))]
pub async fn list_connected_apps_api(
    State(state): State<AppState>,
    bearer: Bearer,
) -> Result<Response, ApiError> {
    let user_id = user_of(&bearer, &[READ_SCOPE, WRITE_SCOPE])?;
    let apps = list_connected_apps(&state, user_id).await?;
    Ok(Json(json!({"count": apps.len(), "results": apps})).into_response())
}

/// `DELETE /account/connected-apps/{consent_id}`: revokes a consent and its tokens.
#[utoipa::path(delete, path = "/account/connected-apps/{consent_id}", tag = "account",
    responses((status = 204, description = "revoked, with every token of it"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = ["account:write"])))]
pub async fn revoke_connected_app_api(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(consent_id): Path<String>,
) -> Result<Response, ApiError> {
    let user_id = user_of(&bearer, &[WRITE_SCOPE])?;
    if !castellan_core::ids::is_plausible_client_id(&consent_id)
        || !revoke_connected_app(&state, user_id, &consent_id, &bearer.caller()).await?
    {
        return Err(ApiError::NotFound(
            "You have no connected app with this id.".into(),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
