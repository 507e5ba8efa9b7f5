//! What every page shares: the layers of a page ([`as_pages`], [`as_assets`]), the askama
//! views, and how a page becomes an answer.
//!
//! Every page carries `Content-Security-Policy: default-src 'self'; base-uri 'self';
//! frame-ancestors 'none'; form-action 'self'` (`base-uri`, which `default-src` does not cover,
//! stops an injected `<base>` from sending relative links and forms elsewhere),
//! `Cache-Control: no-store` (forms carry CSRF tokens; answers must not be cached) and
//! `Referrer-Policy: same-origin`; the edge adds `X-Frame-Options: DENY` (clickjacking, RFC 9700
//! §4.16) and `nosniff` to them as to every answer.

use crate::oauth::consent::ScopeLine;
use crate::platform::state::AppState;
use askama::Template;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use castellan_core::user::{Organization, Role};
use tower_http::set_header::SetResponseHeaderLayer;

/// Largest form body a page accepts.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The `Content-Security-Policy` of every page: nothing from other origins, no framing, forms sent
/// only here.
pub const CSP: &str =
    "default-src 'self'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";

/// `router`'s routes as pages: forms bounded to `MAX_FORM_BYTES`, answers never cached
/// (forms carry CSRF tokens), and the headers of [`as_assets`].
pub fn as_pages(router: Router<AppState>) -> Router<AppState> {
    as_assets(router.layer(DefaultBodyLimit::max(MAX_FORM_BYTES)).layer(
        SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ),
    ))
}

/// `router`'s routes with what every page and page asset carries besides the security headers
/// of every answer (added by the edge): the [`CSP`] (unless the answer set its own) and
/// `Referrer-Policy: same-origin` in place of the edge's `no-referrer`.
pub fn as_assets(router: Router<AppState>) -> Router<AppState> {
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        // `no-referrer` (the server-wide default) makes browsers send `Origin: null` on form
        // posts, which the CSRF origin check must refuse; `same-origin` keeps the real origin
        // on our own forms and still sends nothing to other sites.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
}

/// The copy button's script (a secret shown once: an API key, an OAuth app's secret): a file
/// from this server, so the pages' CSP (`default-src 'self'`) needs no inline script.
pub const COPY_SCRIPT_PATH: &str = "/assets/copy.js";

/// Serves the copy button's script (cacheable, like the stylesheet).
pub async fn get_copy_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../templates/copy.js"),
    )
        .into_response()
}

/// The passkey buttons' script (the WebAuthn calls of the login, second-factor and passkeys
/// pages), a file from this server like the copy button's.
pub const PASSKEY_SCRIPT_PATH: &str = "/assets/passkey.js";

/// Serves the passkey buttons' script.
pub async fn get_passkey_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../templates/passkey.js"),
    )
        .into_response()
}

/// The pages' stylesheet.
pub async fn get_stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../templates/castellan.css"),
    )
        .into_response()
}

/// Renders `view` as an HTML answer with `status` and the given `Set-Cookie` values.
pub fn render(status: StatusCode, view: &impl Template, cookies: Vec<String>) -> Response {
    match view.render() {
        Ok(body) => {
            let mut res = (status, Html(body)).into_response();
            add_cookies(&mut res, cookies);
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "a page template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be shown",
            )
                .into_response()
        }
    }
}

/// Allows the forms of a page to end in a redirect to the client's `redirect_uri`: browsers
/// apply `form-action` to every redirect that follows a form post (CSP 3 §6.4.2), so the
/// consent and login pages of an authorization request name the client's origin too.
pub fn allow_form_redirect_to(mut res: Response, redirect_uri: &str) -> Response {
    let source = match url::Url::parse(redirect_uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u.origin().ascii_serialization(),
        Ok(u) => format!("{}:", u.scheme()),
        Err(_) => return res,
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "default-src 'self'; base-uri 'self'; frame-ancestors 'none'; form-action 'self' {source}"
    )) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

/// A `303 See Other` to `location` (a path on this server, or a validated redirect URI).
pub fn see_other(location: &str, cookies: Vec<String>) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    add_cookies(&mut res, cookies);
    res
}

/// A `302 Found` to a client's redirect URI (RFC 6749 §4.1.2 shows 302).
pub fn found(location: &str, cookies: Vec<String>) -> Response {
    let mut res = see_other(location, cookies);
    *res.status_mut() = StatusCode::FOUND;
    res
}

fn add_cookies(res: &mut Response, cookies: Vec<String>) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut()
                .append(HeaderName::from_static("set-cookie"), v);
        }
    }
}

/// Why a page cannot be shown. The message is for the person in front of the browser and
/// never contains a secret.
#[derive(Debug)]
pub enum PageFailure {
    /// 400: a request that cannot be trusted (unknown client, unregistered redirect URI) or
    /// is malformed. Never a redirect.
    BadRequest(String),
    /// 403: the form failed the CSRF check, or the session does not fit the request.
    Forbidden(String),
    /// 404.
    NotFound,
    /// 503: storage is unavailable.
    Unavailable,
}

impl From<castellan_store::StoreError> for PageFailure {
    fn from(e: castellan_store::StoreError) -> Self {
        tracing::error!(error = %e, "storage failed while serving a page");
        PageFailure::Unavailable
    }
}

impl IntoResponse for PageFailure {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageFailure::BadRequest(m) => (StatusCode::BAD_REQUEST, "Request refused", m),
            PageFailure::Forbidden(m) => (StatusCode::FORBIDDEN, "Request refused", m),
            PageFailure::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page.".to_owned(),
            ),
            PageFailure::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The service is temporarily unavailable; please try again shortly.".to_owned(),
            ),
        };
        render(status, &ErrorView { title, message }, Vec::new())
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorView {
    /// The page's heading.
    pub title: &'static str,
    /// What went wrong.
    pub message: String,
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginView {
    /// The CSRF token of the form.
    pub csrf: String,
    /// The authorization request being continued (its query string), or empty.
    pub request: String,
    /// The name of the client asking, when an authorization request is being continued.
    pub client_name: Option<String>,
    /// The email address typed, kept after a failed attempt.
    pub email: String,
    /// Why the last attempt failed, if it did.
    pub error: Option<&'static str>,
    /// Whether a forgotten password can be reset by mail (a mail server is configured).
    pub reset_offered: bool,
    /// Whether signing in with a passkey is offered (the issuer is a domain name).
    pub passkeys: bool,
}

/// An organization offered on the consent page.
pub struct OrganizationChoice {
    /// The organization's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The person's role in it.
    pub role: &'static str,
}

/// The device page: the form to type a user code.
#[derive(Template)]
#[template(path = "device.html")]
pub struct DeviceView {
    /// The CSRF token of the form.
    pub csrf: String,
    /// The code to prefill (from `verification_uri_complete`), or empty.
    pub user_code: String,
    /// Why the last code was refused, if it was.
    pub error: Option<&'static str>,
}

/// The device consent page.
#[derive(Template)]
#[template(path = "device_consent.html")]
pub struct DeviceConsentView {
    /// The CSRF token of the form.
    pub csrf: String,
    /// The user code, as shown (`XXXX-XXXX`).
    pub user_code: String,
    /// The name of the client asking.
    pub client_name: String,
    /// For a client identified by a metadata document, the host that published it.
    pub client_host: Option<String>,
    /// The signed-in person's email address.
    pub user_email: String,
    /// The scopes asked for, in plain words.
    pub scopes: Vec<ScopeLine>,
    /// Whether some scope asked for lets the app change data.
    pub asks_to_write: bool,
    /// The organizations the grant may be bound to.
    pub organizations: Vec<OrganizationChoice>,
}

/// The page after a device decision.
#[derive(Template)]
#[template(path = "device_done.html")]
pub struct DeviceDoneView {
    /// Whether the device was approved.
    pub approved: bool,
}

/// The consent page.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentView {
    /// The CSRF token of the form.
    pub csrf: String,
    /// The authorization request being decided (its query string).
    pub request: String,
    /// The name of the client asking.
    pub client_name: String,
    /// The signed-in person's email address.
    pub user_email: String,
    /// The scopes asked for, in plain words.
    pub scopes: Vec<ScopeLine>,
    /// Whether some scope asked for lets the app change data.
    pub asks_to_write: bool,
    /// The organizations the grant may be bound to.
    pub organizations: Vec<OrganizationChoice>,
    /// The host the answer is sent back to.
    pub redirect_host: String,
    /// For a client identified by a metadata document, the host that published it: what the
    /// person can verify, unlike the name the document claims.
    pub client_host: Option<String>,
    /// Whether every redirect URI of that client is on this machine (loopback): anyone can
    /// publish such a document, so its name proves nothing.
    pub localhost_only: bool,
}

/// The account page.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountView {
    /// The CSRF token of the page's forms.
    pub csrf: String,
    /// The person's name.
    pub name: String,
    /// Their email address.
    pub email: String,
    /// Whether they proved they receive mail there.
    pub email_verified: bool,
    /// What the last action did.
    pub notice: Option<&'static str>,
}

/// One connected app (a consent) on the account page.
pub struct ConnectedAppLine {
    /// The consent id.
    pub id: String,
    /// The client's name.
    pub client_name: String,
    /// The scopes consented to, in plain words.
    pub scopes: Vec<ScopeLine>,
    /// The name of the organization it is bound to, or `—`.
    pub organization: String,
    /// The day it was given.
    pub date: String,
}

/// The connected-apps page.
#[derive(Template)]
#[template(path = "connected_apps.html")]
pub struct ConnectedAppsView {
    /// The CSRF token of the page's forms.
    pub csrf: String,
    /// The apps listed.
    pub apps: Vec<ConnectedAppLine>,
}

/// One signed-in session on the sessions page.
pub struct SessionLine {
    /// The session's public id.
    pub id: String,
    /// The browser and system, or "Unknown device".
    pub device: String,
    /// The address it signed in from, or "—".
    pub address: String,
    /// When it signed in (UTC, to the minute).
    pub signed_in: String,
    /// Whether it is the session of the browser looking at the page.
    pub current: bool,
}

/// The sessions page.
#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsView {
    /// The CSRF token of the page's forms.
    pub csrf: String,
    /// The person's live sessions, newest first.
    pub sessions: Vec<SessionLine>,
    /// What the last action did, when the page follows one.
    pub notice: Option<&'static str>,
}

/// The change-password page.
#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordView {
    /// The CSRF token of the form.
    pub csrf: String,
    /// Why the last attempt was refused.
    pub error: Option<&'static str>,
    /// Whether the password was just changed.
    pub changed: bool,
}

/// One of the person's organizations, offered by a page's picker.
#[derive(Clone)]
pub struct OrganizationOption {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The person's role there.
    pub role: &'static str,
    /// Whether it is the one chosen.
    pub selected: bool,
}

/// The person's organizations as a picker's options, `chosen` selected.
pub fn organization_options(
    mine: &[(Organization, Role)],
    chosen: Option<&str>,
) -> Vec<OrganizationOption> {
    mine.iter()
        .map(|(o, role)| OrganizationOption {
            selected: chosen == Some(o.id.as_str()),
            id: o.id.clone(),
            name: o.name.clone(),
            role: role.as_str(),
        })
        .collect()
}

/// The organization a page shows: `wanted` when it is one of the person's (else a 404, never
/// another organization's page), or their first when none is asked for.
pub fn shown_organization<'a>(
    mine: &'a [(Organization, Role)],
    wanted: Option<&str>,
) -> Result<Option<&'a (Organization, Role)>, PageFailure> {
    match wanted.filter(|w| !w.is_empty()) {
        Some(w) => mine
            .iter()
            .find(|(o, _)| o.id == w)
            .map(Some)
            .ok_or(PageFailure::NotFound),
        None => Ok(mine.first()),
    }
}

/// One event on the owner's audit page.
pub struct AuditLine {
    /// When (UTC, to the second).
    pub at: String,
    /// What happened.
    pub kind: String,
    /// Who: their kind and id.
    pub actor: String,
    /// From which address, or "—".
    pub address: String,
    /// The organization's name.
    pub organization: String,
    /// Whether it records a refusal.
    pub failed: bool,
    /// The id of what was acted on.
    pub target: String,
    /// A short detail.
    pub detail: String,
}

/// The owner's audit page.
#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditView {
    /// Whether the person owns no organization.
    pub owns_none: bool,
    /// The organizations they own.
    pub organizations: Vec<OrganizationOption>,
    /// The families of events, and whether the filter is set to each.
    pub families: Vec<(&'static str, bool)>,
    /// The events of this page.
    pub events: Vec<AuditLine>,
    /// How many match in all.
    pub total: u64,
    /// This page's number (from 1).
    pub page: u32,
    /// The previous page's link.
    pub previous: Option<String>,
    /// The next page's link.
    pub next: Option<String>,
}
