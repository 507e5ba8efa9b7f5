//! The account's second factor (`/account/two-factor`, see `people::second_factor`): whether an
//! authenticator app is set up, when it was last used and how many recovery codes are left;
//! setting one up (a QR code and the secret as text, then a first code to confirm it, then ten
//! recovery codes shown once); new recovery codes and removal, each needing a fresh code from
//! the app or a recovery code.

use crate::audit::{self, Caller, Kind};
use crate::people::http::account::csrf_for;
use crate::people::http::account::{password_again, PasswordRefused};
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::pages::{render, see_other, PageFailure};
use crate::people::http::session::{Browser, SignedIn};
use crate::people::second_factor::{
    check_code, confirm_enrolment, enrolling, new_recovery_codes, start_enrolment, CodeError,
    Confirmed, Enrolling,
};
use crate::people::sessions::end_other_sessions;
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use castellan_core::Secret;
use serde::Deserialize;

/// The page's path.
pub const PATH: &str = "/account/two-factor";

/// The routes of the page and its forms.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(get_two_factor))
        .route("/account/two-factor/start", post(start))
        .route("/account/two-factor/confirm", post(confirm))
        .route("/account/two-factor/recovery-codes", post(renew_codes))
        .route("/account/two-factor/remove", post(remove))
}

/// The page.
#[derive(Template)]
#[template(path = "two_factor.html")]
pub struct TwoFactorView {
    /// The CSRF token of the forms.
    pub csrf: String,
    /// Whether an authenticator app is set up.
    pub enrolled: bool,
    /// When it was set up (UTC), when enrolled.
    pub since: String,
    /// When a code of it was last accepted (UTC), or empty.
    pub last_used: String,
    /// Recovery codes left.
    pub codes_left: u32,
    /// When a recovery code was last used (UTC), or empty.
    pub codes_last_used: String,
    /// The enrolment waiting for its first code, when one is being set up.
    pub enrolling: Option<Enrolling>,
    /// New recovery codes, shown once.
    pub new_codes: Vec<String>,
    /// What just happened, if anything.
    pub notice: Option<&'static str>,
    /// Why the last form was refused, if it was.
    pub error: Option<&'static str>,
}

/// `?removed=1`: the page after removal.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    removed: Option<String>,
}

/// A time as the account pages show it (UTC), or empty.
pub(crate) fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// What the page shows besides its state: an enrolment, new codes, a notice, an error.
#[derive(Default)]
struct Shown {
    enrolling: Option<Enrolling>,
    new_codes: Vec<String>,
    notice: Option<&'static str>,
    error: Option<&'static str>,
}

async fn page(
    state: &AppState,
    browser: &Browser,
    signed_in: &SignedIn,
    status: StatusCode,
    shown: Shown,
) -> Response {
    let user_id = &signed_in.user.id;
    let factor = match state.store.get_totp(user_id).await {
        Ok(f) => f.filter(|f| f.confirmed_at.is_some()),
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let codes = match state.store.recovery_codes(user_id).await {
        Ok(c) => c,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let (csrf, cookies) = csrf_for(state, browser);
    let view = TwoFactorView {
        csrf,
        enrolled: factor.is_some(),
        since: when(factor.as_ref().and_then(|f| f.confirmed_at)),
        last_used: when(factor.as_ref().and_then(|f| f.last_used_at)),
        codes_left: codes.left,
        codes_last_used: when(codes.last_used_at),
        enrolling: shown.enrolling,
        new_codes: shown.new_codes,
        notice: shown.notice,
        error: shown.error,
    };
    let mut res = render(status, &view, cookies);
    // Secrets and recovery codes are on it: never kept by a cache.
    res.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    res
}

/// `GET /account/two-factor`.
pub async fn get_two_factor(
    State(state): State<AppState>,
    browser: Browser,
    Query(done): Query<Done>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let notice = (done.removed.as_deref() == Some("1"))
        .then_some("Your authenticator app was removed, with its recovery codes.");
    page(
        &state,
        &browser,
        signed_in,
        StatusCode::OK,
        Shown {
            notice,
            ..Shown::default()
        },
    )
    .await
}

/// The form that starts a set-up: the password again.
#[derive(Debug, Deserialize)]
pub struct StartForm {
    csrf: Option<Secret>,
    password: Option<Secret>,
}

impl PageForm for StartForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

/// A form carrying a code (and, to confirm a set-up, the secret it showed).
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    csrf: Option<Secret>,
    code: Option<Secret>,
    secret: Option<Secret>,
}

impl PageForm for CodeForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

impl CodeForm {
    fn code(&self) -> &str {
        self.code
            .as_ref()
            .map(Secret::expose)
            .filter(|c| c.len() <= crate::people::second_factor::MAX_CODE_LEN)
            .unwrap_or_default()
    }
}

/// `POST /account/two-factor/start`: a new secret, waiting for its first code.
pub async fn start(
    State(state): State<AppState>,
    ip: ClientIp,
    CsrfForm { browser, form }: CsrfForm<StartForm>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    // A stolen session alone cannot put its thief's app on the account: the password first.
    let what = "two-step sign-in set-up (password asked again)";
    let refused = match password_again(&state, signed_in, form.password, &ip, what).await {
        Ok(()) => None,
        Err(PasswordRefused::Answer(res)) => return res,
        Err(refused) => Some(refused.said()),
    };
    if let Some((status, message)) = refused {
        let shown = Shown {
            error: Some(message),
            ..Shown::default()
        };
        return page(&state, &browser, signed_in, status, shown).await;
    }
    let now = state.clock.now();
    match start_enrolment(&state, &signed_in.user.id, now).await {
        Ok(Some(secret)) => {
            let shown = Shown {
                enrolling: enrolling(&state, &signed_in.user.email, &secret),
                ..Shown::default()
            };
            page(&state, &browser, signed_in, StatusCode::OK, shown).await
        }
        Ok(None) => {
            let shown = Shown {
                error: Some("An authenticator app is already set up; remove it first."),
                ..Shown::default()
            };
            page(&state, &browser, signed_in, StatusCode::CONFLICT, shown).await
        }
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// `POST /account/two-factor/confirm`: the first code makes the app count; recovery codes are
/// shown once.
pub async fn confirm(
    State(state): State<AppState>,
    ip: ClientIp,
    CsrfForm { browser, form }: CsrfForm<CodeForm>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let user = &signed_in.user;
    let now = state.clock.now();
    let secret = form.secret.as_ref().map(Secret::expose).unwrap_or_default();
    match confirm_enrolment(&state, &user.id, secret, form.code(), now).await {
        Ok(Confirmed::Yes(codes)) => {
            // Every other session of the person ends: one signed in with a stolen password
            // before the app was set up does not outlive it.
            if let Err(e) = end_other_sessions(&state, &user.id, &signed_in.session.hash).await {
                return PageFailure::from(e).into_response();
            }
            tracing::info!(event = "second_factor_enrolled", user_id = %user.id, "a person set up an authenticator app");
            audit::record(
                &state,
                Caller::person(&user.id, Some(ip.0))
                    .did(Kind::SecondFactorEnrolled)
                    .target(&user.id)
                    .detail("authenticator app"),
            )
            .await;
            let shown = Shown {
                new_codes: codes.into_iter().map(Secret::into_exposed).collect(),
                notice: Some(
                    "Your authenticator app is set up: every sign-in now asks for a code.",
                ),
                ..Shown::default()
            };
            page(&state, &browser, signed_in, StatusCode::OK, shown).await
        }
        Ok(Confirmed::WrongCode) => {
            // The same secret again (the one this form carried), to try another code.
            let shown = Shown {
                enrolling: enrolling(&state, &user.email, &Secret::new(secret)),
                error: Some("That code is not the app's current one; try the next code it shows."),
                ..Shown::default()
            };
            page(&state, &browser, signed_in, StatusCode::BAD_REQUEST, shown).await
        }
        Ok(Confirmed::NothingWaiting) => {
            let shown = Shown {
                error: Some("No set-up is waiting for a code; start again."),
                ..Shown::default()
            };
            page(&state, &browser, signed_in, StatusCode::CONFLICT, shown).await
        }
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// Checks a fresh code of the signed-in person for a change to their second factor; the page
/// with the refusal when it is not accepted.
async fn fresh_code(
    state: &AppState,
    browser: &Browser,
    signed_in: &SignedIn,
    ip: &ClientIp,
    code: &str,
) -> Result<(), Response> {
    let user_id = &signed_in.user.id;
    let refused = |status, error| {
        Shown {
            error: Some(error),
            ..Shown::default()
        }
        .into_page(state, browser, signed_in, status)
    };
    // Every attempt counts against the per-IP `login` policy, as at sign-in.
    let limiting = &state.rate_limiting;
    if let Err(limited) = limiting
        .check(&limiting.limits.per_ip.login, &ip.limit_key())
        .await
    {
        if limited.backend_unavailable() {
            return Err(PageFailure::Unavailable.into_response());
        }
        return Err(refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts from your network; wait a minute and try again.",
        )
        .await);
    }
    match check_code(state, user_id, code, &ip.limit_key(), state.clock.now()).await {
        Ok(used) => {
            if used == crate::people::second_factor::CodeUsed::Recovery {
                audit::record(
                    state,
                    Caller::person(user_id, Some(ip.0))
                        .did(Kind::RecoveryCodeUsed)
                        .target(user_id)
                        .detail("on the account page"),
                )
                .await;
            }
            Ok(())
        }
        Err(e @ (CodeError::Invalid | CodeError::Locked)) => {
            audit::record(
                state,
                Caller::person(user_id, Some(ip.0))
                    .did(Kind::SecondFactorFailed)
                    .target(user_id)
                    .detail("account page: wrong or used code"),
            )
            .await;
            let said = if matches!(e, CodeError::Locked) {
                "Too many wrong codes: the app's codes are refused until you use one of your recovery codes."
            } else {
                "That code is not valid."
            };
            Err(refused(StatusCode::UNAUTHORIZED, said).await)
        }
        Err(CodeError::Throttled(d)) if d.unavailable => {
            Err(PageFailure::Unavailable.into_response())
        }
        Err(CodeError::Throttled(d)) => {
            let mut res = refused(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts; wait a little and try again.",
            )
            .await;
            res.headers_mut().insert(
                http::header::RETRY_AFTER,
                HeaderValue::from(d.retry_after_seconds),
            );
            Err(res)
        }
        Err(CodeError::Store(e)) => Err(PageFailure::from(e).into_response()),
    }
}

impl Shown {
    async fn into_page(
        self,
        state: &AppState,
        browser: &Browser,
        signed_in: &SignedIn,
        status: StatusCode,
    ) -> Response {
        page(state, browser, signed_in, status, self).await
    }
}

/// `POST /account/two-factor/recovery-codes`: ten new codes (the old ones stop working),
/// after a fresh code.
pub async fn renew_codes(
    State(state): State<AppState>,
    ip: ClientIp,
    CsrfForm { browser, form }: CsrfForm<CodeForm>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    if let Err(res) = fresh_code(&state, &browser, signed_in, &ip, form.code()).await {
        return res;
    }
    let user_id = &signed_in.user.id;
    let (codes, hashes) = new_recovery_codes();
    match state
        .store
        .replace_recovery_codes(user_id, &hashes, state.clock.now())
        .await
    {
        Ok(true) => {
            audit::record(
                &state,
                Caller::person(user_id, Some(ip.0))
                    .did(Kind::RecoveryCodesRenewed)
                    .target(user_id),
            )
            .await;
            let shown = Shown {
                new_codes: codes.into_iter().map(Secret::into_exposed).collect(),
                notice: Some("New recovery codes: the old ones no longer work."),
                ..Shown::default()
            };
            page(&state, &browser, signed_in, StatusCode::OK, shown).await
        }
        Ok(false) => see_other(PATH, Vec::new()),
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// `POST /account/two-factor/remove`: removes the app and its recovery codes, after a fresh
/// code.
pub async fn remove(
    State(state): State<AppState>,
    ip: ClientIp,
    CsrfForm { browser, form }: CsrfForm<CodeForm>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    if let Err(res) = fresh_code(&state, &browser, signed_in, &ip, form.code()).await {
        return res;
    }
    let user_id = &signed_in.user.id;
    match state.store.remove_totp(user_id).await {
        Ok(removed) => {
            if removed {
                tracing::info!(event = "second_factor_removed", user_id = %user_id, "a person removed their authenticator app");
                audit::record(
                    &state,
                    Caller::person(user_id, Some(ip.0))
                        .did(Kind::SecondFactorRemoved)
                        .target(user_id)
                        .detail("authenticator app and recovery codes"),
                )
                .await;
            }
            see_other(&format!("{PATH}?removed=1"), Vec::new())
        }
        Err(e) => PageFailure::from(e).into_response(),
    }
}
