//! Changing one's password from the account area (`/account/password`): the current password
//! is checked as a sign-in is (Argon2id, counted against the per-IP `login` policy and the
//! account's sign-in delays, so the form cannot be used to guess it faster than the login page;
//! a wrong one is a `sign_in.failed` audit event), the new one hashed with Argon2id, and in the
//! same transaction every session of the person ends and, unless the person unticks it, every
//! grant (the refresh tokens of the apps they allowed) and API key of theirs. The browser that
//! changed it is signed in again with a new session (a stolen copy of its old cookie is
//! worthless too) and sent back to the page (303).

use crate::audit::{self, Caller, Kind};
use crate::people::http::account::csrf_for;
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::pages::{render, see_other, PageFailure, PasswordView};
use crate::people::http::session::{cookie, Browser, SignedIn};
use crate::people::known_device;
use crate::people::login::{audit_sign_in, sign_in, LoginError};
use crate::people::passwords::{hash_password, PasswordError};
use crate::people::sessions::{
    csrf_cookie, session_cookie, start_session_with, SessionTimes, SignInPlace,
};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use castellan_core::Secret;
use serde::Deserialize;

/// The page's path.
pub const PATH: &str = "/account/password";

/// `?changed=1`: the page after a change.
#[derive(Debug, Default, Deserialize)]
pub struct Changed {
    changed: Option<String>,
}

/// `GET /account/password`: the form; others go to `/login`.
pub async fn get_password(
    State(state): State<AppState>,
    browser: Browser,
    Query(changed): Query<Changed>,
) -> Response {
    if browser.signed_in.is_none() {
        return see_other("/login", Vec::new());
    }
    let changed = changed.changed.as_deref() == Some("1");
    page(&state, &browser, StatusCode::OK, None, changed)
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
    end_grants: Option<String>,
}

/// `POST /account/password`: checks the current password, sets the new one and ends every
/// other session of the person.
pub async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    CsrfForm { browser, form }: CsrfForm<PasswordForm>,
) -> Response {
    let Some(SignedIn { user, session, .. }) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let refuse = |status, message| page(&state, &browser, status, Some(message), false);
    // Every attempt counts against the per-IP `login` policy, as a sign-in does: each one
    // costs an Argon2id computation.
    let limiting = &state.rate_limiting;
    if let Err(limited) = limiting
        .check(&limiting.limits.per_ip.login, &ip.limit_key())
        .await
    {
        if limited.backend_unavailable() {
            return PageFailure::Unavailable.into_response();
        }
        let mut res = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts from your network; wait a minute and try again.",
        );
        crate::error::rate_limit::render(&mut res, limited.decision(), limited.style());
        if let Some(s) = limited.decision().retry_after_seconds {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        return res;
    }
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
    let checked = sign_in(&state, &user.email, current, &ip.limit_key(), device).await;
    if matches!(checked, Err(LoginError::Invalid | LoginError::Disabled)) {
        audit_sign_in(&state, &user.email, &checked, ip.0, "password page").await;
    }
    match checked {
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
    // Every session ends, this one too: the browser that changed it gets a new one, so a
    // stolen copy of its cookie is worthless as well.
    let now = state.clock.now();
    let end_grants = form.end_grants.is_some();
    match state
        .store
        .set_user_password(&user.id, &hash, None, end_grants.then_some(now))
        .await
    {
        Ok(true) => {}
        Ok(false) => return see_other("/login", Vec::new()),
        Err(e) => return PageFailure::from(e).into_response(),
    }
    if end_grants {
        state.token_checks.revoked_here();
        state.api_keys.forget_all();
    }
    // Every session ended with the change: their clients are told (back-channel logout).
    crate::oauth::backchannel_logout::person_sessions_ended(&state, &user.id);
    tracing::info!(event = "password_changed", user_id = %user.id, end_grants, "a person changed their password");
    let ended = if end_grants {
        "every session, grant and API key ended"
    } else {
        "every session ended"
    };
    audit::record(
        &state,
        Caller::person(&user.id, Some(ip.0))
            .did(Kind::PasswordChanged)
            .target(&user.id)
            .detail(format!("on the account page; {ended}")),
    )
    .await;
    let place = SignInPlace {
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        address: ip.0,
    };
    // The password was just proved again; the new session keeps when the person signed in
    // (and so how), as a second factor of theirs was proved then, not now.
    let times = SessionTimes {
        auth_time: session.auth_time,
        expires_at: now + chrono::Duration::seconds(i64::from(state.config.pages.session_seconds)),
    };
    match start_session_with(&state, &user.id, times, session.amr, place, None).await {
        Ok(id) => see_other(
            &format!("{PATH}?changed=1"),
            vec![
                session_cookie(&state, &id),
                csrf_cookie(&state, &crate::people::csrf::new_cookie_token()),
            ],
        ),
        Err(e) => PageFailure::from(e).into_response(),
    }
}

impl PageForm for PasswordForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}
