//! The device verification pages (RFC 8628 §3.3): `GET /device` (sign in first, then a form
//! to type the code; `?user_code=` prefills it), `POST /device` (the code typed: the consent
//! page for its device) and `POST /device/decision` (allow or deny). Every form is
//! CSRF-checked. Typing codes is rate-limited per address and per person under
//! `rate_limit.per_ip.login`, so user codes (about 2^34.6 of them) cannot be guessed.

use crate::oauth::consent::describe;
use crate::oauth::device::{decide, pending_by_code, Decision};
use crate::people::http::account::csrf_for;
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::login::{device_request, login_page};
use crate::people::http::pages::{
    render, DeviceConsentView, DeviceDoneView, DeviceView, OrganizationChoice, PageFailure,
};
use crate::people::http::session::{Browser, SignedIn};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use castellan_core::device::{display, normalize, MAX_TYPED_LEN};
use castellan_core::{ScopeSet, Secret};
use castellan_store::device::DeviceAuthorization;
use serde::Deserialize;

/// `GET /device`'s query.
#[derive(Debug, Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

/// What was typed, cut to a code's longest length.
fn typed(code: Option<&str>) -> String {
    code.unwrap_or_default()
        .chars()
        .take(MAX_TYPED_LEN)
        .collect()
}

/// `GET /device`: the form to type the code; a person not signed in signs in first.
pub async fn get_device(
    State(state): State<AppState>,
    Query(q): Query<DeviceQuery>,
    browser: Browser,
) -> Response {
    let typed = typed(q.user_code.as_deref());
    if browser.signed_in.is_none() {
        let request = device_request(&typed);
        return login_page(
            &state,
            &browser,
            StatusCode::OK,
            &request,
            None,
            String::new(),
            None,
        );
    }
    let prefill = normalize(&typed).map(|c| display(&c)).unwrap_or_default();
    entry_page(&state, &browser, StatusCode::OK, prefill, None)
}

fn entry_page(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    user_code: String,
    error: Option<&'static str>,
) -> Response {
    let (csrf, cookies) = csrf_for(state, browser);
    render(
        status,
        &DeviceView {
            csrf,
            user_code,
            error,
        },
        cookies,
    )
}

/// The code form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    csrf: Option<Secret>,
    user_code: Option<String>,
}

impl PageForm for CodeForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

/// `POST /device`: the code typed; the consent page of its device.
pub async fn post_device(
    State(state): State<AppState>,
    ip: ClientIp,
    CsrfForm { browser, form }: CsrfForm<CodeForm>,
) -> Response {
    let typed = typed(form.user_code.as_deref());
    let Some(signed_in) = &browser.signed_in else {
        return login_page(
            &state,
            &browser,
            StatusCode::OK,
            &device_request(&typed),
            None,
            String::new(),
            None,
        );
    };
    let (pending, code) = match find(&state, &browser, signed_in, &ip, &typed).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    consent_page(&state, &browser, signed_in, &pending, &display(&code)).await
}

/// The pending authorization of the code typed, after the code-typing limits; the code page
/// again, with why, otherwise.
async fn find(
    state: &AppState,
    browser: &Browser,
    signed_in: &SignedIn,
    ip: &ClientIp,
    typed: &str,
) -> Result<(DeviceAuthorization, String), Response> {
    let limiting = &state.rate_limiting;
    let policy = &limiting.limits.per_ip.login;
    for key in [
        format!("device_code:{}", ip.limit_key()),
        format!("device_code_person:{}", signed_in.user.id),
    ] {
        if let Err(refused) = limiting.check(policy, &key).await {
            if refused.backend_unavailable() {
                return Err(PageFailure::Unavailable.into_response());
            }
            return Err(entry_page(
                state,
                browser,
                StatusCode::TOO_MANY_REQUESTS,
                String::new(),
                Some("Too many codes typed: wait a minute and try again."),
            ));
        }
    }
    let refused = |message| {
        entry_page(
            state,
            browser,
            StatusCode::BAD_REQUEST,
            String::new(),
            Some(message),
        )
    };
    let Some(code) = normalize(typed) else {
        return Err(refused(
            "That is not a code: codes are 8 letters, such as BCDF-GHJK.",
        ));
    };
    match pending_by_code(state, &code, state.clock.now()).await {
        Ok(Some(p)) => Ok((p, code)),
        Ok(None) => Err(refused(
            "That code is unknown or has expired: check the code on your device.",
        )),
        Err(e) => Err(PageFailure::from(e).into_response()),
    }
}

async fn consent_page(
    state: &AppState,
    browser: &Browser,
    signed_in: &SignedIn,
    pending: &DeviceAuthorization,
    user_code: &str,
) -> Response {
    let client = match state
        .clients
        .get(state.store.as_ref(), &pending.client_id)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => return PageFailure::NotFound.into_response(),
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let orgs = match state.store.organizations_of_user(&signed_in.user.id).await {
        Ok(o) => o,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let scopes = describe(
        &state.config,
        &ScopeSet::parse(&pending.scope).unwrap_or_default(),
    );
    let (csrf, cookies) = csrf_for(state, browser);
    let view = DeviceConsentView {
        csrf,
        user_code: user_code.to_owned(),
        client_name: client.name.clone(),
        client_host: castellan_core::metadata_document::document_url(
            &client.id,
            castellan_core::Environment::Local,
        )
        .and_then(|u| u.host_str().map(str::to_owned)),
        user_email: signed_in.user.email.clone(),
        asks_to_write: scopes.iter().any(|s| s.elevated),
        scopes,
        organizations: orgs
            .into_iter()
            .map(|(o, r)| OrganizationChoice {
                id: o.id,
                name: o.name,
                role: r.as_str(),
            })
            .collect(),
    };
    render(StatusCode::OK, &view, cookies)
}

/// The consent page's form.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    csrf: Option<Secret>,
    user_code: Option<String>,
    decision: Option<String>,
    organization: Option<String>,
}

impl PageForm for DecisionForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}

/// `POST /device/decision`: the person allows or denies the device.
pub async fn post_decision(
    State(state): State<AppState>,
    ip: ClientIp,
    CsrfForm { browser, form }: CsrfForm<DecisionForm>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return PageFailure::Forbidden(
            "You are not signed in; start again on the device page.".into(),
        )
        .into_response();
    };
    let typed = typed(form.user_code.as_deref());
    let (pending, _) = match find(&state, &browser, signed_in, &ip, &typed).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let decision = match form.decision.as_deref() {
        Some("deny") => Decision::Deny,
        Some("approve") => {
            let orgs = match state.store.organizations_of_user(&signed_in.user.id).await {
                Ok(o) => o,
                Err(e) => return PageFailure::from(e).into_response(),
            };
            // The chosen organization must be one of the person's; with one, it is that one.
            match (orgs.as_slice(), form.organization) {
                ([], _) => Decision::Approve(None),
                ([(only, _)], None) => Decision::Approve(Some(only.id.clone())),
                (all, Some(id)) if all.iter().any(|(o, _)| o.id == id) => {
                    Decision::Approve(Some(id))
                }
                _ => {
                    return PageFailure::BadRequest("Choose one of your organizations.".into())
                        .into_response()
                }
            }
        }
        _ => return PageFailure::BadRequest("Choose Allow or Deny.".into()).into_response(),
    };
    let approved = matches!(decision, Decision::Approve(_));
    match decide(
        &state,
        &signed_in.user,
        &signed_in.session,
        &pending,
        decision,
        state.clock.now(),
        ip.0,
    )
    .await
    {
        Ok(true) => render(StatusCode::OK, &DeviceDoneView { approved }, Vec::new()),
        Ok(false) => entry_page(
            &state,
            &browser,
            StatusCode::BAD_REQUEST,
            String::new(),
            Some("That code is unknown or has expired: check the code on your device."),
        ),
        Err(e) => PageFailure::from(e).into_response(),
    }
}
