//! `/account/audit`: the events of the organizations the signed-in person OWNs, newest first,
//! fifty to a page, filtered by organization and by family of events. A person who owns no
//! organization sees none; an organization they do not own cannot be asked for.

use crate::audit::Kind;
use crate::people::http::pages::{
    render, see_other, AuditLine, AuditView, OrganizationOption, PageFailure,
};
use crate::people::http::session::{Browser, SignedIn};
use crate::platform::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use castellan_core::user::Role;
use castellan_store::audit::AuditQuery;
use serde::Deserialize;

/// Events on one page.
const PER_PAGE: u32 = 50;
/// Furthest page shown.
const MAX_PAGE: u32 = 200;

/// The page's filters.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    organization: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    page: Option<u32>,
}

/// The families a person can filter on, in the catalogue's order.
fn families() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for k in Kind::ALL {
        let family = k.as_str().split('.').next().unwrap_or_default();
        if !out.contains(&family) {
            out.push(family);
        }
    }
    out
}

/// `GET /account/audit`: the owner's view of their organizations' events.
pub async fn get_audit_page(
    State(state): State<AppState>,
    browser: Browser,
    Query(params): Query<PageParams>,
) -> Response {
    let Some(SignedIn { user, .. }) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let owned: Vec<_> = match state.store.organizations_of_user(&user.id).await {
        Ok(orgs) => orgs
            .into_iter()
            .filter(|(_, role)| *role == Role::Owner)
            .map(|(org, _)| org)
            .collect(),
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let chosen = params.organization.filter(|o| !o.is_empty());
    if let Some(o) = &chosen {
        if !owned.iter().any(|org| &org.id == o) {
            return PageFailure::NotFound.into_response();
        }
    }
    let family = params.kind.filter(|k| families().contains(&k.as_str()));
    let page = params.page.unwrap_or(1).clamp(1, MAX_PAGE);
    let query = AuditQuery {
        kinds: family
            .as_deref()
            .and_then(|f| Kind::matching(&format!("{f}.*")))
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        organizations: Some(match &chosen {
            Some(o) => vec![o.clone()],
            None => owned.iter().map(|o| o.id.clone()).collect(),
        }),
        ..AuditQuery::default()
    };
    let (events, total) = match state
        .store
        .list_audit_events(&query, PER_PAGE, (page - 1) * PER_PAGE)
        .await
    {
        Ok(found) => found,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let name_of = |id: &Option<String>| {
        id.as_ref()
            .and_then(|id| owned.iter().find(|o| &o.id == id))
            .map_or_else(|| "—".to_owned(), |o| o.name.clone())
    };
    let lines = events
        .into_iter()
        .map(|e| AuditLine {
            at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            organization: name_of(&e.organization_id),
            kind: e.kind,
            actor: if e.actor_id.is_empty() {
                e.actor_kind.as_str().to_owned()
            } else {
                format!("{} {}", e.actor_kind.as_str(), e.actor_id)
            },
            address: e.address.unwrap_or_else(|| "—".to_owned()),
            failed: e.outcome == castellan_store::audit::Outcome::Failure,
            target: e.target.unwrap_or_default(),
            detail: e.detail,
        })
        .collect();
    let link = |p: u32| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(o) = &chosen {
            q.append_pair("organization", o);
        }
        if let Some(f) = &family {
            q.append_pair("type", f);
        }
        q.append_pair("page", &p.to_string());
        format!("{}?{}", super::PAGE_PATH, q.finish())
    };
    let view = AuditView {
        owns_none: owned.is_empty(),
        organizations: owned
            .iter()
            .map(|o| OrganizationOption {
                selected: chosen.as_deref() == Some(o.id.as_str()),
                id: o.id.clone(),
                name: o.name.clone(),
                role: Role::Owner.as_str(),
            })
            .collect(),
        families: families()
            .into_iter()
            .map(|f| (f, family.as_deref() == Some(f)))
            .collect(),
        events: lines,
        total,
        page,
        previous: (page > 1).then(|| link(page - 1)),
        next: (u64::from(page * PER_PAGE) < total && page < MAX_PAGE).then(|| link(page + 1)),
    };
    render(StatusCode::OK, &view, Vec::new())
}
