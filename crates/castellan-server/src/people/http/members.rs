//! The members page of the account area: `GET /account/members?organization=…` lists an
//! organization's members (name, email, role) to its members; its OWNERs invite by email
//! (`POST /account/members/invite`: mailed — refused when the mail server does not take it —
//! or, when no mail server is configured, the link shown to pass on), change roles (`POST /account/members/role`), remove members
//! (`POST /account/members/remove`, which disables the API keys they created there) and withdraw
//! pending invitations (`POST /account/members/withdraw`). The last OWNER can be neither
//! demoted nor removed. Every form is CSRF-checked; an organization the person is not in is a
//! 404, a change by anyone but an OWNER a 403.

use crate::audit::{Caller, Kind};
use crate::people::email_links::{invite, LinkError};
use crate::people::http::account::csrf_for;
use crate::people::http::csrf_form::CsrfForm;
use crate::people::http::fields::Fields;
use crate::people::http::pages::{
    organization_options, render, see_other, shown_organization, OrganizationOption, PageFailure,
};
use crate::people::http::session::{Browser, SignedIn};
use crate::people::organizations::{remove_member, set_role, MemberError};
use crate::people::second_factor::{has_passkey, has_second_factor};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use castellan_core::authn::SecondFactorPolicy;
use castellan_core::user::{Organization, Role};
use serde::Deserialize;

/// The page's path.
pub const PATH: &str = "/account/members";

/// The page's routes (they get the pages' layers).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(get_members))
        .route("/account/members/invite", post(invite_member))
        .route("/account/members/role", post(change_role))
        .route("/account/members/remove", post(remove))
        .route("/account/members/withdraw", post(withdraw))
        .route(
            "/account/members/second-factor",
            post(set_second_factor_policy),
        )
}

/// A member on the list.
pub struct MemberLine {
    /// Their id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their email address.
    pub email: String,
    /// Their role.
    pub role: &'static str,
    /// Whether it is the person looking at the page.
    pub me: bool,
}

/// A pending invitation.
pub struct InvitationLine {
    /// Its id.
    pub id: String,
    /// The address invited.
    pub email: String,
    /// The role it gives.
    pub role: &'static str,
    /// Until when it works.
    pub until: String,
}

/// The members page.
#[derive(Template)]
#[template(path = "members.html")]
pub struct MembersView {
    /// The CSRF token of the page's forms.
    pub csrf: String,
    /// The person's organizations.
    pub organizations: Vec<OrganizationOption>,
    /// The organization shown.
    pub organization: Option<OrganizationOption>,
    /// Whether the person is its OWNER (invites, changes roles, removes).
    pub is_owner: bool,
    /// Its members, by email.
    pub members: Vec<MemberLine>,
    /// Its pending invitations.
    pub invitations: Vec<InvitationLine>,
    /// An invitation's link to pass on (no mail server, or it refused the mail).
    pub invitation_link: Option<String>,
    /// What the last action did.
    pub notice: Option<String>,
    /// Why the last form was refused.
    pub error: Option<String>,
    /// The roles offered.
    pub roles: [&'static str; 3],
    /// What the organization asks of its members' sign-ins.
    pub second_factor_policy: SecondFactorPolicy,
}

/// What to show besides the list.
#[derive(Default)]
struct Extra {
    invitation_link: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

/// The organization a request names, and what the last action did (`done`).
#[derive(Debug, Deserialize)]
pub struct Chosen {
    organization: Option<String>,
    done: Option<String>,
}

/// `GET /account/members`: the members of one of the person's organizations.
pub async fn get_members(
    State(state): State<AppState>,
    browser: Browser,
    Query(chosen): Query<Chosen>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let notice = match chosen.done.as_deref() {
        Some("role") => Some("The role was changed.".to_owned()),
        Some("removed") => {
            Some("The member was removed; the API keys they created there are disabled.".to_owned())
        }
        Some("withdrawn") => Some("The invitation was withdrawn.".to_owned()),
        Some("invited") => Some("The invitation was sent.".to_owned()),
        Some("second-factor-on") => Some(
            "Members must now sign in with a second factor; those without one set it up at their next sign-in."
                .to_owned(),
        ),
        Some("second-factor-off") => {
            Some("Members may sign in with a password alone again.".to_owned())
        }
        Some("passkeys-on") => Some(
            "Members must now sign in with a passkey; those without one register it at their next sign-in."
                .to_owned(),
        ),
        _ => None,
    };
    let extra = Extra {
        notice,
        ..Extra::default()
    };
    page(
        &state,
        &browser,
        signed_in,
        chosen.organization.as_deref(),
        StatusCode::OK,
        extra,
    )
    .await
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
    let (members, invitations) = match current {
        Some((org, role)) => {
            let members = match state.store.members_of(&org.id).await {
                Ok(m) => m,
                Err(e) => return PageFailure::from(e).into_response(),
            };
            let invitations = if *role == Role::Owner {
                match state
                    .store
                    .pending_invitations(&org.id, state.clock.now())
                    .await
                {
                    Ok(i) => i,
                    Err(e) => return PageFailure::from(e).into_response(),
                }
            } else {
                Vec::new()
            };
            (members, invitations)
        }
        None => (Vec::new(), Vec::new()),
    };
    let second_factor_policy = match current {
        Some((org, _)) => match state.store.organization_second_factor_policy(&org.id).await {
            Ok(r) => r,
            Err(e) => return PageFailure::from(e).into_response(),
        },
        None => SecondFactorPolicy::Optional,
    };
    let organizations = organization_options(&mine, current.map(|(o, _)| o.id.as_str()));
    let (csrf, cookies) = csrf_for(state, browser);
    let view = MembersView {
        csrf,
        organization: organizations.iter().find(|o| o.selected).cloned(),
        organizations,
        is_owner: current.is_some_and(|(_, r)| *r == Role::Owner),
        members: members
            .into_iter()
            .map(|(u, r)| MemberLine {
                me: u.id == signed_in.user.id,
                id: u.id,
                name: u.name,
                email: u.email,
                role: r.as_str(),
            })
            .collect(),
        invitations: invitations
            .into_iter()
            .map(|l| InvitationLine {
                id: l.id,
                email: l.email,
                role: l.role.map_or("", Role::as_str),
                until: l.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            })
            .collect(),
        invitation_link: extra.invitation_link,
        notice: extra.notice,
        error: extra.error,
        roles: ["VIEWER", "MANAGER", "OWNER"],
        second_factor_policy,
    };
    render(status, &view, cookies)
}

/// Back to the organization's page, saying what was done.
fn back(organization: &str, done: &str) -> Response {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("organization", organization);
    q.append_pair("done", done);
    see_other(&format!("{PATH}?{}", q.finish()), Vec::new())
}

/// The organization a form names, which must be one where the person is OWNER.
async fn owned(
    state: &AppState,
    signed_in: &SignedIn,
    form: &Fields,
) -> Result<Organization, Response> {
    let id = form
        .one("organization")
        .map_err(|m| PageFailure::BadRequest(m).into_response())?
        .unwrap_or_default();
    let mine = state
        .store
        .organizations_of_user(&signed_in.user.id)
        .await
        .map_err(|e| PageFailure::from(e).into_response())?;
    match mine.into_iter().find(|(o, _)| o.id == id) {
        None => Err(PageFailure::NotFound.into_response()),
        Some((org, Role::Owner)) => Ok(org),
        Some(_) => Err(PageFailure::Forbidden(
            "Only an OWNER of the organization invites, changes roles and removes members.".into(),
        )
        .into_response()),
    }
}

fn role_of(form: &Fields) -> Option<Role> {
    form.one("role").ok().flatten().and_then(Role::parse)
}

/// `POST /account/members/invite`: invites an address with a role.
pub async fn invite_member(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<Fields>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let org = match owned(&state, signed_in, &form).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    let refuse = |message: &str| Extra {
        error: Some(message.to_owned()),
        ..Extra::default()
    };
    let Some(role) = role_of(&form) else {
        let extra = refuse("Choose the role the invitation gives.");
        return page(
            &state,
            &browser,
            signed_in,
            Some(&org.id),
            StatusCode::BAD_REQUEST,
            extra,
        )
        .await;
    };
    let email = form.one("email").ok().flatten().unwrap_or_default();
    let by = Caller::person(&signed_in.user.id, Some(ip));
    match invite(&state, &org, &signed_in.user, email, role, &by).await {
        Ok(made) => match made.url {
            None => back(&org.id, "invited"),
            Some(url) => {
                let notice = "Mail is not set up on this server: pass this link on to the \
                    person you invite. Accepting it joins them, but does not verify their address.";
                let extra = Extra {
                    invitation_link: Some(url),
                    notice: Some(notice.to_owned()),
                    ..Extra::default()
                };
                page(
                    &state,
                    &browser,
                    signed_in,
                    Some(&org.id),
                    StatusCode::OK,
                    extra,
                )
                .await
            }
        },
        Err(LinkError::Store(e)) => PageFailure::from(e).into_response(),
        Err(e) => {
            let extra = refuse(&format!("The invitation was not made: {e}."));
            page(
                &state,
                &browser,
                signed_in,
                Some(&org.id),
                StatusCode::BAD_REQUEST,
                extra,
            )
            .await
        }
    }
}

/// The answer to a refused membership change: the page again with the reason.
async fn member_refused(
    state: &AppState,
    browser: &Browser,
    signed_in: &SignedIn,
    org: &str,
    e: MemberError,
) -> Response {
    let status = match e {
        MemberError::Store(e) => return PageFailure::from(e).into_response(),
        MemberError::NotMember | MemberError::NoUser => {
            return PageFailure::NotFound.into_response()
        }
        MemberError::LastOwner => StatusCode::CONFLICT,
        MemberError::NoOrganization | MemberError::Disabled => StatusCode::BAD_REQUEST,
    };
    let extra = Extra {
        error: Some(format!("Nothing was changed: {e}.")),
        ..Extra::default()
    };
    page(state, browser, signed_in, Some(org), status, extra).await
}

/// The organization a form names (one the person OWNs) and the member it names there.
async fn owned_member(
    state: &AppState,
    signed_in: &SignedIn,
    form: &Fields,
) -> Result<(Organization, String), Response> {
    let org = owned(state, signed_in, form).await?;
    let user = form
        .one("user")
        .map_err(|m| PageFailure::BadRequest(m).into_response())?
        .unwrap_or_default()
        .to_owned();
    match state.store.role_in(&org.id, &user).await {
        Ok(Some(_)) => Ok((org, user)),
        Ok(None) => Err(PageFailure::NotFound.into_response()),
        Err(e) => Err(PageFailure::from(e).into_response()),
    }
}

/// `POST /account/members/role`: changes a member's role.
pub async fn change_role(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<Fields>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let (org, user) = match owned_member(&state, signed_in, &form).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let Some(role) = role_of(&form) else {
        return PageFailure::BadRequest("Choose OWNER, MANAGER or VIEWER.".into()).into_response();
    };
    let by = Caller::person(&signed_in.user.id, Some(ip));
    match set_role(&state, &org.id, &user, role, &by).await {
        Ok(()) => back(&org.id, "role"),
        Err(e) => member_refused(&state, &browser, signed_in, &org.id, e).await,
    }
}

/// `POST /account/members/remove`: removes a member.
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<Fields>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let (org, user) = match owned_member(&state, signed_in, &form).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let by = Caller::person(&signed_in.user.id, Some(ip));
    match remove_member(&state, &org.id, &user, &by).await {
        Ok(()) => back(&org.id, "removed"),
        Err(e) => member_refused(&state, &browser, signed_in, &org.id, e).await,
    }
}

/// `POST /account/members/second-factor`: an OWNER requires a second factor of the members
/// (`required=1`) or no longer does (`required=0`). Requiring one needs the OWNER to have one
/// (409 otherwise): their own sessions would otherwise end at once.
pub async fn set_second_factor_policy(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<Fields>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let org = match owned(&state, signed_in, &form).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    let policy = match form.one("required").ok().flatten() {
        Some("passkey") => SecondFactorPolicy::Passkey,
        Some("1") => SecondFactorPolicy::Any,
        Some("0") => SecondFactorPolicy::Optional,
        _ => return PageFailure::BadRequest("Choose to require it or not.".into()).into_response(),
    };
    // The OWNER must have what they require, so that they are not locked out by it.
    let has = match policy {
        SecondFactorPolicy::Optional => Ok(true),
        SecondFactorPolicy::Any => has_second_factor(&state, &signed_in.user.id).await,
        SecondFactorPolicy::Passkey => has_passkey(&state, &signed_in.user.id).await,
    };
    {
        match has {
            Ok(true) => {}
            Ok(false) => {
                let extra = Extra {
                    error: Some(
                        if policy == SecondFactorPolicy::Passkey {
                            "Add a passkey for yourself first (Account, Passkeys)."
                        } else {
                            "Set up two-step sign-in for yourself first (Account, Two-step sign-in)."
                        }
                        .to_owned(),
                    ),
                    ..Extra::default()
                };
                return page(
                    &state,
                    &browser,
                    signed_in,
                    Some(&org.id),
                    StatusCode::CONFLICT,
                    extra,
                )
                .await;
            }
            Err(e) => return PageFailure::from(e).into_response(),
        }
    }
    match state.store.set_second_factor_policy(&org.id, policy).await {
        Ok(_) => {
            crate::audit::record(
                &state,
                Caller::person(&signed_in.user.id, Some(ip))
                    .did(Kind::SecondFactorPolicyChanged)
                    .organization(Some(&org.id))
                    .target(&org.id)
                    .detail(match policy {
                        SecondFactorPolicy::Optional => "not required",
                        SecondFactorPolicy::Any => "required",
                        SecondFactorPolicy::Passkey => "passkeys required",
                    }),
            )
            .await;
            back(
                &org.id,
                match policy {
                    SecondFactorPolicy::Optional => "second-factor-off",
                    SecondFactorPolicy::Any => "second-factor-on",
                    SecondFactorPolicy::Passkey => "passkeys-on",
                },
            )
        }
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// `POST /account/members/withdraw`: withdraws a pending invitation.
pub async fn withdraw(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<Fields>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let org = match owned(&state, signed_in, &form).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    let id = form.one("invitation").ok().flatten().unwrap_or_default();
    match state.store.withdraw_invitation(&org.id, id).await {
        Ok(true) => {
            let by = Caller::person(&signed_in.user.id, Some(ip));
            crate::audit::record(
                &state,
                by.did(Kind::InvitationWithdrawn)
                    .organization(Some(&org.id))
                    .target(id),
            )
            .await;
            back(&org.id, "withdrawn")
        }
        Ok(false) => PageFailure::NotFound.into_response(),
        Err(e) => PageFailure::from(e).into_response(),
    }
}
