//! The consent page and its decision: `POST /oauth/authorize/decision`
//! re-validates the whole authorization request server-side, checks the CSRF token and the
//! chosen organization, then answers the client with a code or `error=access_denied`.

use crate::oauth::authorize::{validate, AuthorizeRequest};
use crate::oauth::consent::{approve, deny_location, describe, sign_in_step};
use crate::oauth::http::authorize::{authorize_failure, step_page};
use crate::people::http::account::csrf_for;
use crate::people::http::csrf_form::{CsrfForm, PageForm};
use crate::people::http::pages::{
    allow_form_redirect_to, found, render, ConsentView, OrganizationChoice, PageFailure,
};
use crate::people::http::session::{Browser, SignedIn};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use castellan_core::user::{Organization, Role};
use castellan_core::Secret;
use serde::Deserialize;
use std::net::IpAddr;

/// Renders the consent page.
pub fn consent_page(
    state: &AppState,
    browser: &Browser,
    signed_in: &SignedIn,
    req: &AuthorizeRequest,
    organizations: Vec<(Organization, Role)>,
) -> Response {
    let (token, cookies) = csrf_for(state, browser);
    let scopes = describe(&state.config, &req.scope);
    let view = ConsentView {
        csrf: token,
        request: req.query.clone(),
        client_name: req.client.name.clone(),
        user_email: signed_in.user.email.clone(),
        asks_to_write: scopes.iter().any(|s| s.elevated),
        scopes,
        organizations: organizations
            .into_iter()
            .map(|(o, r)| OrganizationChoice {
                id: o.id,
                name: o.name,
                role: r.as_str(),
            })
            .collect(),
        client_host: castellan_core::metadata_document::document_url(
            &req.client.id,
            castellan_core::Environment::Local,
        )
        .and_then(|u| u.host_str().map(str::to_owned)),
        localhost_only: !req.client.redirect_uris.is_empty()
            && req.client.redirect_uris.iter().all(|u| {
                url::Url::parse(u).ok().is_some_and(|u| {
                    matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
                })
            }),
        redirect_host: url::Url::parse(&req.redirect_uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| req.redirect_uri.clone()),
    };
    allow_form_redirect_to(render(StatusCode::OK, &view, cookies), &req.redirect_uri)
}

/// The consent page's form: the CSRF token, the request, the decision and the organization.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    csrf: Option<Secret>,
    request: Option<String>,
    decision: Option<String>,
    organization: Option<String>,
}

/// `POST /oauth/authorize/decision`: the person's answer on the consent page.
pub async fn create_decision(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<DecisionForm>,
) -> Response {
    let Some(signed_in) = browser.signed_in.clone() else {
        return PageFailure::Forbidden(
            "You are not signed in; start again from the application.".into(),
        )
        .into_response();
    };
    let req = match validate(&state, form.request.as_deref().unwrap_or("")).await {
        Ok(r) => r,
        Err(e) => return authorize_failure(&state, e),
    };
    // What the consent page needed still holds: a fresh sign-in or a second factor the
    // request asks for is asked for here too, and nothing is issued before it.
    match sign_in_step(&state, &req, &signed_in.session).await {
        Ok(None) => {}
        Ok(Some(step)) => return step_page(&state, &browser, &req, step),
        Err(e) => return authorize_failure(&state, e),
    }
    match form.decision.as_deref() {
        Some("deny") => found(&deny_location(&state, &req), Vec::new()),
        Some("approve") => approve_request(&state, &signed_in, &req, form.organization, ip).await,
        _ => PageFailure::BadRequest("Choose Allow or Deny.".into()).into_response(),
    }
}

async fn approve_request(
    state: &AppState,
    signed_in: &SignedIn,
    req: &AuthorizeRequest,
    organization: Option<String>,
    ip: IpAddr,
) -> Response {
    let orgs = match state.store.organizations_of_user(&signed_in.user.id).await {
        Ok(o) => o,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    // The chosen organization must be one of the person's; with one, it is that one.
    let chosen = match (orgs.as_slice(), organization) {
        ([], _) => None,
        ([(only, _)], None) => Some(only.id.clone()),
        (all, Some(id)) if all.iter().any(|(o, _)| o.id == id) => Some(id),
        _ => {
            return PageFailure::BadRequest("Choose one of your organizations.".into())
                .into_response()
        }
    };
    match approve(state, req, &signed_in.session, chosen, ip).await {
        Ok(location) => found(&location, Vec::new()),
        Err(e) => authorize_failure(state, e),
    }
}

impl PageForm for DecisionForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }
}
