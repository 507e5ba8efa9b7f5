//! The `end_session_endpoint` (OpenID Connect RP-Initiated Logout 1.0, see `oauth::logout`):
//! `GET` or `POST /oauth/logout` signs out a browser signed in as the person its
//! `id_token_hint` names at once, and otherwise asks first (`POST /oauth/logout/confirm`, a
//! CSRF-checked form); then back to the client's registered `post_logout_redirect_uri` with
//! its `state`, or a page saying the person is signed out.

use crate::oauth::logout::{parameters, validate_logout, LogoutError, LogoutRequest};
use crate::people::http::account::csrf_for;
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::pages::{allow_form_redirect_to, render, see_other, PageFailure};
use crate::people::http::session::Browser;
use crate::people::sessions::{clear_session_cookie, end_session};
use crate::platform::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use castellan_core::Secret;
use serde::Deserialize;

/// The endpoint's path.
pub const PATH: &str = "/oauth/logout";
/// Where the confirmation form posts.
pub const CONFIRM_PATH: &str = "/oauth/logout/confirm";

/// The confirmation page, and the page after signing out.
#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutView {
    /// The CSRF token of the form.
    pub csrf: String,
    /// Whether the person is signed out already (the page after), rather than asked.
    pub done: bool,
    /// The client's name, when the request names one.
    pub client_name: Option<String>,
    /// The client's id, carried through the form.
    pub client_id: String,
    /// Where to go afterwards, carried through the form.
    pub post_logout_redirect_uri: String,
    /// The client's `state`, carried through the form.
    pub state: String,
}

fn failure(e: LogoutError) -> Response {
    match e {
        LogoutError::Invalid(m) => PageFailure::BadRequest(m).into_response(),
        LogoutError::Store(e) => PageFailure::from(e).into_response(),
    }
}

/// `GET /oauth/logout`.
pub async fn get_logout(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    browser: Browser,
) -> Response {
    logout(&state, &browser, query.as_deref().unwrap_or(""), false).await
}

/// `POST /oauth/logout` (a form body, §2). A form posted from the relying party's site
/// carries no session cookie (SameSite=Lax): the browser is sent on to `GET /oauth/logout`
/// with the same parameters, a top-level navigation that carries it, so the session it has
/// here is found and ended rather than missed.
pub async fn post_logout(
    State(state): State<AppState>,
    browser: Browser,
    body: String,
) -> Response {
    if browser.signed_in.is_none() {
        let params = match parameters(&body) {
            Ok(p) => p,
            Err(e) => return failure(e),
        };
        // Re-encoded from what was parsed: nothing but the parameters reaches the Location.
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(params.iter());
        return see_other(&format!("{PATH}?{}", query.finish()), Vec::new());
    }
    logout(&state, &browser, &body, true).await
}

async fn logout(state: &AppState, browser: &Browser, raw: &str, posted: bool) -> Response {
    let req = match parameters(raw) {
        Ok(params) => match validate_logout(state, &params).await {
            Ok(r) => r,
            Err(e) => return failure(e),
        },
        Err(e) => return failure(e),
    };
    match &browser.signed_in {
        // The hint was issued in this browser's session: signed out at once.
        Some(s)
            if req.hinted_user.as_deref() == Some(s.user.id.as_str())
                && req.hinted_session.as_deref() == Some(s.session.id.as_str()) =>
        {
            if let Err(e) = end_session(state, &s.cookie).await {
                return PageFailure::from(e).into_response();
            }
            finish(
                state,
                browser,
                &req,
                posted,
                vec![clear_session_cookie(state)],
            )
        }
        // No hint, or one for someone else: the person decides.
        Some(_) => {
            let page = page(state, browser, &req, false, Vec::new());
            match &req.post_logout_redirect_uri {
                Some(uri) => allow_form_redirect_to(page, uri),
                None => page,
            }
        }
        // Not signed in here: nothing to end.
        None => finish(state, browser, &req, posted, Vec::new()),
    }
}

fn page(
    state: &AppState,
    browser: &Browser,
    req: &LogoutRequest,
    done: bool,
    mut cookies: Vec<String>,
) -> Response {
    let (csrf, set) = csrf_for(state, browser);
    cookies.extend(set);
    let view = LogoutView {
        csrf,
        done,
        client_name: req.client.as_ref().map(|c| c.name.clone()),
        client_id: req
            .client
            .as_ref()
            .map(|c| c.id.clone())
            .unwrap_or_default(),
        post_logout_redirect_uri: req.post_logout_redirect_uri.clone().unwrap_or_default(),
        state: req.state.clone().unwrap_or_default(),
    };
    render(StatusCode::OK, &view, cookies)
}

/// Back to the client's registered URI with its `state` (303 after a form, 302 after a
/// redirect, as for authorization answers), or the signed-out page.
fn finish(
    state: &AppState,
    browser: &Browser,
    req: &LogoutRequest,
    posted: bool,
    cookies: Vec<String>,
) -> Response {
    let Some(uri) = &req.post_logout_redirect_uri else {
        return page(state, browser, req, true, cookies);
    };
    let location = match &req.state {
        Some(s) => crate::oauth::authorize::redirect_with(uri, &[("state", s)]),
        None => uri.clone(),
    };
    let mut res = see_other(&location, cookies);
    if !posted {
        *res.status_mut() = StatusCode::FOUND;
    }
    res
}

/// The confirmation form.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    csrf: Option<Secret>,
    decision: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

impl PageForm for ConfirmForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

/// `POST /oauth/logout/confirm`: `decision=sign-out` ends the session and goes on as the
/// request asked; `decision=stay` keeps it and goes to `/account`.
pub async fn post_confirm(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<ConfirmForm>,
) -> Response {
    // The carried fields are checked again, as a request of their own.
    let mut params = std::collections::BTreeMap::new();
    for (k, v) in [
        ("client_id", &form.client_id),
        ("post_logout_redirect_uri", &form.post_logout_redirect_uri),
        ("state", &form.state),
    ] {
        if let Some(v) = v {
            params.insert(k.to_owned(), v.clone());
        }
    }
    let req = match validate_logout(&state, &params).await {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    match form.decision.as_deref() {
        Some("sign-out") => {
            let mut cookies = Vec::new();
            if let Some(s) = &browser.signed_in {
                if let Err(e) = end_session(&state, &s.cookie).await {
                    return PageFailure::from(e).into_response();
                }
                cookies.push(clear_session_cookie(&state));
            }
            finish(&state, &browser, &req, true, cookies)
        }
        Some("stay") => see_other("/account", Vec::new()),
        _ => PageFailure::BadRequest("Choose to sign out or to stay signed in.".into())
            .into_response(),
    }
}
