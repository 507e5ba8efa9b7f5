//! The second step of a sign-in (see `people::second_factor`): the page asking for a code
//! from the authenticator app or a recovery code, shown after the password of a person who has
//! one, or by `/oauth/authorize` when `acr_values` asks a signed-in person for it; and
//! `POST /login/second-factor`, which checks the code and starts the session.

use crate::audit::{self, Caller, Kind};
use crate::people::http::account::csrf_for;
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::login::{
    finish_sign_in, for_request, login_page, next_after_sign_in, session_cookies,
};
use crate::people::http::pages::{render, PageFailure};
use crate::people::http::passkeys::passkey_set_up_page;
use crate::people::http::session::{cookie, Browser};
use crate::people::second_factor::{
    check_code, confirm_enrolment, enrolling, factors_to_offer, has_second_factor, issue_pending,
    may_register_passkey, pending_cookie_name, read_pending, CodeError, CodeUsed, Confirmed,
    Enrolling, Factors, Pending,
};
use crate::people::sessions::{clear_cookie, SessionTimes};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use castellan_core::authn::{Amr, Method};
use castellan_core::user::User;
use castellan_core::Secret;
use serde::Deserialize;

/// Where the page's form posts.
pub const PATH: &str = "/login/second-factor";
/// Where the set-up form of a sign-in posts.
pub const SET_UP_PATH: &str = "/login/second-factor/setup";

/// The second-factor page.
#[derive(Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactorView {
    /// The CSRF token of the form.
    pub csrf: String,
    /// The authorization request being continued, as the login form carries it.
    pub request: String,
    /// Which factors it offers.
    pub factors: Factors,
    /// Why the last attempt failed, if it did.
    pub error: Option<&'static str>,
}

/// Renders the second-factor page offering `factors` with `status`, setting `cookies` besides
/// the CSRF cookie.
pub fn second_factor_page(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    request: &str,
    factors: Factors,
    error: Option<&'static str>,
    cookies: Vec<String>,
) -> Response {
    let (csrf, mut set) = csrf_for(state, browser);
    set.extend(cookies);
    let view = SecondFactorView {
        csrf,
        request: request.to_owned(),
        factors,
        error,
    };
    render(status, &view, set)
}

/// The page that sets up an authenticator app during a sign-in (a policy requires one).
#[derive(Template)]
#[template(path = "second_factor_setup.html")]
pub struct SetUpView {
    /// The CSRF token of the form.
    pub csrf: String,
    /// The authorization request being continued, as the login form carries it.
    pub request: String,
    /// The QR code and the key; `None` when no enrolment waits any more.
    pub enrolling: Option<Enrolling>,
    /// Where the person goes once set up (a path on this server), after the recovery codes.
    pub next: Option<String>,
    /// The recovery codes, shown once after the app is set up.
    pub codes: Vec<String>,
    /// Why the last attempt failed, if it did.
    pub error: Option<&'static str>,
}

/// Renders the set-up page of a sign-in with `status`, setting `cookies` besides the CSRF
/// cookie.
pub fn set_up_page(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    request: &str,
    enrolling: Option<Enrolling>,
    error: Option<&'static str>,
    cookies: Vec<String>,
) -> Response {
    let (csrf, mut set) = csrf_for(state, browser);
    set.extend(cookies);
    let view = SetUpView {
        csrf,
        request: request.to_owned(),
        enrolling,
        next: None,
        codes: Vec::new(),
        error,
    };
    no_store(render(status, &view, set))
}

/// `res`, never kept by a cache (it shows a secret or recovery codes).
fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    res
}

/// The second-factor form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    csrf: Option<Secret>,
    code: Option<Secret>,
    request: Option<String>,
    /// The secret being set up, on the set-up form.
    secret: Option<Secret>,
}

impl CodeForm {
    /// The code typed; empty when longer than any code.
    fn typed(&self) -> &str {
        self.code
            .as_ref()
            .map(Secret::expose)
            .filter(|c| c.len() <= crate::people::second_factor::MAX_CODE_LEN)
            .unwrap_or_default()
    }
}

impl PageForm for CodeForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

/// The pending sign-in this browser's cookie holds, if any.
pub(crate) async fn pending(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Pending>, castellan_store::StoreError> {
    match cookie(headers, pending_cookie_name(state.config.environment)) {
        Some(c) => read_pending(state, c, state.clock.now()).await,
        None => Ok(None),
    }
}

/// The person whose password step this browser's pending sign-in cookie holds, if any.
pub(crate) async fn pending_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<User>, castellan_store::StoreError> {
    Ok(pending(state, headers).await?.map(|p| p.user))
}

/// The login page again when no password step is pending (over five minutes old, voided by a
/// password change, or never made): the person starts again.
pub(crate) async fn start_again(state: &AppState, browser: &Browser, request: &str) -> Response {
    let page = login_page(
        state,
        browser,
        StatusCode::UNAUTHORIZED,
        request,
        None,
        String::new(),
        Some("Your sign-in took too long or was not started; sign in again."),
    );
    for_request(state, request, page).await
}

/// Who is proving a second factor.
pub(crate) enum Who {
    /// A person whose password step is pending: they sign in now.
    Pending(User),
    /// A signed-in person whose session has not proved one (a step-up): the new session keeps
    /// when they signed in and when it ends.
    SteppingUp(User, SessionTimes),
}

pub(crate) async fn who(
    state: &AppState,
    browser: &Browser,
    headers: &HeaderMap,
) -> Result<Option<Who>, castellan_store::StoreError> {
    if let Some(user) = pending_user(state, headers).await? {
        return Ok(Some(Who::Pending(user)));
    }
    match &browser.signed_in {
        Some(s)
            if !s.session.amr.is_multi_factor() && has_second_factor(state, &s.user.id).await? =>
        {
            let times = SessionTimes {
                auth_time: s.session.auth_time,
                expires_at: s.session.expires_at,
            };
            Ok(Some(Who::SteppingUp(s.user.clone(), times)))
        }
        _ => Ok(None),
    }
}

/// `POST /login/second-factor`: checks the code, then starts the session (`amr` `pwd otp`).
pub async fn post_second_factor(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    CsrfForm { browser, form }: CsrfForm<CodeForm>,
) -> Response {
    let request = form.request.clone().unwrap_or_default();
    let Some(next) = next_after_sign_in(&request) else {
        return PageFailure::BadRequest("The sign-in form was altered.".into()).into_response();
    };
    let (user, keep) = match who(&state, &browser, &headers).await {
        Ok(Some(Who::Pending(user))) => (user, None),
        Ok(Some(Who::SteppingUp(user, times))) => (user, Some(times)),
        Ok(None) => return start_again(&state, &browser, &request).await,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let factors = match factors_to_offer(&state, &user.id).await {
        Ok(f) => f,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    // Every attempt counts against the per-IP `login` policy, as a password does.
    let limiting = &state.rate_limiting;
    if let Err(refused) = limiting
        .check(&limiting.limits.per_ip.login, &ip.limit_key())
        .await
    {
        if refused.backend_unavailable() {
            return PageFailure::Unavailable.into_response();
        }
        let mut res = retry(
            &state,
            &browser,
            &request,
            factors,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts from your network; wait a minute and try again.",
        )
        .await;
        crate::error::rate_limit::render(&mut res, refused.decision(), refused.style());
        return res;
    }
    if !factors.app {
        // A policy asks for a passkey (or no app is set up): no code counts.
        return retry(
            &state,
            &browser,
            &request,
            factors,
            StatusCode::BAD_REQUEST,
            "Use your passkey: codes do not count for this account.",
        )
        .await;
    }
    let typed = form.typed();
    let now = state.clock.now();
    match check_code(&state, &user.id, typed, &ip.limit_key(), now).await {
        Ok(used) => {
            let how = match used {
                CodeUsed::App => "sign-in page, password and authenticator app",
                CodeUsed::Recovery => "sign-in page, password and recovery code",
            };
            audit::record(
                &state,
                Caller::person(&user.id, Some(ip.0))
                    .did(Kind::SignInSucceeded)
                    .target(&user.id)
                    .detail(how),
            )
            .await;
            if used == CodeUsed::Recovery {
                audit::record(
                    &state,
                    Caller::person(&user.id, Some(ip.0))
                        .did(Kind::RecoveryCodeUsed)
                        .target(&user.id)
                        .detail("at sign-in"),
                )
                .await;
            }
            // A policy asks for a passkey this person has not got: the code leads on to
            // registering one (no session yet).
            if keep.is_none() {
                let proved = Pending {
                    user: user.clone(),
                    otp: true,
                };
                match may_register_passkey(&state, &proved).await {
                    Ok(true) => {
                        let Some(cookie) = issue_pending(&state, &user, state.clock.now(), true)
                        else {
                            return PageFailure::Unavailable.into_response();
                        };
                        let page = passkey_set_up_page(
                            &state,
                            &browser,
                            StatusCode::OK,
                            &request,
                            None,
                            vec![cookie],
                        );
                        return for_request(&state, &request, page).await;
                    }
                    Ok(false) => {}
                    Err(e) => return PageFailure::from(e).into_response(),
                }
            }
            let amr = Amr::PASSWORD.with(Method::Otp);
            start_signed_in(&state, &browser, &headers, ip.0, &user, amr, keep, &next).await
        }
        Err(e @ (CodeError::Invalid | CodeError::Locked)) => {
            tracing::info!(event = "second_factor_failed", user_id = %user.id, "a second factor was refused");
            let locked = matches!(e, CodeError::Locked);
            audit::record(
                &state,
                Caller::system(Some(ip.0))
                    .did(Kind::SecondFactorFailed)
                    .target(&user.id)
                    .detail(if locked {
                        "sign-in page: wrong or used code; the app's codes are refused until a recovery code is used"
                    } else {
                        "sign-in page: wrong or used code"
                    }),
            )
            .await;
            retry(
                &state,
                &browser,
                &request,
                factors,
                StatusCode::UNAUTHORIZED,
                if locked {
                    "Too many wrong codes: the app's codes are refused until you use one of your recovery codes."
                } else {
                    "That code is not valid. Codes from the app change every 30 seconds; a recovery code works once."
                },
            )
            .await
        }
        Err(CodeError::Throttled(delayed)) if delayed.unavailable => {
            PageFailure::Unavailable.into_response()
        }
        Err(CodeError::Throttled(delayed)) => {
            let mut page = retry(
                &state,
                &browser,
                &request,
                factors,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts; wait a little and try again.",
            )
            .await;
            page.headers_mut().insert(
                http::header::RETRY_AFTER,
                HeaderValue::from(delayed.retry_after_seconds),
            );
            page
        }
        Err(CodeError::Store(e)) => PageFailure::from(e).into_response(),
    }
}

/// `POST /login/second-factor/setup`: the first code from the app a policy made the person set
/// up after their password; the app then counts, the session starts (`amr` `pwd otp`) and the
/// page shows the recovery codes once, with the way onwards.
pub async fn post_set_up(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    CsrfForm { browser, form }: CsrfForm<CodeForm>,
) -> Response {
    let request = form.request.clone().unwrap_or_default();
    let Some(next) = next_after_sign_in(&request) else {
        return PageFailure::BadRequest("The sign-in form was altered.".into()).into_response();
    };
    let now = state.clock.now();
    let user = match pending_user(&state, &headers).await {
        Ok(Some(user)) => user,
        Ok(None) => return start_again(&state, &browser, &request).await,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    // Every attempt counts against the per-IP `login` policy, as a password does.
    let limiting = &state.rate_limiting;
    if let Err(refused) = limiting
        .check(&limiting.limits.per_ip.login, &ip.limit_key())
        .await
    {
        if refused.backend_unavailable() {
            return PageFailure::Unavailable.into_response();
        }
        let mut res = StatusCode::TOO_MANY_REQUESTS.into_response();
        crate::error::rate_limit::render(&mut res, refused.decision(), refused.style());
        return res;
    }
    let typed = form.typed();
    let secret = form
        .secret
        .as_ref()
        .map(Secret::expose)
        .unwrap_or_default()
        .to_owned();
    match confirm_enrolment(&state, &user.id, &secret, typed, now).await {
        Ok(Confirmed::Yes(codes)) => {
            tracing::info!(event = "second_factor_enrolled", user_id = %user.id, "a person set up an authenticator app at sign-in");
            audit::record(
                &state,
                Caller::person(&user.id, Some(ip.0))
                    .did(Kind::SecondFactorEnrolled)
                    .target(&user.id)
                    .detail("authenticator app, at sign-in (required)"),
            )
            .await;
            audit::record(
                &state,
                Caller::person(&user.id, Some(ip.0))
                    .did(Kind::SignInSucceeded)
                    .target(&user.id)
                    .detail("sign-in page, password and a newly set-up authenticator app"),
            )
            .await;
            let amr = Amr::PASSWORD.with(Method::Otp);
            let mut cookies =
                match session_cookies(&state, &browser, &headers, ip.0, &user, amr, None).await {
                    Ok(c) => c,
                    Err(res) => return res,
                };
            cookies.push(clear_cookie(
                &state,
                pending_cookie_name(state.config.environment),
            ));
            let view = SetUpView {
                csrf: String::new(),
                request: String::new(),
                enrolling: None,
                next: Some(next),
                codes: codes.into_iter().map(Secret::into_exposed).collect(),
                error: None,
            };
            no_store(render(StatusCode::OK, &view, cookies))
        }
        Ok(Confirmed::WrongCode) => {
            let page = set_up_page(
                &state,
                &browser,
                StatusCode::BAD_REQUEST,
                &request,
                enrolling(&state, &user.email, &Secret::new(secret)),
                Some("That code is not the app's current one; try the next code it shows."),
                Vec::new(),
            );
            for_request(&state, &request, page).await
        }
        Ok(Confirmed::NothingWaiting) => {
            let page = login_page(
                &state,
                &browser,
                StatusCode::CONFLICT,
                &request,
                None,
                String::new(),
                Some("The set-up ended; sign in again."),
            );
            for_request(&state, &request, page).await
        }
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// Starts the session of `user` signed in with `amr` (at `keep`'s times for a step-up), clears
/// the pending sign-in, and sends the browser on to `next`.
#[expect(
    clippy::too_many_arguments,
    reason = "every way of finishing a sign-in names all"
)]
pub(crate) async fn start_signed_in(
    state: &AppState,
    browser: &Browser,
    headers: &HeaderMap,
    address: std::net::IpAddr,
    user: &User,
    amr: Amr,
    keep: Option<SessionTimes>,
    next: &str,
) -> Response {
    let pending = clear_cookie(state, pending_cookie_name(state.config.environment));
    finish_sign_in(
        state,
        browser,
        headers,
        address,
        user,
        amr,
        keep,
        next,
        vec![pending],
    )
    .await
}

/// The page again after a refused code, still carrying the request.
pub(crate) async fn retry(
    state: &AppState,
    browser: &Browser,
    request: &str,
    factors: Factors,
    status: StatusCode,
    message: &'static str,
) -> Response {
    let page = second_factor_page(
        state,
        browser,
        status,
        request,
        factors,
        Some(message),
        Vec::new(),
    );
    for_request(state, request, page).await
}
