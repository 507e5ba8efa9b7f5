//! Changing one's password from the account area (`/account/password`): the current password
//! is checked as a sign-in is (Argon2id, counted against the account's sign-in delays, so the
//! form cannot be used to guess it faster than the login page), the new one hashed with
//! Argon2id, and every other session of the person ends in the same transaction; the browser
//! that changed it stays signed in.

use crate::audit::{self, Caller, Kind};
use crate::people::http::account::csrf_for;
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::pages::{render, see_other, PageFailure, PasswordView};
use crate::people::http::session::{cookie, Browser, SignedIn};
use crate::people::known_device;
use crate::people::login::{sign_in, LoginError};
use crate::people::passwords::{hash_password, PasswordError};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use castellan_core::Secret;
use serde::Deserialize;

/// The page's path.
pub const PATH: &str = "/account/password";

/// `GET /account/password`: the form; others go to `/login`.
pub async fn get_password(State(state): State<AppState>, browser: Browser) -> Response {
    if browser.signed_in.is_none() {
        return see_other("/login", Vec::new());
    }
    page(&state, &browser, StatusCode::OK, None, false)
}

fn page(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    error: Option<&'static str>,
    changed: bool,
) -> Response {
    let (csrf, cookies) = csrf_for(state, browser);
    render(
        status,
        &PasswordView {
            csrf,
            error,
            changed,
        },
        cookies,
    )
}

/// The form: the CSRF token, the current password and the new one twice.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    csrf: Option<Secret>,
    current: Option<Secret>,
    new: Option<Secret>,
    confirm: Option<Secret>,
}

/// `POST /account/password`: checks the current password, sets the new one and ends every
/// other session of the person.
pub async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    CsrfForm { browser, form }: CsrfForm<PasswordForm>,
) -> Response {
    let Some(SignedIn { session, user, .. }) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let refuse = |status, message| page(&state, &browser, status, Some(message), false);
    let (Some(current), Some(new), Some(confirm)) = (form.current, form.new, form.confirm) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Fill in your current password and the new one twice.",
        );
    };
    if new.expose() != confirm.expose() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The two new passwords differ; type the same one twice.",
        );
    }
    let device = cookie(
        &headers,
        known_device::cookie_name(state.config.environment),
    );
    match sign_in(&state, &user.email, current, &ip.limit_key(), device).await {
        Ok(checked) if checked.id == user.id => {}
        Ok(_) | Err(LoginError::Invalid) => {
            return refuse(StatusCode::BAD_REQUEST, "Your current password is wrong.");
        }
        Err(LoginError::Disabled) => return see_other("/login", Vec::new()),
        Err(LoginError::Throttled(delayed)) if delayed.unavailable => {
            return PageFailure::Unavailable.into_response();
        }
        Err(LoginError::Throttled(delayed)) => {
            let mut res = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts with a wrong password; wait a little and try again.",
            );
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(delayed.retry_after_seconds),
            );
            return res;
        }
        Err(LoginError::Store(e)) => return PageFailure::from(e).into_response(),
    }
    let hash = match hash_password(new).await {
        Ok(h) => h,
        Err(PasswordError::Length) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "The new password must be 8 to 1024 characters long.",
            );
        }
        Err(PasswordError::Hash) => return PageFailure::Unavailable.into_response(),
    };
    match state
        .store
        .set_user_password(&user.id, &hash, Some(&session.hash))
        .await
    {
        Ok(true) => {
            tracing::info!(event = "password_changed", user_id = %user.id, "a person changed their password");
            audit::record(
                &state,
                Caller::person(&user.id, Some(ip.0))
                    .did(Kind::PasswordChanged)
                    .target(&user.id)
                    .detail("on the account page; every other session ended"),
            )
            .await;
            page(&state, &browser, StatusCode::OK, None, true)
        }
        Ok(false) => see_other("/login", Vec::new()),
        Err(e) => PageFailure::from(e).into_response(),
    }
}

impl PageForm for PasswordForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}
