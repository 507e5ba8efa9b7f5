//! The login page: `GET /login` and `POST /login`. After signing in, the browser
//! continues the authorization request it came with — always as `/oauth/authorize?…` on this
//! server, rebuilt from the request's parameters, so the form cannot be made an open
//! redirector — or the device page it came from (`/device`, with the user code read back
//! through its normaliser), or goes to `/account`.

use crate::oauth::authorize::{continue_query, validate};
use crate::people::csrf;
use crate::people::http::account::csrf_for;
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::pages::{
    allow_form_redirect_to, render, see_other, LoginView, PageFailure,
};
use crate::people::http::passkeys::passkey_set_up_page;
use crate::people::http::second_factor::{second_factor_page, set_up_page};
use crate::people::http::session::{cookie, Browser, SignedIn};
use crate::people::known_device;
use crate::people::login::{audit_sign_in, sign_in, throttle_account, LoginError};
use crate::people::second_factor::{
    enrolling, factors_to_offer, has_second_factor, issue_pending, second_factor_policy,
    start_enrolment,
};
use crate::people::sessions::{
    csrf_cookie, end_session, session_cookie, start_session_with, SessionTimes, SignInPlace,
};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::limits;
use crate::platform::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use castellan_core::authn::{Amr, SecondFactorPolicy};
use castellan_core::user::User;
use castellan_core::Secret;
use serde::Deserialize;

/// Longest email accepted in the form.
const MAX_EMAIL_LEN: usize = 254;

/// The `request` of a sign-in that continues at the device page: this prefix and the user
/// code typed so far, if any.
const DEVICE_REQUEST: &str = "device:";

/// The `request` of a sign-in started from the device page, carrying `typed` when it is a
/// user code.
pub fn device_request(typed: &str) -> String {
    match castellan_core::device::normalize(typed) {
        Some(code) => format!("{DEVICE_REQUEST}{}", castellan_core::device::display(&code)),
        None => DEVICE_REQUEST.to_owned(),
    }
}

/// Where a sign-in started from the device page continues, if `request` says it was.
fn device_next(request: &str) -> Option<String> {
    let typed = request.strip_prefix(DEVICE_REQUEST)?;
    Some(match castellan_core::device::normalize(typed) {
        Some(code) => format!(
            "/device?user_code={}",
            castellan_core::device::display(&code)
        ),
        None => "/device".to_owned(),
    })
}

/// Renders the login page (status 200, 401 after a failure, 429 when throttled).
pub fn login_page(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    request: &str,
    client_name: Option<String>,
    email: String,
    error: Option<&'static str>,
) -> Response {
    let (token, cookies) = csrf_for(state, browser);
    let view = LoginView {
        csrf: token,
        request: request.to_owned(),
        client_name,
        email,
        error,
        reset_offered: state.mailer.is_configured(),
        passkeys: crate::people::passkeys::offered(state),
    };
    render(status, &view, cookies)
}

/// `GET /login`: the sign-in page; a signed-in person goes to `/account`.
pub async fn get_login(State(state): State<AppState>, browser: Browser) -> Response {
    if browser.signed_in.is_some() {
        return see_other("/account", Vec::new());
    }
    login_page(
        &state,
        &browser,
        StatusCode::OK,
        "",
        None,
        String::new(),
        None,
    )
}

/// The sign-in form: the CSRF token, the email address, the password and the authorization request
/// it continues.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    csrf: Option<Secret>,
    email: Option<String>,
    password: Option<Secret>,
    request: Option<String>,
}

/// `POST /login`: checks the password and starts a session.
pub async fn create_session(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    CsrfForm { browser, form }: CsrfForm<LoginForm>,
) -> Response {
    let request = form.request.unwrap_or_default();
    let Some(next) = next_after_sign_in(&request) else {
        return PageFailure::BadRequest("The sign-in form was altered.".into()).into_response();
    };
    // Every attempt counts against the per-IP `login` policy.
    let limiting = &state.rate_limiting;
    let decision = match limiting
        .check(&limiting.limits.per_ip.login, &ip.limit_key())
        .await
    {
        Ok(d) => d,
        Err(refused) => return throttled(&state, &browser, &request, refused).await,
    };
    let email: String = form
        .email
        .unwrap_or_default()
        .chars()
        .take(MAX_EMAIL_LEN)
        .collect();
    let password = form.password.unwrap_or_else(|| Secret::new(""));
    let device = cookie(
        &headers,
        known_device::cookie_name(state.config.environment),
    );
    let signed_in = sign_in(&state, &email, password, &ip.limit_key(), device).await;
    // A person with a second factor, or who must set one up, has proved only the password.
    let then = match &signed_in {
        Ok(user) => match after_password(&state, &user.id).await {
            Ok(then) => then,
            Err(e) => return PageFailure::from(e).into_response(),
        },
        Err(_) => AfterPassword::Done,
    };
    let how = match then {
        AfterPassword::Done => "sign-in page",
        AfterPassword::SecondFactor => "sign-in page, password (a second factor is asked next)",
        AfterPassword::SetUp => "sign-in page, password (a second factor must be set up next)",
        AfterPassword::SetUpPasskey => "sign-in page, password (a passkey must be registered next)",
    };
    audit_sign_in(&state, &email, &signed_in, ip.0, how).await;
    let mut res = match signed_in {
        Ok(user) if then != AfterPassword::Done => {
            let now = state.clock.now();
            let Some(pending) = issue_pending(&state, &user, now, false) else {
                return PageFailure::Unavailable.into_response();
            };
            let set_up = if then == AfterPassword::SetUp {
                match start_enrolment(&state, &user.id, now).await {
                    Ok(secret) => secret,
                    Err(e) => return PageFailure::from(e).into_response(),
                }
            } else {
                None
            };
            // (Set up meanwhile, `set_up` is None: the app is asked for like any other.)
            let page = match set_up {
                _ if then == AfterPassword::SetUpPasskey => passkey_set_up_page(
                    &state,
                    &browser,
                    StatusCode::OK,
                    &request,
                    None,
                    vec![pending],
                ),
                Some(secret) => set_up_page(
                    &state,
                    &browser,
                    StatusCode::OK,
                    &request,
                    enrolling(&state, &user.email, &secret),
                    None,
                    vec![pending],
                ),
                None => match factors_to_offer(&state, &user.id).await {
                    Ok(factors) => second_factor_page(
                        &state,
                        &browser,
                        StatusCode::OK,
                        &request,
                        factors,
                        None,
                        vec![pending],
                    ),
                    Err(e) => return PageFailure::from(e).into_response(),
                },
            };
            for_request(&state, &request, page).await
        }
        Ok(user) => {
            finish_sign_in(
                &state,
                &browser,
                &headers,
                ip.0,
                &user,
                Amr::PASSWORD,
                None,
                &next,
                Vec::new(),
            )
            .await
        }
        Err(LoginError::Store(e)) => PageFailure::from(e).into_response(),
        Err(LoginError::Throttled(delayed)) if delayed.unavailable => {
            PageFailure::Unavailable.into_response()
        }
        Err(LoginError::Throttled(delayed)) => {
            let mut page = retry_page(
                &state,
                &browser,
                &request,
                StatusCode::TOO_MANY_REQUESTS,
                email,
                "Too many sign-in attempts for this account; wait a little and try again.",
            )
            .await;
            page.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(delayed.retry_after_seconds),
            );
            page
        }
        Err(e @ (LoginError::Invalid | LoginError::Disabled)) => {
            let said = match e {
                LoginError::Disabled => "This account is disabled; ask an administrator",
                _ => "Invalid email or password",
            };
            retry_page(
                &state,
                &browser,
                &request,
                StatusCode::UNAUTHORIZED,
                email,
                said,
            )
            .await
        }
    };
    crate::error::rate_limit::render(&mut res, &decision.0, limiting.limits.header_style);
    res
}

/// Where the browser goes once signed in, for the form's `request`: `/account` for none, the
/// device page it came from, or the authorization request it carries (always on this server,
/// rebuilt from its parameters); `None` when `request` is none of them (an altered form).
pub fn next_after_sign_in(request: &str) -> Option<String> {
    if request.is_empty() {
        Some("/account".to_owned())
    } else if let Some(device) = device_next(request) {
        Some(device)
    } else {
        continue_query(request).map(|q| format!("/oauth/authorize?{q}"))
    }
}

/// What follows a right password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterPassword {
    /// Nothing: the session starts.
    Done,
    /// The person's second factor.
    SecondFactor,
    /// A policy requires a second factor the person has not set up: they set up an app now.
    SetUp,
    /// A policy requires a passkey the person has not registered: they register one now.
    SetUpPasskey,
}

async fn after_password(
    state: &AppState,
    user_id: &str,
) -> Result<AfterPassword, castellan_store::StoreError> {
    let policy = second_factor_policy(state, user_id).await?;
    // A person with a second factor proves it first, even when a policy asks for a passkey they
    // have not got (their app's code then leads on to registering one).
    Ok(
        if policy == SecondFactorPolicy::Passkey && !has_second_factor(state, user_id).await? {
            AfterPassword::SetUpPasskey
        } else if has_second_factor(state, user_id).await? {
            AfterPassword::SecondFactor
        } else if policy == SecondFactorPolicy::Any {
            AfterPassword::SetUp
        } else {
            AfterPassword::Done
        },
    )
}

/// Ends the sign-in of `user` with the methods `amr`: a new session (ending the browser's
/// previous one; at `keep`'s times for a step-up, see [`session_cookies`]), this browser made a
/// known device of the account, and off to `next` with `cookies` besides.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per way of signing in, each naming all"
)]
pub async fn finish_sign_in(
    state: &AppState,
    browser: &Browser,
    headers: &HeaderMap,
    address: std::net::IpAddr,
    user: &User,
    amr: Amr,
    keep: Option<SessionTimes>,
    next: &str,
    cookies: Vec<String>,
) -> Response {
    match session_cookies(state, browser, headers, address, user, amr, keep).await {
        Ok(set) => see_other(next, set.into_iter().chain(cookies).collect()),
        Err(res) => res,
    }
}

/// Starts the session of `user` signed in with `amr` (ending the browser's previous one),
/// signed in now or, for a session replacing another (a step-up), at `times`: the cookies to
/// set, the session's, a renewed CSRF value and the known-device cookie.
pub async fn session_cookies(
    state: &AppState,
    browser: &Browser,
    headers: &HeaderMap,
    address: std::net::IpAddr,
    user: &User,
    amr: Amr,
    times: Option<SessionTimes>,
) -> Result<Vec<String>, Response> {
    let now = state.clock.now();
    // This browser becomes a known device of the account (see `known_device`).
    let device_cookie = known_device::issue(
        state,
        &throttle_account(&user.email),
        &user.password_hash,
        now,
    );
    // The browser's session ends. The same person signing in again (a fresh sign-in, a
    // step-up) keeps its public id (the `sid` of the ID tokens issued in it) under a new
    // cookie: its clients are not told it ended. Someone else's ends, and its clients are.
    let keep_id = match &browser.signed_in {
        Some(s) if s.user.id == user.id => {
            if let Err(e) = state.store.delete_session(&s.session.hash).await {
                return Err(PageFailure::from(e).into_response());
            }
            Some(s.session.id.clone())
        }
        Some(SignedIn { cookie, .. }) => {
            if let Err(e) = end_session(state, cookie).await {
                return Err(PageFailure::from(e).into_response());
            }
            None
        }
        None => None,
    };
    let place = SignInPlace {
        user_agent: headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        address,
    };
    let times = times.unwrap_or(SessionTimes {
        auth_time: now,
        expires_at: now + chrono::Duration::seconds(i64::from(state.config.pages.session_seconds)),
    });
    let started = start_session_with(state, &user.id, times, amr, place, keep_id).await;
    match started {
        // A new session renews the CSRF token (now the session's); the double-submit
        // value is renewed too, so no token shown before sign-in is accepted again.
        Ok(id) => Ok([
            session_cookie(state, &id),
            csrf_cookie(state, &csrf::new_cookie_token()),
        ]
        .into_iter()
        .chain(device_cookie)
        .collect()),
        Err(e) => Err(PageFailure::from(e).into_response()),
    }
}

/// `page`, a form continuing `request`, allowed to end at the client's validated redirect URI
/// when `request` is an authorization request (the sign-in's last redirect goes there).
pub async fn for_request(state: &AppState, request: &str, page: Response) -> Response {
    if request.is_empty() || request.starts_with(DEVICE_REQUEST) {
        return page;
    }
    let Some(query) = continue_query(request) else {
        return page;
    };
    match validate(state, &query).await {
        Ok(req) => allow_form_redirect_to(page, &req.redirect_uri),
        Err(_) => page,
    }
}

/// The answer when the per-IP login policy refuses: the form again with a 429 (or 503 when
/// the shared limiter cannot be asked and is configured to fail closed).
async fn throttled(
    state: &AppState,
    browser: &Browser,
    request: &str,
    refused: limits::RateLimited,
) -> Response {
    let mut res = if refused.backend_unavailable() {
        PageFailure::Unavailable.into_response()
    } else {
        retry_page(
            state,
            browser,
            request,
            StatusCode::TOO_MANY_REQUESTS,
            String::new(),
            "Too many sign-in attempts from your network; wait a minute and try again.",
        )
        .await
    };
    crate::error::rate_limit::render(&mut res, refused.decision(), refused.style());
    if let Some(s) = refused.decision().retry_after_seconds {
        if let Ok(v) = http::HeaderValue::from_str(&s.to_string()) {
            res.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
    }
    res
}

/// The login form again with `message` (a refused passkey), still carrying `request`.
pub(crate) async fn login_retry(
    state: &AppState,
    browser: &Browser,
    request: &str,
    status: StatusCode,
    message: &'static str,
) -> Response {
    retry_page(state, browser, request, status, String::new(), message).await
}

/// The login form again after a refused attempt, still carrying the authorization request
/// (and allowing its forms to end at the client's validated redirect URI).
async fn retry_page(
    state: &AppState,
    browser: &Browser,
    request: &str,
    status: StatusCode,
    email: String,
    message: &'static str,
) -> Response {
    if request.starts_with(DEVICE_REQUEST) {
        let request = device_request(request.trim_start_matches(DEVICE_REQUEST));
        return login_page(state, browser, status, &request, None, email, Some(message));
    }
    let query = continue_query(request).unwrap_or_default();
    let page = login_page(state, browser, status, &query, None, email, Some(message));
    for_request(state, &query, page).await
}

impl PageForm for LoginForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}
