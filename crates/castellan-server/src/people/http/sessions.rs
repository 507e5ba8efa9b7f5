//! A person's signed-in sessions: the page `/account/sessions` lists them (device, address,
//! time, which one is this browser) and signs out one or every other; the JSON API on the same
//! path (with an access token carrying `account:read` or `account:write`) lists them, and
//! `DELETE /account/sessions/{id}` (`account:write`) signs one out.

use crate::audit::{self, Caller, Kind};
use crate::error::ApiError;
use crate::oauth::bearer::Bearer;
use crate::people::http::account::csrf_for;
use crate::people::http::connected_apps::{carries_access_token, user_of, READ_SCOPE, WRITE_SCOPE};
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::pages::{render, see_other, PageFailure, SessionLine, SessionsView};
use crate::people::http::session::{Browser, SignedIn};
use crate::people::sessions::{
    clear_session_cookie, end_other_sessions, end_session_by_id, is_plausible_session_id,
};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use castellan_core::Secret;
use castellan_store::people::Session;
use serde::{Deserialize, Serialize};

/// The page's path (shared with the list API).
pub const PATH: &str = "/account/sessions";

/// The page's routes (they get the pages' layers).
pub fn page_routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(get_sessions))
        .route("/account/sessions/end", post(end_session_form))
        .route(
            "/account/sessions/end-others",
            post(end_other_sessions_form),
        )
}

/// The bearer-token route that signs a session out.
pub fn api_routes() -> Router<AppState> {
    Router::new().route("/account/sessions/{id}", delete(end_session_api))
}

/// A session as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// The session's id (`ses_…`).
    pub id: String,
    /// The browser and system it signed in from; empty when unknown.
    pub device: String,
    /// The address it signed in from; empty when unknown.
    pub address: String,
    /// When it signed in (RFC 3339).
    pub signed_in_at: String,
    /// When it ends unless signed out before (RFC 3339).
    pub expires_at: String,
}

impl From<Session> for SessionInfo {
    fn from(s: Session) -> Self {
        SessionInfo {
            id: s.id,
            device: s.device,
            address: s.address,
            signed_in_at: s.auth_time.to_rfc3339(),
            expires_at: s.expires_at.to_rfc3339(),
        }
    }
}

/// What the page says after an action (`?done=…`).
#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// `GET /account/sessions`: with an access token the JSON list, otherwise the page.
pub async fn get_sessions(State(state): State<AppState>, req: Request) -> Response {
    let is_api = carries_access_token(req.headers());
    let (mut parts, _) = req.into_parts();
    if is_api {
        return match Bearer::from_request_parts(&mut parts, &state).await {
            Ok(bearer) => list_sessions_api(State(state), bearer)
                .await
                .into_response(),
            Err(e) => e.into_response(),
        };
    }
    let done = Query::<Done>::from_request_parts(&mut parts, &state)
        .await
        .ok()
        .and_then(|Query(d)| d.done);
    match Browser::from_request_parts(&mut parts, &state).await {
        Ok(browser) => sessions_page(&state, &browser, done.as_deref()).await,
        Err(e) => e.into_response(),
    }
}

/// The sessions page of the signed-in person; others go to `/login`.
async fn sessions_page(state: &AppState, browser: &Browser, done: Option<&str>) -> Response {
    let Some(SignedIn { session, user, .. }) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let listed = match state.store.list_sessions(&user.id, state.clock.now()).await {
        Ok(l) => l,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let sessions = listed
        .into_iter()
        .map(|s| SessionLine {
            current: s.hash == session.hash,
            device: if s.device.is_empty() {
                "Unknown device".to_owned()
            } else {
                s.device
            },
            address: if s.address.is_empty() {
                "—".to_owned()
            } else {
                s.address
            },
            signed_in: s.auth_time.format("%Y-%m-%d %H:%M").to_string(),
            id: s.id,
        })
        .collect();
    let notice = match done {
        Some("one") => Some("That session was signed out."),
        Some("others") => Some("Every other session was signed out."),
        _ => None,
    };
    let (csrf, cookies) = csrf_for(state, browser);
    render(
        StatusCode::OK,
        &SessionsView {
            csrf,
            sessions,
            notice,
        },
        cookies,
    )
}

/// The form that signs one session out: the CSRF token and the session's id.
#[derive(Debug, Deserialize)]
pub struct EndForm {
    csrf: Option<Secret>,
    session: Option<String>,
}

/// `POST /account/sessions/end`: signs out one of the person's sessions; their own
/// (this browser's) signs them out here too.
pub async fn end_session_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<EndForm>,
) -> Response {
    let Some(SignedIn { session, user, .. }) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let Some(id) = form.session.filter(|id| is_plausible_session_id(id)) else {
        return PageFailure::NotFound.into_response();
    };
    let ended = end_session_by_id(&state, &user.id, &id).await;
    if let Ok(true) = ended {
        let by = Caller::person(&user.id, Some(ip));
        audit::record(
            &state,
            by.did(Kind::SessionsEnded)
                .target(&id)
                .detail("one session"),
        )
        .await;
    }
    match ended {
        Ok(true) if id == session.id => see_other("/login", vec![clear_session_cookie(&state)]),
        Ok(true) => see_other("/account/sessions?done=one", Vec::new()),
        Ok(false) => PageFailure::NotFound.into_response(),
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// The form that signs out every other session: the CSRF token.
#[derive(Debug, Deserialize)]
pub struct EndOthersForm {
    csrf: Option<Secret>,
}

/// `POST /account/sessions/end-others`: signs out every session of the person but this one.
pub async fn end_other_sessions_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form: _ }: CsrfForm<EndOthersForm>,
) -> Response {
    let Some(SignedIn { session, user, .. }) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    match end_other_sessions(&state, &user.id, &session.hash).await {
        Ok(ended) => {
            let by = Caller::person(&user.id, Some(ip));
            audit::record(
                &state,
                by.did(Kind::SessionsEnded)
                    .target(&user.id)
                    .detail(format!("{ended} other session(s)")),
            )
            .await;
            see_other("/account/sessions?done=others", Vec::new())
        }
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// `GET /account/sessions` with an access token: the person's live sessions, newest first.
#[utoipa::path(get, path = "/account/sessions", tag = "account",
    responses((status = 200, description = "`{count, results}`: the person's signed-in sessions, newest first", body = Vec<SessionInfo>), (status = 303, description = "without a token: the sessions page, which sends a browser to sign in first"), (status = 401, description = "not a person's token"), (status = 403)),
    security(("bearer" = ["account:read"])))]
pub async fn list_sessions_api(
    State(state): State<AppState>,
    bearer: Bearer,
) -> Result<Response, ApiError> {
    let user_id = user_of(&bearer, &[READ_SCOPE, WRITE_SCOPE])?;
    let sessions: Vec<SessionInfo> = state
        .store
        .list_sessions(user_id, state.clock.now())
        .await?
        .into_iter()
        .map(SessionInfo::from)
        .collect();
    Ok(Json(serde_json::json!({"count": sessions.len(), "results": sessions})).into_response())
}

/// `DELETE /account/sessions/{id}`: signs one of the person's sessions out.
#[utoipa::path(delete, path = "/account/sessions/{id}", tag = "account",
    params(("id" = String, Path, description = "the session's id (`ses_…`)")),
    responses((status = 204, description = "signed out"), (status = 401), (status = 403), (status = 404, description = "the person has no session with this id")),
    security(("bearer" = ["account:write"])))]
pub async fn end_session_api(
    State(state): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user_id = user_of(&bearer, &[WRITE_SCOPE])?;
    if !is_plausible_session_id(&id) || !end_session_by_id(&state, user_id, &id).await? {
        return Err(ApiError::NotFound(
            "You have no signed-in session with this id.".into(),
        ));
    }
    audit::record(
        &state,
        bearer
            .caller()
            .did(Kind::SessionsEnded)
            .target(&id)
            .detail(format!(
                "one session, by client {}",
                bearer.token.client_id()
            )),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl PageForm for EndForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

impl PageForm for EndOthersForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}
