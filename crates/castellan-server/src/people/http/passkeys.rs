//! Passkeys over HTTP (see `people::passkeys`): the account's passkeys page
//! (`/account/passkeys`: listed with their last use, added, renamed, removed), signing in with
//! one (`/login/passkey`, from the login page or as the second step after a password), and
//! registering one at sign-in when a policy asks for a passkey the person has not got
//! (`/login/passkey/setup`).
//!
//! Each ceremony is two posts of the same form, both CSRF-checked: the page's script
//! (`/assets/passkey.js`) first posts it to the options path and gets the options as JSON, asks
//! the browser's authenticator, then fills the form's `ceremony` and `credential` fields and
//! submits it, so the answer comes back as a page like any other form's. Without JavaScript the
//! passkey buttons stay hidden and the password (and app code) forms work as before.

use crate::audit::{self, Caller, Kind};
use crate::people::http::account::{csrf_for, password_again, PasswordRefused};
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::login::{for_request, login_retry, next_after_sign_in};
use crate::people::http::pages::{render, see_other, PageFailure};
use crate::people::http::second_factor::{pending, retry, start_again, start_signed_in, who, Who};
use crate::people::http::session::{Browser, SignedIn};
use crate::people::http::two_factor::when;
use crate::people::passkeys::{self, PasskeyError};
use crate::people::second_factor::{factors_to_offer, may_register_passkey};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use castellan_core::authn::{Amr, Method};
use castellan_core::Secret;
use serde::Deserialize;

/// The account's passkeys page.
pub const PATH: &str = "/account/passkeys";
/// Where a sign-in with a passkey is answered.
pub const SIGN_IN_PATH: &str = "/login/passkey";

/// The routes of passkeys.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(get_passkeys).post(add))
        .route("/account/passkeys/options", post(add_options))
        .route("/account/passkeys/rename", post(rename))
        .route("/account/passkeys/remove", post(remove))
        .route(SIGN_IN_PATH, post(post_sign_in))
        .route("/login/passkey/options", post(sign_in_options))
        .route("/login/passkey/setup", post(post_set_up))
        .route("/login/passkey/setup/options", post(set_up_options))
}

/// Every passkey form's fields (each form sends those it has).
#[derive(Debug, Deserialize)]
pub struct PasskeyForm {
    csrf: Option<Secret>,
    /// The authorization request a sign-in continues.
    request: Option<String>,
    /// The ceremony the answer is for.
    ceremony: Option<String>,
    /// The authenticator's answer, as JSON (`PublicKeyCredential.toJSON()`).
    credential: Option<String>,
    /// A passkey's name.
    name: Option<String>,
    /// The password, asked again to add or remove a passkey.
    password: Option<Secret>,
    /// Which passkey (to rename or remove).
    passkey: Option<String>,
    /// `1` on the login page: a sign-in with anyone's passkey, whatever this browser's
    /// pending sign-in or session.
    discoverable: Option<String>,
}

impl PageForm for PasskeyForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

impl PasskeyForm {
    fn discoverable(&self) -> bool {
        self.discoverable.as_deref() == Some("1")
    }
    fn ceremony(&self) -> &str {
        self.ceremony.as_deref().unwrap_or_default()
    }
    fn credential(&self) -> &str {
        self.credential.as_deref().unwrap_or_default()
    }
}

/// The status an error of a ceremony is answered with.
fn status_of(e: &PasskeyError) -> StatusCode {
    match e {
        PasskeyError::Unavailable => StatusCode::NOT_FOUND,
        PasskeyError::Malformed(_) | PasskeyError::NoCeremony | PasskeyError::Refused(_) => {
            StatusCode::BAD_REQUEST
        }
        PasskeyError::UnknownPasskey => StatusCode::UNAUTHORIZED,
        PasskeyError::Duplicate => StatusCode::CONFLICT,
        PasskeyError::Disabled => StatusCode::FORBIDDEN,
        PasskeyError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A ceremony's options as JSON, or `{"error": …}` with the status of what went wrong.
fn options_answer(result: Result<serde_json::Value, PasskeyError>) -> Response {
    match result {
        Ok(options) => Json(options).into_response(),
        Err(e) => json_error(status_of(&e), e.message()),
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Whether the per-IP `login` policy lets another attempt through; the answer when not.
async fn within_login_limit(state: &AppState, ip: &ClientIp) -> Result<(), Response> {
    let limiting = &state.rate_limiting;
    match limiting
        .check(&limiting.limits.per_ip.login, &ip.limit_key())
        .await
    {
        Ok(_) => Ok(()),
        Err(refused) if refused.backend_unavailable() => {
            Err(PageFailure::Unavailable.into_response())
        }
        Err(refused) => {
            let mut res = json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-in attempts from your network; wait a minute and try again.",
            );
            crate::error::rate_limit::render(&mut res, refused.decision(), refused.style());
            Err(res)
        }
    }
}

// ---- Signing in --------------------------------------------------------------------------

/// `POST /login/passkey/options`: the options of a sign-in with a passkey: for the person whose
/// password step is pending, or who steps up, with one of their passkeys; else for anyone's.
pub async fn sign_in_options(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    CsrfForm { browser, form }: CsrfForm<PasskeyForm>,
) -> Response {
    if let Err(res) = within_login_limit(&state, &ip).await {
        return res;
    }
    let person = match who(&state, &browser, &headers).await {
        _ if form.discoverable() => None,
        Ok(Some(Who::Pending(user) | Who::SteppingUp(user, _))) => Some(user),
        Ok(None) => None,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let now = state.clock.now();
    options_answer(passkeys::start_sign_in(&state, person.as_ref(), now).await)
}

/// `POST /login/passkey`: the answer of a passkey: the session starts (`amr` `hwk` or `swk`,
/// after the password's `pwd` when it was the second step).
pub async fn post_sign_in(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    CsrfForm { browser, form }: CsrfForm<PasskeyForm>,
) -> Response {
    let request = form.request.clone().unwrap_or_default();
    let Some(next) = next_after_sign_in(&request) else {
        return PageFailure::BadRequest("The sign-in form was altered.".into()).into_response();
    };
    if let Err(res) = within_login_limit(&state, &ip).await {
        return res;
    }
    let (person, before, keep) = match who(&state, &browser, &headers).await {
        _ if form.discoverable() => (None, Amr::NONE, None),
        Ok(Some(Who::Pending(user))) => (Some(user), Amr::PASSWORD, None),
        Ok(Some(Who::SteppingUp(user, times))) => {
            let amr = browser
                .signed_in
                .as_ref()
                .map_or(Amr::NONE, |s| s.session.amr);
            (Some(user), amr, Some(times))
        }
        Ok(None) => (None, Amr::NONE, None),
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let now = state.clock.now();
    let finished = passkeys::finish_sign_in(
        &state,
        form.ceremony(),
        form.credential(),
        person.as_ref(),
        now,
    )
    .await;
    match finished {
        Ok((user, method)) => {
            let how = match (&person, keep) {
                (Some(_), Some(_)) => "sign-in page, passkey (a step-up of a session)",
                (Some(_), None) => "sign-in page, password and passkey",
                (None, _) => "sign-in page, passkey",
            };
            audit::record(
                &state,
                Caller::person(&user.id, Some(ip.0))
                    .did(Kind::SignInSucceeded)
                    .target(&user.id)
                    .detail(how),
            )
            .await;
            let amr = before.with(method);
            start_signed_in(&state, &browser, &headers, ip.0, &user, amr, keep, &next).await
        }
        Err(PasskeyError::Store(e)) => PageFailure::from(e).into_response(),
        Err(e) => {
            tracing::info!(event = "passkey_refused", "a passkey sign-in was refused");
            let target = person.as_ref().map(|u| u.id.as_str()).unwrap_or_default();
            audit::record(
                &state,
                Caller::system(Some(ip.0))
                    .did(if person.is_some() {
                        Kind::SecondFactorFailed
                    } else {
                        Kind::SignInFailed
                    })
                    .target(target)
                    .detail(format!("sign-in page, passkey: {}", e.message())),
            )
            .await;
            let status = status_of(&e);
            match &person {
                Some(user) => match factors_to_offer(&state, &user.id).await {
                    Ok(factors) => {
                        retry(&state, &browser, &request, factors, status, e.message()).await
                    }
                    Err(e) => PageFailure::from(e).into_response(),
                },
                None => login_retry(&state, &browser, &request, status, e.message()).await,
            }
        }
    }
}

// ---- Registering one at sign-in (a policy asks for a passkey) ------------------------------

/// The page that registers a passkey during a sign-in (a policy requires one).
#[derive(Template)]
#[template(path = "passkey_setup.html")]
pub struct SetUpView {
    /// The CSRF token of the form.
    pub csrf: String,
    /// The authorization request being continued.
    pub request: String,
    /// Why the last attempt failed, if it did.
    pub error: Option<&'static str>,
}

/// Renders the passkey set-up page of a sign-in with `status`, setting `cookies` besides the
/// CSRF cookie.
pub fn passkey_set_up_page(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    request: &str,
    error: Option<&'static str>,
    cookies: Vec<String>,
) -> Response {
    let (csrf, mut set) = csrf_for(state, browser);
    set.extend(cookies);
    let view = SetUpView {
        csrf,
        request: request.to_owned(),
        error,
    };
    render(status, &view, set)
}

/// `POST /login/passkey/setup/options`: the options registering a passkey for the person whose
/// password step is pending.
pub async fn set_up_options(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    CsrfForm {
        browser: _,
        form: _,
    }: CsrfForm<PasskeyForm>,
) -> Response {
    if let Err(res) = within_login_limit(&state, &ip).await {
        return res;
    }
    let pending = match pending(&state, &headers).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return json_error(
                StatusCode::UNAUTHORIZED,
                "Your sign-in took too long or was not started; sign in again.",
            )
        }
        Err(e) => return PageFailure::from(e).into_response(),
    };
    match may_register_passkey(&state, &pending).await {
        Ok(true) => {}
        Ok(false) => return json_error(StatusCode::FORBIDDEN, NOT_NOW),
        Err(e) => return PageFailure::from(e).into_response(),
    }
    let now = state.clock.now();
    options_answer(passkeys::start_registration(&state, &pending.user, now).await)
}

/// `POST /login/passkey/setup`: the new passkey of the person whose password step is pending;
/// it is stored and the session starts (`amr` `pwd` and `hwk` or `swk`).
pub async fn post_set_up(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    CsrfForm { browser, form }: CsrfForm<PasskeyForm>,
) -> Response {
    let request = form.request.clone().unwrap_or_default();
    let Some(next) = next_after_sign_in(&request) else {
        return PageFailure::BadRequest("The sign-in form was altered.".into()).into_response();
    };
    if let Err(res) = within_login_limit(&state, &ip).await {
        return res;
    }
    let (user, otp) = match pending(&state, &headers).await {
        Ok(Some(p)) => match may_register_passkey(&state, &p).await {
            Ok(true) => (p.user, p.otp),
            Ok(false) => return PageFailure::Forbidden(NOT_NOW.into()).into_response(),
            Err(e) => return PageFailure::from(e).into_response(),
        },
        Ok(None) => return start_again(&state, &browser, &request).await,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let now = state.clock.now();
    let name = form.name.clone().unwrap_or_default();
    let added = passkeys::finish_registration(
        &state,
        &user,
        form.ceremony(),
        form.credential(),
        &name,
        now,
    )
    .await;
    match added {
        Ok(passkey) => {
            let by = Caller::person(&user.id, Some(ip.0));
            audit::record(
                &state,
                by.clone()
                    .did(Kind::SecondFactorEnrolled)
                    .target(&user.id)
                    .detail(format!("passkey {}, at sign-in (required)", passkey.id)),
            )
            .await;
            audit::record(
                &state,
                by.did(Kind::SignInSucceeded)
                    .target(&user.id)
                    .detail("sign-in page, password and a newly registered passkey"),
            )
            .await;
            let proved = if otp {
                Amr::PASSWORD.with(Method::Otp)
            } else {
                Amr::PASSWORD
            };
            let amr = proved.with(method_of(passkey.backup_eligible));
            start_signed_in(&state, &browser, &headers, ip.0, &user, amr, None, &next).await
        }
        Err(PasskeyError::Store(e)) => PageFailure::from(e).into_response(),
        Err(e) => {
            let page = passkey_set_up_page(
                &state,
                &browser,
                status_of(&e),
                &request,
                Some(e.message()),
                Vec::new(),
            );
            for_request(&state, &request, page).await
        }
    }
}

/// Why a pending sign-in may not register a passkey: the person has a second factor to prove
/// first, or no policy asks them for a passkey (they add one from their account).
const NOT_NOW: &str =
    "Prove your second factor first; passkeys are added from your account once signed in.";

/// The method a passkey counts as.
fn method_of(backup_eligible: bool) -> Method {
    if backup_eligible {
        Method::Swk
    } else {
        Method::Hwk
    }
}

// ---- The account's passkeys ----------------------------------------------------------------

/// One passkey as the page lists it.
pub struct PasskeyLine {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was registered (UTC).
    pub created: String,
    /// When it last signed in (UTC), or empty.
    pub last_used: String,
    /// Whether its authenticator may sync it.
    pub synced: bool,
}

/// The account's passkeys page.
#[derive(Template)]
#[template(path = "passkeys.html")]
pub struct PasskeysView {
    /// The CSRF token of the forms.
    pub csrf: String,
    /// Whether the deployment offers passkeys.
    pub offered: bool,
    /// The person's passkeys.
    pub passkeys: Vec<PasskeyLine>,
    /// What just happened, if anything.
    pub notice: Option<&'static str>,
    /// Why the last form was refused, if it was.
    pub error: Option<&'static str>,
}

/// `?done=…`: the page after a change.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn page(
    state: &AppState,
    browser: &Browser,
    signed_in: &SignedIn,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<&'static str>,
) -> Response {
    let stored = match state.store.list_passkeys(&signed_in.user.id).await {
        Ok(p) => p,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let (csrf, cookies) = csrf_for(state, browser);
    let view = PasskeysView {
        csrf,
        offered: passkeys::offered(state),
        passkeys: stored
            .into_iter()
            .map(|p| PasskeyLine {
                id: p.id,
                name: p.name,
                created: when(Some(p.created_at)),
                last_used: when(p.last_used_at),
                synced: p.backup_eligible,
            })
            .collect(),
        notice,
        error,
    };
    render(status, &view, cookies)
}

/// `GET /account/passkeys`.
pub async fn get_passkeys(
    State(state): State<AppState>,
    browser: Browser,
    Query(done): Query<Done>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let notice = match done.done.as_deref() {
        Some("added") => Some("Your passkey was added. You can sign in with it from now on."),
        Some("renamed") => Some("The passkey was renamed."),
        Some("removed") => Some("The passkey was removed."),
        _ => None,
    };
    page(&state, &browser, signed_in, StatusCode::OK, notice, None).await
}

/// `POST /account/passkeys/options`: the password again, then the options registering a new
/// passkey.
pub async fn add_options(
    State(state): State<AppState>,
    ip: ClientIp,
    CsrfForm { browser, form }: CsrfForm<PasskeyForm>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return json_error(StatusCode::UNAUTHORIZED, "Sign in first.");
    };
    if let Err(e) = passkeys::passkey_name(form.name.as_deref().unwrap_or_default()) {
        return json_error(StatusCode::BAD_REQUEST, e.message());
    }
    let what = "passkey registration (password asked again)";
    match password_again(&state, signed_in, form.password, &ip, what).await {
        Ok(()) => {}
        Err(PasswordRefused::Answer(res)) => return res,
        Err(refused) => {
            let (status, message) = refused.said();
            return json_error(status, message);
        }
    }
    let now = state.clock.now();
    options_answer(passkeys::start_registration(&state, &signed_in.user, now).await)
}

/// `POST /account/passkeys`: the new passkey's answer; it is stored under its name.
pub async fn add(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<PasskeyForm>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let now = state.clock.now();
    let name = form.name.clone().unwrap_or_default();
    let added = passkeys::finish_registration(
        &state,
        &signed_in.user,
        form.ceremony(),
        form.credential(),
        &name,
        now,
    )
    .await;
    match added {
        Ok(passkey) => {
            tracing::info!(event = "passkey_added", user_id = %signed_in.user.id, "a person added a passkey");
            audit::record(
                &state,
                Caller::person(&signed_in.user.id, Some(ip))
                    .did(Kind::SecondFactorEnrolled)
                    .target(&signed_in.user.id)
                    .detail(format!("passkey {}", passkey.id)),
            )
            .await;
            see_other(&format!("{PATH}?done=added"), Vec::new())
        }
        Err(PasskeyError::Store(e)) => PageFailure::from(e).into_response(),
        Err(e) => {
            page(
                &state,
                &browser,
                signed_in,
                status_of(&e),
                None,
                Some(e.message()),
            )
            .await
        }
    }
}

/// `POST /account/passkeys/rename`.
pub async fn rename(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<PasskeyForm>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let name = match passkeys::passkey_name(form.name.as_deref().unwrap_or_default()) {
        Ok(n) => n,
        Err(e) => {
            return page(
                &state,
                &browser,
                signed_in,
                StatusCode::BAD_REQUEST,
                None,
                Some(e.message()),
            )
            .await
        }
    };
    let id = form.passkey.as_deref().unwrap_or_default();
    match state
        .store
        .rename_passkey(&signed_in.user.id, id, &name)
        .await
    {
        Ok(true) => see_other(&format!("{PATH}?done=renamed"), Vec::new()),
        Ok(false) => PageFailure::NotFound.into_response(),
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// `POST /account/passkeys/remove`: the password again, then the passkey goes.
pub async fn remove(
    State(state): State<AppState>,
    ip: ClientIp,
    CsrfForm { browser, form }: CsrfForm<PasskeyForm>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let what = "passkey removal (password asked again)";
    let refused = match password_again(&state, signed_in, form.password, &ip, what).await {
        Ok(()) => None,
        Err(PasswordRefused::Answer(res)) => return res,
        Err(refused) => Some(refused.said()),
    };
    if let Some((status, message)) = refused {
        return page(&state, &browser, signed_in, status, None, Some(message)).await;
    }
    let id = form.passkey.as_deref().unwrap_or_default();
    match state.store.remove_passkey(&signed_in.user.id, id).await {
        Ok(true) => {
            tracing::info!(event = "passkey_removed", user_id = %signed_in.user.id, "a person removed a passkey");
            audit::record(
                &state,
                Caller::person(&signed_in.user.id, Some(ip.0))
                    .did(Kind::SecondFactorRemoved)
                    .target(&signed_in.user.id)
                    .detail(format!("passkey {id}")),
            )
            .await;
            see_other(&format!("{PATH}?done=removed"), Vec::new())
        }
        Ok(false) => PageFailure::NotFound.into_response(),
        Err(e) => PageFailure::from(e).into_response(),
    }
}
