//! The account area: the signed-in home, connected apps (consents) with their
//! revocation, and sign-out. Pages need a session; without one they send the browser to
//! `/login`. Every POST is CSRF-checked.

use crate::audit::Caller;
use crate::oauth::consent::describe;
use crate::people::connected_apps;
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::pages::{
    render, see_other, AccountView, ConnectedAppLine, ConnectedAppsView, PageFailure,
};
use crate::people::http::session::{Browser, SignedIn};
use crate::people::login::{audit_sign_in, sign_in, LoginError};
use crate::people::sessions::{clear_session_cookie, csrf_cookie, end_session};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use castellan_core::{ScopeSet, Secret};
use serde::Deserialize;

/// The CSRF token of a page and the cookie to set when it is new.
pub(crate) fn csrf_for(state: &AppState, browser: &Browser) -> (String, Vec<String>) {
    let (token, new) = browser.page_csrf();
    let cookies = if new {
        vec![csrf_cookie(state, &token)]
    } else {
        Vec::new()
    };
    (token, cookies)
}

/// What the account page says after asking for a verification link (`?verify=…`).
#[derive(Debug, Default, Deserialize)]
pub struct AccountQuery {
    verify: Option<String>,
}

/// `GET /account`: the signed-in person's account page; others go to `/login`.
pub async fn get_account(
    State(state): State<AppState>,
    browser: Browser,
    Query(q): Query<AccountQuery>,
) -> Response {
    let Some(SignedIn { user, .. }) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let notice = match q.verify.as_deref() {
        Some("sent") => {
            Some("A link to verify your address is on its way: open it from your mail.")
        }
        Some("nomail") => {
            Some("This server sends no mail, so your address cannot be verified here.")
        }
        Some("failed") => Some("The mail could not be sent; try again later."),
        Some("soon") => {
            Some("A link was sent a moment ago: check your mail, or ask again in a few minutes.")
        }
        _ => None,
    };
    let (csrf, cookies) = csrf_for(&state, &browser);
    let view = AccountView {
        csrf,
        name: user.name.clone(),
        email: user.email.clone(),
        email_verified: user.email_verified_at.is_some(),
        notice,
    };
    render(StatusCode::OK, &view, cookies)
}

/// The connected-apps page of the signed-in person; others go to `/login`.
pub async fn list_connected_apps(State(state): State<AppState>, browser: Browser) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let apps = match app_lines(&state, &signed_in.user.id).await {
        Ok(a) => a,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let (csrf, cookies) = csrf_for(&state, &browser);
    render(StatusCode::OK, &ConnectedAppsView { csrf, apps }, cookies)
}

/// The person's consents with the names of their clients and organizations.
async fn app_lines(
    state: &AppState,
    user_id: &str,
) -> Result<Vec<ConnectedAppLine>, castellan_store::StoreError> {
    Ok(connected_apps::list_connected_apps(state, user_id)
        .await?
        .into_iter()
        .map(|app| ConnectedAppLine {
            scopes: describe(
                &state.config,
                &ScopeSet::parse(&app.scope).unwrap_or_default(),
            ),
            organization: app
                .organization_name
                .or(app.organization_id)
                .unwrap_or_else(|| "—".to_owned()),
            date: app.created_at.get(..10).unwrap_or_default().to_owned(),
            id: app.id,
            client_name: app.client_name,
        })
        .collect())
}

/// The form that revokes a connected app: the CSRF token and the consent id.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    csrf: Option<Secret>,
    consent: Option<String>,
}

/// `POST /account/connected-apps/revoke`: revokes a consent and its tokens.
pub async fn revoke_connected_app(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<RevokeForm>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let Some(id) = form
        .consent
        .filter(|c| castellan_core::ids::is_plausible_client_id(c))
    else {
        return PageFailure::NotFound.into_response();
    };
    let by = Caller::person(&signed_in.user.id, Some(ip));
    match connected_apps::revoke_connected_app(&state, &signed_in.user.id, &id, &by).await {
        Ok(true) => see_other("/account/connected-apps", Vec::new()),
        Ok(false) => PageFailure::NotFound.into_response(),
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// The sign-out form: the CSRF token.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf: Option<Secret>,
}

/// `POST /account/logout`: ends the session.
pub async fn delete_session(
    State(state): State<AppState>,
    CsrfForm { browser, form: _ }: CsrfForm<LogoutForm>,
) -> Response {
    if let Some(signed_in) = &browser.signed_in {
        if let Err(e) = end_session(&state, &signed_in.cookie).await {
            return PageFailure::from(e).into_response();
        }
    }
    see_other("/login", vec![clear_session_cookie(&state)])
}

impl PageForm for RevokeForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

impl PageForm for LogoutForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

/// Why the password asked again was not taken.
pub enum PasswordRefused {
    /// Wrong (or another person's): 401.
    Wrong,
    /// Too many attempts from the network (the per-IP `login` policy): 429.
    NetworkThrottled,
    /// Too many attempts for the account (its delays): 429.
    AccountThrottled,
    /// The answer to give as it is (storage or the limiter unavailable).
    Answer(Response),
}

/// Checks the password `signed_in` typed again, as a sign-in is checked (the per-IP `login`
/// policy, the account's delays, Argon2id), and audits it: a stolen session alone cannot add
/// or remove a passkey.
pub async fn password_again(
    state: &AppState,
    signed_in: &SignedIn,
    password: Option<Secret>,
    ip: &ClientIp,
    what: &str,
) -> Result<(), PasswordRefused> {
    let limiting = &state.rate_limiting;
    if let Err(refused) = limiting
        .check(&limiting.limits.per_ip.login, &ip.limit_key())
        .await
    {
        return Err(if refused.backend_unavailable() {
            PasswordRefused::Answer(PageFailure::Unavailable.into_response())
        } else {
            PasswordRefused::NetworkThrottled
        });
    }
    let password = password.unwrap_or_else(|| Secret::new(""));
    let email = &signed_in.user.email;
    let checked = sign_in(state, email, password, &ip.limit_key(), None).await;
    audit_sign_in(state, email, &checked, ip.0, what).await;
    match checked {
        Ok(u) if u.id == signed_in.user.id => Ok(()),
        Err(LoginError::Store(e)) => Err(PasswordRefused::Answer(
            PageFailure::from(e).into_response(),
        )),
        Err(LoginError::Throttled(d)) if d.unavailable => Err(PasswordRefused::Answer(
            PageFailure::Unavailable.into_response(),
        )),
        Err(LoginError::Throttled(_)) => Err(PasswordRefused::AccountThrottled),
        _ => Err(PasswordRefused::Wrong),
    }
}

impl PasswordRefused {
    /// The status and the sentence a refusal is answered with (`Answer` is its own answer).
    pub fn said(&self) -> (StatusCode, &'static str) {
        match self {
            PasswordRefused::NetworkThrottled => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts from your network; wait a minute and try again.",
            ),
            PasswordRefused::AccountThrottled => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts for this account; wait a little and try again.",
            ),
            PasswordRefused::Wrong | PasswordRefused::Answer(_) => (
                StatusCode::UNAUTHORIZED,
                "That is not your current password.",
            ),
        }
    }
}
