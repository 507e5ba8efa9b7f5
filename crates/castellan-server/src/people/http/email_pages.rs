//! The pages email links open, and the forms that ask for them: an invitation
//! (`GET /invitation?token=…`, then `POST /invitation/accept` for a signed-in person with the
//! invited address, or `POST /invitation/join` to set up an account with a name and a
//! password), email verification (`POST /account/verify-email` mails a link;
//! `GET /verify-email?token=…` asks to confirm, `POST /verify-email` does) and password reset
//! (`GET`/`POST /password-reset` asks for a link, always with the same answer;
//! `GET`/`POST /password-reset/new` sets the password and ends every session). Tokens travel
//! in the query of the mailed link and then only in forms of these `no-store` pages.

use crate::audit::{self, Caller, Kind};
use crate::people::email_links::{
    find, hash_of, request_reset, reset, send_verification, verify, LinkError, ResetRefused,
    INVITATION_PATH, RESET_PATH, VERIFY_PATH,
};
use crate::people::http::account::csrf_for;
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::pages::{render, see_other, PageFailure};
use crate::people::http::session::{Browser, SignedIn};
use crate::people::passwords::{hash_password, PasswordError};
use crate::people::sessions::{csrf_cookie, session_cookie, start_session, SignInPlace};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use castellan_core::user::User;
use castellan_core::Secret;
use castellan_store::links::{EmailLink, LinkPurpose};
use castellan_store::StoreError;
use serde::Deserialize;

/// The pages' routes (they get the pages' layers).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(INVITATION_PATH, get(get_invitation))
        .route("/invitation/accept", post(accept_invitation))
        .route("/invitation/join", post(join_with_invitation))
        .route("/account/verify-email", post(ask_verification))
        .route(VERIFY_PATH, get(get_verify).post(confirm_verify))
        .route("/password-reset", get(get_reset).post(ask_reset))
        .route(RESET_PATH, get(get_new_password).post(set_new_password))
}

/// A page that says one thing.
#[derive(Template)]
#[template(path = "notice.html")]
pub struct NoticeView {
    /// Its title.
    pub title: &'static str,
    /// What it says.
    pub message: String,
    /// A link onwards (address, words).
    pub link: Option<(&'static str, &'static str)>,
}

fn notice(
    status: StatusCode,
    title: &'static str,
    message: impl Into<String>,
    link: Option<(&'static str, &'static str)>,
    cookies: Vec<String>,
) -> Response {
    let view = NoticeView {
        title,
        message: message.into(),
        link,
    };
    render(status, &view, cookies)
}

/// The answer to a link that does not work (used, withdrawn, expired or unknown).
fn dead_link() -> Response {
    notice(
        StatusCode::NOT_FOUND,
        "This link no longer works",
        "It was used already, withdrawn, or it expired. Ask for a new one.",
        Some(("/login", "Go to sign in")),
        Vec::new(),
    )
}

/// The `token` of a link's page.
#[derive(Debug, Default, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// How the invitation page lets its visitor in.
pub enum InvitationMode {
    /// Signed in with the invited address: a Join button.
    Accept,
    /// Signed in as someone else (their email).
    OtherAccount(String),
    /// Signed out: sign in first (with an account), or set one up.
    SignedOut,
}

/// The invitation page.
#[derive(Template)]
#[template(path = "invitation.html")]
pub struct InvitationView {
    /// The CSRF token of its form.
    pub csrf: String,
    /// The invitation's token, carried by its form.
    pub token: String,
    /// The organization's name.
    pub organization: String,
    /// The role it gives.
    pub role: &'static str,
    /// The address invited.
    pub email: String,
    /// Until when it works.
    pub until: String,
    /// What the visitor can do.
    pub mode: InvitationMode,
    /// Why the last form was refused.
    pub error: Option<String>,
    /// A refused form's name, shown again.
    pub name: String,
}

async fn invitation_page(
    state: &AppState,
    browser: &Browser,
    token: &str,
    link: &EmailLink,
    status: StatusCode,
    error: Option<String>,
    name: String,
) -> Response {
    let org = match &link.organization_id {
        Some(id) => match state.store.get_organization(id).await {
            Ok(Some(o)) => o,
            Ok(None) => return dead_link(),
            Err(e) => return PageFailure::from(e).into_response(),
        },
        None => return dead_link(),
    };
    let mode = match &browser.signed_in {
        Some(s) if s.user.email == link.email => InvitationMode::Accept,
        Some(s) => InvitationMode::OtherAccount(s.user.email.clone()),
        // Whether the address has an account is not looked up: the page offers both ways.
        None => InvitationMode::SignedOut,
    };
    let (csrf, cookies) = csrf_for(state, browser);
    let view = InvitationView {
        csrf,
        token: token.to_owned(),
        organization: org.name,
        role: link.role.map_or("", castellan_core::user::Role::as_str),
        email: link.email.clone(),
        until: link.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        mode,
        error,
        name,
    };
    render(status, &view, cookies)
}

/// `GET /invitation?token=…`: what the invitation offers, and how to take it.
pub async fn get_invitation(
    State(state): State<AppState>,
    browser: Browser,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    match find(&state, &token, LinkPurpose::Invite).await {
        Ok(Some(link)) => {
            invitation_page(
                &state,
                &browser,
                &token,
                &link,
                StatusCode::OK,
                None,
                String::new(),
            )
            .await
        }
        Ok(None) => dead_link(),
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// A form carrying a link's token.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    csrf: Option<Secret>,
    token: Option<String>,
}

impl PageForm for TokenForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

/// Joins the organization, says so in the audit log, and goes to its members page.
async fn joined(
    state: &AppState,
    joined: castellan_store::links::Joined,
    address: std::net::IpAddr,
    cookies: Vec<String>,
) -> Response {
    // This replica may have cached "not a member" for the pair at a gateway check.
    state
        .memberships
        .forget(&joined.organization_id, &joined.user_id)
        .await;
    audit::record(
        state,
        Caller::person(&joined.user_id, Some(address))
            .did(Kind::MemberJoined)
            .organization(Some(&joined.organization_id))
            .target(&joined.user_id)
            .detail(format!("role {}", joined.role)),
    )
    .await;
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("organization", &joined.organization_id);
    see_other(&format!("/account/members?{}", q.finish()), cookies)
}

/// `POST /invitation/accept`: the signed-in person with the invited address joins.
pub async fn accept_invitation(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<TokenForm>,
) -> Response {
    let Some(SignedIn { user, .. }) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let Some(hash) = form.token.as_deref().and_then(hash_of) else {
        return dead_link();
    };
    match state
        .store
        .accept_invitation(&hash, &user.id, None, state.clock.now())
        .await
    {
        Ok(Some(j)) => joined(&state, j, ip, Vec::new()).await,
        Ok(None) => dead_link(),
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// The form that sets up an account on an invitation.
#[derive(Debug, Deserialize)]
pub struct JoinForm {
    csrf: Option<Secret>,
    token: Option<String>,
    name: Option<String>,
    password: Option<Secret>,
    confirm: Option<Secret>,
}

impl PageForm for JoinForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

/// `POST /invitation/join`: a person without an account sets one up (the invited address,
/// verified by the link) and joins; they are signed in.
pub async fn join_with_invitation(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    CsrfForm { browser, form }: CsrfForm<JoinForm>,
) -> Response {
    if browser.signed_in.is_some() {
        return PageFailure::BadRequest(
            "You are signed in: sign out before setting up another account.".into(),
        )
        .into_response();
    }
    let token = form.token.unwrap_or_default();
    let link = match find(&state, &token, LinkPurpose::Invite).await {
        Ok(Some(l)) => l,
        Ok(None) => return dead_link(),
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let name = form.name.unwrap_or_default().trim().to_owned();
    let again = |error: &str, name: String| {
        let state = &state;
        let browser = &browser;
        let link = &link;
        let token = &token;
        let error = error.to_owned();
        async move {
            invitation_page(
                state,
                browser,
                token,
                link,
                StatusCode::BAD_REQUEST,
                Some(error),
                name,
            )
            .await
        }
    };
    if name.is_empty() || name.chars().count() > 256 || castellan_core::text::check(&name).is_err()
    {
        return again(
            "Give your name: 1 to 256 characters, no control characters.",
            String::new(),
        )
        .await;
    }
    let (Some(password), Some(confirm)) = (form.password, form.confirm) else {
        return again("Choose a password and type it twice.", name).await;
    };
    if password.expose() != confirm.expose() {
        return again("The two passwords differ; type the same one twice.", name).await;
    }
    let hash = match hash_password(password).await {
        Ok(h) => h,
        Err(PasswordError::Length) => {
            return again("The password must be 8 to 1024 characters long.", name).await
        }
        Err(PasswordError::Hash) => return PageFailure::Unavailable.into_response(),
    };
    let now = state.clock.now();
    let id = castellan_crypto::random_id(24);
    let user = User {
        id: id.clone(),
        email: link.email.clone(),
        name: name.clone(),
        password_hash: hash,
        created_at: now,
        is_admin: false,
        disabled_at: None,
        // Verified by the store only when the invitation went out by mail.
        email_verified_at: None,
    };
    let Some(hash) = hash_of(&token) else {
        return dead_link();
    };
    match state
        .store
        .accept_invitation(&hash, &id, Some(&user), now)
        .await
    {
        Ok(Some(j)) => {
            let place = SignInPlace {
                user_agent: headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()),
                address: ip.0,
            };
            match start_session(
                &state,
                &id,
                now,
                castellan_core::authn::Amr::PASSWORD,
                place,
            )
            .await
            {
                Ok(session) => {
                    let cookies = vec![
                        session_cookie(&state, &session),
                        csrf_cookie(&state, &crate::people::csrf::new_cookie_token()),
                    ];
                    joined(&state, j, ip.0, cookies).await
                }
                Err(e) => PageFailure::from(e).into_response(),
            }
        }
        Ok(None) => dead_link(),
        Err(StoreError::Conflict(_)) => {
            again(
                "No account was set up: if you have one, sign in with this address and open \
                 the link again.",
                name,
            )
            .await
        }
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// `POST /account/verify-email`: mails the signed-in person a verification link.
pub async fn ask_verification(
    State(state): State<AppState>,
    CsrfForm { browser, form: _ }: CsrfForm<TokenForm>,
) -> Response {
    let Some(SignedIn { user, .. }) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let done = match send_verification(&state, user).await {
        Ok(()) => "sent",
        Err(LinkError::NoMail) => "nomail",
        Err(LinkError::TooSoon) => "soon",
        Err(LinkError::Store(e)) => return PageFailure::from(e).into_response(),
        Err(_) => "failed",
    };
    see_other(&format!("/account?verify={done}"), Vec::new())
}

/// `GET /verify-email?token=…`: asks to confirm the address.
pub async fn get_verify(
    State(state): State<AppState>,
    browser: Browser,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    let link = match find(&state, &token, LinkPurpose::VerifyEmail).await {
        Ok(Some(l)) => l,
        Ok(None) => return dead_link(),
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let (csrf, cookies) = csrf_for(&state, &browser);
    let view = VerifyView {
        csrf,
        token,
        email: link.email,
    };
    render(StatusCode::OK, &view, cookies)
}

/// The page that confirms an address.
#[derive(Template)]
#[template(path = "verify_email.html")]
pub struct VerifyView {
    /// The CSRF token of its form.
    pub csrf: String,
    /// The link's token, carried by its form.
    pub token: String,
    /// The address.
    pub email: String,
}

/// `POST /verify-email`: marks the address verified.
pub async fn confirm_verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser: _, form }: CsrfForm<TokenForm>,
) -> Response {
    match verify(&state, form.token.as_deref().unwrap_or_default(), ip).await {
        Ok(Some(_)) => notice(
            StatusCode::OK,
            "Email address verified",
            "Thank you: your email address is verified.",
            Some(("/account", "Go to your account")),
            Vec::new(),
        ),
        Ok(None) => dead_link(),
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// The password-reset pages.
#[derive(Template)]
#[template(path = "password_reset.html")]
pub struct ResetView {
    /// The CSRF token of its form.
    pub csrf: String,
    /// The link's token (the page that sets the password), or `None` (the page that asks).
    pub token: Option<String>,
    /// Why the last form was refused.
    pub error: Option<&'static str>,
}

fn reset_page(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    token: Option<String>,
    error: Option<&'static str>,
) -> Response {
    let (csrf, cookies) = csrf_for(state, browser);
    render(status, &ResetView { csrf, token, error }, cookies)
}

/// `GET /password-reset`: the form that asks for a link.
pub async fn get_reset(State(state): State<AppState>, browser: Browser) -> Response {
    reset_page(&state, &browser, StatusCode::OK, None, None)
}

/// The form that asks for a reset link.
#[derive(Debug, Deserialize)]
pub struct ResetRequestForm {
    csrf: Option<Secret>,
    email: Option<String>,
}

impl PageForm for ResetRequestForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

/// `POST /password-reset`: sends a link when an account has the address; the answer is the
/// same either way.
pub async fn ask_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<ResetRequestForm>,
) -> Response {
    let email: String = form.email.unwrap_or_default().chars().take(254).collect();
    match request_reset(&state, &email, ip).await {
        Ok(()) => notice(
            StatusCode::OK,
            "Check your mail",
            format!(
                "If an account uses this address, a link to set a new password is on its way. It works once, for {} minutes.",
                state.config.mail.reset_minutes
            ),
            Some(("/login", "Back to sign in")),
            Vec::new(),
        ),
        Err(ResetRefused::NoMail) => notice(
            StatusCode::OK,
            "Mail is not set up",
            "This server sends no mail, so it cannot send you a link: ask an administrator to set a new password for you.",
            Some(("/login", "Back to sign in")),
            Vec::new(),
        ),
        Err(ResetRefused::Limited(limited)) => {
            if limited.backend_unavailable() {
                return PageFailure::Unavailable.into_response();
            }
            let mut res = reset_page(
                &state,
                &browser,
                StatusCode::TOO_MANY_REQUESTS,
                None,
                Some("Too many requests; wait a little and try again."),
            );
            if let Some(s) = limited.decision().retry_after_seconds {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
            res
        }
    }
}

/// `GET /password-reset/new?token=…`: the form that sets a new password.
pub async fn get_new_password(
    State(state): State<AppState>,
    browser: Browser,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    match find(&state, &token, LinkPurpose::ResetPassword).await {
        Ok(Some(_)) => reset_page(&state, &browser, StatusCode::OK, Some(token), None),
        Ok(None) => dead_link(),
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// The form that sets a new password.
#[derive(Debug, Deserialize)]
pub struct NewPasswordForm {
    csrf: Option<Secret>,
    token: Option<String>,
    new: Option<Secret>,
    confirm: Option<Secret>,
}

impl PageForm for NewPasswordForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

/// `POST /password-reset/new`: sets the password; every session of the person ends.
pub async fn set_new_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<NewPasswordForm>,
) -> Response {
    let token = form.token.unwrap_or_default();
    match find(&state, &token, LinkPurpose::ResetPassword).await {
        Ok(Some(_)) => {}
        Ok(None) => return dead_link(),
        Err(e) => return PageFailure::from(e).into_response(),
    }
    let again = |error| {
        reset_page(
            &state,
            &browser,
            StatusCode::BAD_REQUEST,
            Some(token.clone()),
            Some(error),
        )
    };
    let (Some(new), Some(confirm)) = (form.new, form.confirm) else {
        return again("Type the new password twice.");
    };
    if new.expose() != confirm.expose() {
        return again("The two passwords differ; type the same one twice.");
    }
    let hash = match hash_password(new).await {
        Ok(h) => h,
        Err(PasswordError::Length) => {
            return again("The password must be 8 to 1024 characters long.")
        }
        Err(PasswordError::Hash) => return PageFailure::Unavailable.into_response(),
    };
    match reset(&state, &token, &hash, ip).await {
        Ok(Some(_)) => notice(
            StatusCode::OK,
            "Password set",
            "Your new password is set, and every browser signed in to your account was signed out.",
            Some(("/login", "Sign in")),
            Vec::new(),
        ),
        Ok(None) => dead_link(),
        Err(e) => PageFailure::from(e).into_response(),
    }
}
