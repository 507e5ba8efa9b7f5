//! `GET /oauth/authorize` (RFC 6749 §4.1.1): validates the request, then shows the
//! login page, the consent page, or sends the browser back to the client.

use crate::oauth::authorize::{error_location, validate, AuthorizeError, AuthorizeRequest};
use crate::oauth::consent::{next_step, Step};
use crate::oauth::http::consent::consent_page;
use crate::people::http::login::login_page;
use crate::people::http::pages::{allow_form_redirect_to, found, PageFailure};
use crate::people::http::second_factor::second_factor_page;
use crate::people::http::session::Browser;
use crate::platform::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `GET /oauth/authorize`: the authorization endpoint (RFC 6749 §4.1.1).
pub async fn get_authorize(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    browser: Browser,
) -> Response {
    let req = match validate(&state, query.as_deref().unwrap_or("")).await {
        Ok(r) => r,
        Err(e) => return authorize_failure(&state, e),
    };
    let session = browser.signed_in.as_ref().map(|s| &s.session);
    match next_step(&state, &req, session).await {
        Ok(Step::Consent(orgs)) => match &browser.signed_in {
            Some(signed_in) => consent_page(&state, &browser, signed_in, &req, orgs),
            None => PageFailure::Unavailable.into_response(),
        },
        Ok(step) => step_page(&state, &browser, &req, step),
        Err(e) => authorize_failure(&state, e),
    }
}

/// The page of a step before consent: the login page, the second-factor page, or the redirect
/// back to the client (the consent page is the caller's).
pub fn step_page(
    state: &AppState,
    browser: &Browser,
    req: &AuthorizeRequest,
    step: Step,
) -> Response {
    match step {
        Step::Login => allow_form_redirect_to(
            login_page(
                state,
                browser,
                StatusCode::OK,
                &req.query,
                Some(req.client.name.clone()),
                String::new(),
                None,
            ),
            &req.redirect_uri,
        ),
        Step::SecondFactor(factors) => allow_form_redirect_to(
            second_factor_page(
                state,
                browser,
                StatusCode::OK,
                &req.query,
                factors,
                None,
                Vec::new(),
            ),
            &req.redirect_uri,
        ),
        Step::Redirect(location) => found(&location, Vec::new()),
        Step::Consent(_) => PageFailure::Unavailable.into_response(),
    }
}

/// An invalid request: an error page when the client or redirect URI cannot be trusted,
/// otherwise the error at the client's redirect URI.
pub fn authorize_failure(state: &AppState, e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Untrusted(message) => PageFailure::BadRequest(message).into_response(),
        AuthorizeError::Redirect(r) => found(&error_location(state, &r), Vec::new()),
        AuthorizeError::Store(e) => PageFailure::from(e).into_response(),
    }
}
