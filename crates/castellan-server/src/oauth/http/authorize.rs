//! `GET /oauth/authorize` (RFC 6749 §4.1.1): validates the request, then shows the
//! login page, the consent page, or sends the browser back to the client.

use crate::oauth::authorize::{error_location, validate, AuthorizeError};
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
        Ok(Step::Login) => allow_form_redirect_to(
            login_page(
                &state,
                &browser,
                StatusCode::OK,
                &req.query,
                Some(req.client.name.clone()),
                String::new(),
                None,
            ),
            &req.redirect_uri,
        ),
        Ok(Step::SecondFactor) => allow_form_redirect_to(
            second_factor_page(
                &state,
                &browser,
                StatusCode::OK,
                &req.query,
                None,
                Vec::new(),
            ),
            &req.redirect_uri,
        ),
        Ok(Step::Consent(orgs)) => match &browser.signed_in {
            Some(signed_in) => consent_page(&state, &browser, signed_in, &req, orgs),
            None => PageFailure::Unavailable.into_response(),
        },
        Ok(Step::Redirect(location)) => found(&location, Vec::new()),
        Err(e) => authorize_failure(&state, e),
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
