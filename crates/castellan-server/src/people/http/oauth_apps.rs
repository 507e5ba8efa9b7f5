//! The OAuth apps page of the account area (seed 001: Settings → Developer → OAuth Apps):
//! `GET /account/oauth-apps?organization=…` lists an organization's apps to its members;
//! OWNERs and MANAGERs register one (`POST /account/oauth-apps`: the answer, never a redirect,
//! shows its client id and, for a confidential app, its secret once with a copy button), give
//! one a new secret with an overlap during which the old one still works
//! (`POST /account/oauth-apps/rotate-secret`, the new secret shown once) and delete one
//! (`POST /account/oauth-apps/delete`). Every form is CSRF-checked; an app of another
//! organization, or an organization the person is not in, is a 404; a VIEWER's change is a 403.

use crate::audit::Caller;
use crate::oauth::consent::describe;
use crate::people::http::account::csrf_for;
use crate::people::http::csrf_form::CsrfForm;
use crate::people::http::fields::Fields;
use crate::people::http::pages::{
    organization_options, render, see_other, shown_organization, OrganizationOption, PageFailure,
};
use crate::people::http::session::{Browser, SignedIn};
use crate::people::oauth_apps::{
    delete_app, may_manage, offered_scopes, register_app, rotate_app_secret, AppDraft, AppError,
};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use castellan_core::client::{Client, ClientKind};
use castellan_core::ScopeSet;
use serde::Deserialize;

/// The page's path.
pub const PATH: &str = "/account/oauth-apps";
/// Most redirect URIs read from the form.
const MAX_REDIRECT_URIS: usize = 20;

/// The page's routes (they get the pages' layers).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(get_apps).post(create_app))
        .route("/account/oauth-apps/rotate-secret", post(rotate_secret))
        .route("/account/oauth-apps/delete", post(remove_app))
}

/// One app on the list.
pub struct AppLine {
    /// Its client id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// "server-side (secret)" or "browser or mobile (PKCE)".
    pub kind: &'static str,
    /// Whether it has a secret to rotate.
    pub confidential: bool,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// The day it was registered.
    pub created: String,
    /// Until when its previous secret is still accepted, if it is.
    pub previous_until: Option<String>,
}

/// A permission offered by the form.
pub struct AppScopeChoice {
    /// The scope and its words.
    pub line: crate::oauth::consent::ScopeLine,
    /// Whether it is ticked (a refused form shown again).
    pub checked: bool,
}

/// A secret shown once: a new app's, or a rotated one's.
pub struct ShownSecret {
    /// The app's name.
    pub name: String,
    /// Its client id.
    pub client_id: String,
    /// The secret (none for a public app).
    pub secret: Option<String>,
    /// Whether it was rotated (rather than registered).
    pub rotated: bool,
    /// Until when the previous secret is accepted, after a rotation with an overlap.
    pub previous_until: Option<String>,
}

/// An overlap offered when rotating a secret.
pub struct OverlapChoice {
    /// Seconds.
    pub seconds: u32,
    /// In words.
    pub label: String,
}

/// The OAuth apps page.
#[derive(Template)]
#[template(path = "oauth_apps.html")]
pub struct OAuthAppsView {
    /// The CSRF token of the page's forms.
    pub csrf: String,
    /// The person's organizations.
    pub organizations: Vec<OrganizationOption>,
    /// The organization shown.
    pub organization: Option<OrganizationOption>,
    /// Whether the person may register, rotate and delete its apps.
    pub can_manage: bool,
    /// Its apps, newest first.
    pub apps: Vec<AppLine>,
    /// A secret to show once.
    pub shown: Option<ShownSecret>,
    /// Why the last form was refused.
    pub error: Option<String>,
    /// The permissions an app may be given.
    pub scopes: Vec<AppScopeChoice>,
    /// The overlaps offered when rotating, the configured one first.
    pub overlaps: Vec<OverlapChoice>,
    /// A refused form's name, shown again.
    pub name: String,
    /// A refused form's redirect URIs, shown again.
    pub redirect_uris: String,
}

/// What to show besides the list.
#[derive(Default)]
struct Extra {
    shown: Option<ShownSecret>,
    error: Option<String>,
    name: String,
    redirect_uris: String,
    scopes: Vec<String>,
}

/// The organization a request names.
#[derive(Debug, Deserialize)]
pub struct Chosen {
    organization: Option<String>,
}

/// `GET /account/oauth-apps`: the apps of one of the person's organizations.
pub async fn get_apps(
    State(state): State<AppState>,
    browser: Browser,
    Query(chosen): Query<Chosen>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    page(
        &state,
        &browser,
        signed_in,
        chosen.organization.as_deref(),
        StatusCode::OK,
        Extra::default(),
    )
    .await
}

fn words(seconds: u32) -> String {
    match seconds {
        0 => "not at all (it stops at once)".to_owned(),
        s if s % 86_400 == 0 => format!("{} day(s)", s / 86_400),
        s if s % 3_600 == 0 => format!("{} hour(s)", s / 3_600),
        s if s % 60 == 0 => format!("{} minute(s)", s / 60),
        s => format!("{s} second(s)"),
    }
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn line(client: &Client, now: chrono::DateTime<chrono::Utc>) -> AppLine {
    let confidential = client.kind == ClientKind::Confidential;
    AppLine {
        id: client.id.clone(),
        name: client.name.clone(),
        kind: if confidential {
            "server-side (secret)"
        } else {
            "browser or mobile (PKCE)"
        },
        confidential,
        redirect_uris: client.redirect_uris.clone(),
        scopes: client.scope.iter().map(ToString::to_string).collect(),
        created: client.created_at.format("%Y-%m-%d").to_string(),
        previous_until: client
            .previous_secret
            .as_ref()
            .filter(|p| p.expires_at > now)
            .map(|p| when(p.expires_at)),
    }
}

/// The page for the organization `wanted` (else the person's first).
async fn page(
    state: &AppState,
    browser: &Browser,
    signed_in: &SignedIn,
    wanted: Option<&str>,
    status: StatusCode,
    extra: Extra,
) -> Response {
    let mine = match state.store.organizations_of_user(&signed_in.user.id).await {
        Ok(o) => o,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let current = match shown_organization(&mine, wanted) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let apps = match current {
        Some((org, _)) => match state.store.organization_clients(&org.id).await {
            Ok(a) => a,
            Err(e) => return PageFailure::from(e).into_response(),
        },
        None => Vec::new(),
    };
    let now = state.clock.now();
    let role = current.map(|(_, r)| *r);
    let offered = role.map(|r| offered_scopes(state, r)).unwrap_or_default();
    let offered_set = ScopeSet::parse(&offered.join(" ")).unwrap_or_default();
    let scopes = describe(&state.config, &offered_set)
        .into_iter()
        .map(|line| AppScopeChoice {
            checked: extra.scopes.contains(&line.name),
            line,
        })
        .collect();
    let configured = state.config.clients.secret_overlap_seconds;
    let mut overlaps = vec![OverlapChoice {
        seconds: configured,
        label: format!("{} (the default)", words(configured)),
    }];
    for s in [0, 3_600, 86_400, 604_800] {
        if s != configured {
            overlaps.push(OverlapChoice {
                seconds: s,
                label: words(s),
            });
        }
    }
    let organizations = organization_options(&mine, current.map(|(o, _)| o.id.as_str()));
    let (csrf, cookies) = csrf_for(state, browser);
    let view = OAuthAppsView {
        csrf,
        organization: organizations.iter().find(|o| o.selected).cloned(),
        organizations,
        can_manage: role.is_some_and(may_manage),
        apps: apps.iter().map(|c| line(c, now)).collect(),
        shown: extra.shown,
        error: extra.error,
        scopes,
        overlaps,
        name: extra.name,
        redirect_uris: extra.redirect_uris,
    };
    render(status, &view, cookies)
}

/// The answer to a refused action: a 404 or 403 page, or the page again with the reason.
async fn refused(
    state: &AppState,
    browser: &Browser,
    signed_in: &SignedIn,
    organization: &str,
    e: AppError,
    extra: Extra,
) -> Response {
    match e {
        AppError::NotFound => PageFailure::NotFound.into_response(),
        AppError::NotAllowed => PageFailure::Forbidden(e.to_string()).into_response(),
        AppError::Store(e) => PageFailure::from(e).into_response(),
        AppError::Invalid(message) => {
            let extra = Extra {
                error: Some(message),
                ..extra
            };
            page(
                state,
                browser,
                signed_in,
                Some(organization),
                StatusCode::BAD_REQUEST,
                extra,
            )
            .await
        }
    }
}

/// `POST /account/oauth-apps`: registers an app and shows its secret once.
pub async fn create_app(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<Fields>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let read = (|| {
        let organization = form.one("organization")?.unwrap_or_default().to_owned();
        let name = form.one("name")?.unwrap_or_default().to_owned();
        let kind = form.one("kind")?.unwrap_or_default().to_owned();
        let uris = form.one("redirect_uris")?.unwrap_or_default().to_owned();
        Ok::<_, String>((organization, name, kind, uris))
    })();
    let (organization, name, kind, uris) = match read {
        Ok(r) => r,
        Err(m) => return PageFailure::BadRequest(m).into_response(),
    };
    let scopes: Vec<String> = form.all("scope").map(str::to_owned).collect();
    let redirect_uris: Vec<String> = uris
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let extra = Extra {
        name: name
            .chars()
            .take(crate::management::clients::MAX_NAME_LEN)
            .collect(),
        redirect_uris: uris.chars().take(8 * 1024).collect(),
        scopes: scopes.clone(),
        ..Extra::default()
    };
    let draft = AppDraft {
        name,
        public: match kind.as_str() {
            "public" => true,
            "confidential" => false,
            _ => {
                let e = AppError::Invalid("Choose what kind of app it is.".into());
                return refused(&state, &browser, signed_in, &organization, e, extra).await;
            }
        },
        redirect_uris,
        scopes,
    };
    if draft.redirect_uris.len() > MAX_REDIRECT_URIS {
        let e = AppError::Invalid(format!("At most {MAX_REDIRECT_URIS} redirect URIs."));
        return refused(&state, &browser, signed_in, &organization, e, extra).await;
    }
    let by = Caller::person(&signed_in.user.id, Some(ip));
    match register_app(&state, &organization, &signed_in.user.id, draft, &by).await {
        Ok((client, secret)) => {
            let shown = ShownSecret {
                name: client.name.clone(),
                client_id: client.id.clone(),
                secret: secret.map(castellan_core::Secret::into_exposed),
                rotated: false,
                previous_until: None,
            };
            let extra = Extra {
                shown: Some(shown),
                ..Extra::default()
            };
            page(
                &state,
                &browser,
                signed_in,
                Some(&organization),
                StatusCode::OK,
                extra,
            )
            .await
        }
        Err(e) => refused(&state, &browser, signed_in, &organization, e, extra).await,
    }
}

/// The organization and app a rotate or delete form names.
fn target(form: &Fields) -> Result<(String, String), String> {
    Ok((
        form.one("organization")?.unwrap_or_default().to_owned(),
        form.one("client")?.unwrap_or_default().to_owned(),
    ))
}

/// `POST /account/oauth-apps/rotate-secret`: a new secret, shown once; the old one is
/// accepted for the overlap chosen.
pub async fn rotate_secret(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<Fields>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let (organization, client_id) = match target(&form) {
        Ok(t) => t,
        Err(m) => return PageFailure::BadRequest(m).into_response(),
    };
    let overlap = match form.one("overlap") {
        Ok(None) => None,
        Ok(Some(v)) => match v.parse::<u32>() {
            Ok(s) => Some(s),
            Err(_) => {
                return PageFailure::BadRequest("Choose how long the old secret works.".into())
                    .into_response()
            }
        },
        Err(m) => return PageFailure::BadRequest(m).into_response(),
    };
    let by = Caller::person(&signed_in.user.id, Some(ip));
    let user = &signed_in.user.id;
    match rotate_app_secret(&state, &organization, user, &client_id, overlap, &by).await {
        Ok(rotated) => {
            let shown = ShownSecret {
                name: rotated.client.name.clone(),
                client_id: rotated.client.id.clone(),
                previous_until: rotated
                    .client
                    .previous_secret
                    .as_ref()
                    .map(|p| when(p.expires_at)),
                secret: Some(rotated.secret.into_exposed()),
                rotated: true,
            };
            let extra = Extra {
                shown: Some(shown),
                ..Extra::default()
            };
            page(
                &state,
                &browser,
                signed_in,
                Some(&organization),
                StatusCode::OK,
                extra,
            )
            .await
        }
        Err(e) => {
            refused(
                &state,
                &browser,
                signed_in,
                &organization,
                e,
                Extra::default(),
            )
            .await
        }
    }
}

/// `POST /account/oauth-apps/delete`: deletes an app and every grant of it.
pub async fn remove_app(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<Fields>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let (organization, client_id) = match target(&form) {
        Ok(t) => t,
        Err(m) => return PageFailure::BadRequest(m).into_response(),
    };
    let by = Caller::person(&signed_in.user.id, Some(ip));
    match delete_app(&state, &organization, &signed_in.user.id, &client_id, &by).await {
        Ok(_) => {
            let mut back = form_urlencoded::Serializer::new(String::new());
            back.append_pair("organization", &organization);
            see_other(&format!("{PATH}?{}", back.finish()), Vec::new())
        }
        Err(e) => {
            refused(
                &state,
                &browser,
                signed_in,
                &organization,
                e,
                Extra::default(),
            )
            .await
        }
    }
}
