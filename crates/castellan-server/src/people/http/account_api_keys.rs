//! The API-keys page of the account area: `GET /account/api-keys` lists the keys
//! the signed-in person created (name, visible prefix and last four characters, permissions,
//! organization, dates, status) above a form to create one. `POST /account/api-keys` creates
//! a key and answers a page showing it once, with a copy button — never a redirect, so the key
//! is in no URL, cookie or cacheable answer (pages send `Cache-Control: no-store`).
//! `POST /account/api-keys/disable|enable|revoke` change one key and redirect back to the
//! list (post/redirect/get). Every form is CSRF-checked; a person sees and changes only keys
//! they created, and any other key id is a 404.
//!
//! What a person may give a key (at most its creator's rights, bounded by
//! their role): one of their
//! organizations, the scopes [`scopes_a_member_may_give`] allows their role there (the
//! catalogue without administrative scopes; a VIEWER only scopes that cannot change data),
//! the default tier (a tier is a rate limit, not the person's to raise) and an optional
//! expiry. Enabling a key again applies the same rule with the person's role of today.

use crate::audit::Caller;
use crate::management::api_keys::{self, scopes_a_member_may_give, CreateError, Creator, KeyDraft};
use crate::oauth::consent::{describe, is_write_scope, ScopeLine};
use crate::people::http::account::csrf_for;
use crate::people::http::csrf_form::CsrfForm;
use crate::people::http::fields::Fields;
use crate::people::http::pages::{
    organization_options, render, see_other, OrganizationOption, PageFailure,
};
use crate::people::http::session::{Browser, SignedIn};
use crate::platform::http::client_ip::ClientIp;
use crate::platform::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use castellan_core::user::{Organization, Role};
use castellan_core::ScopeSet;
use castellan_store::api_keys::{ApiKey, ApiKeyOwner, ApiKeyStatus};
use chrono::{DateTime, Utc};
use std::net::IpAddr;

/// The page's path.
pub const PATH: &str = "/account/api-keys";
/// Keys listed on the page (oldest first).
const LIST_LIMIT: u32 = 500;
/// Expiry choices offered by the form (days); the form also accepts any whole number of
/// days the service accepts.
const EXPIRY_DAYS: [u32; 4] = [30, 90, 365, 730];

/// `GET /account/api-keys`: the signed-in person's keys and the form to create one.
pub async fn list_api_keys(State(state): State<AppState>, browser: Browser) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    keys_page(
        &state,
        &browser,
        signed_in,
        StatusCode::OK,
        Shown::default(),
    )
    .await
}

/// `POST /account/api-keys`: creates a key and shows it once.
pub async fn create_api_key(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm {
        browser,
        form: fields,
    }: CsrfForm<Fields>,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let by = Caller::person(&signed_in.user.id, Some(ip));
    match create_for(&state, signed_in, &fields, &by).await {
        Ok(created) => {
            let shown = Shown {
                created: Some(NewKey {
                    name: created.stored.name.clone(),
                    shown: shown_key(&created.stored),
                    key: created.key.into_exposed(),
                }),
                ..Shown::default()
            };
            keys_page(&state, &browser, signed_in, StatusCode::OK, shown).await
        }
        Err(Refused::Invalid(error)) => {
            let shown = Shown {
                error: Some(error),
                name: fields.one("name").ok().flatten().map(sticky_name),
                organization: fields.one("organization").ok().flatten().map(str::to_owned),
                scopes: fields.all("scope").map(str::to_owned).collect(),
                ..Shown::default()
            };
            keys_page(&state, &browser, signed_in, StatusCode::BAD_REQUEST, shown).await
        }
        Err(Refused::Store(e)) => PageFailure::from(e).into_response(),
    }
}

/// `POST /account/api-keys/disable`: disables one of the person's keys.
pub async fn disable_api_key(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<Fields>,
) -> Response {
    change_status(&state, &browser, &form, ApiKeyStatus::Disabled, ip).await
}

/// `POST /account/api-keys/enable`: enables one of the person's keys again.
pub async fn enable_api_key(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<Fields>,
) -> Response {
    change_status(&state, &browser, &form, ApiKeyStatus::Active, ip).await
}

/// `POST /account/api-keys/revoke`: revokes one of the person's keys.
pub async fn revoke_api_key(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm { browser, form }: CsrfForm<Fields>,
) -> Response {
    change_status(&state, &browser, &form, ApiKeyStatus::Revoked, ip).await
}

/// Why a key was not created.
enum Refused {
    /// Shown above the form (400).
    Invalid(String),
    Store(castellan_store::StoreError),
}

impl From<castellan_store::StoreError> for Refused {
    fn from(e: castellan_store::StoreError) -> Self {
        Refused::Store(e)
    }
}

/// Reads the create form and creates the key within what the person may give it.
async fn create_for(
    state: &AppState,
    signed_in: &SignedIn,
    fields: &Fields,
    by: &Caller,
) -> Result<api_keys::CreatedKey, Refused> {
    let name = fields.one("name").map_err(Refused::Invalid)?.unwrap_or("");
    let organization = fields
        .one("organization")
        .map_err(Refused::Invalid)?
        .unwrap_or("");
    let expires_in_days = match fields.one("expires_in_days").map_err(Refused::Invalid)? {
        None | Some("") => None,
        Some(d) => Some(d.parse::<u32>().map_err(|_| {
            Refused::Invalid("Choose when the key expires from the list.".to_owned())
        })?),
    };
    let scope = fields.all("scope").collect::<Vec<_>>().join(" ");
    if scope.trim().is_empty() {
        return Err(Refused::Invalid("Choose at least one permission.".into()));
    }
    let mine = state
        .store
        .organizations_of_user(&signed_in.user.id)
        .await?;
    let Some((org, role)) = mine.into_iter().find(|(o, _)| o.id == organization) else {
        return Err(Refused::Invalid("Choose one of your organizations.".into()));
    };
    let held = scopes_a_member_may_give(&state.config, role);
    let creator = Creator {
        id: &signed_in.user.id,
        held: &held,
        allowed: &[],
    };
    let draft = KeyDraft {
        name: name.to_owned(),
        scope,
        organization_id: Some(org.id.clone()),
        tier: None,
        expires_at: None,
        expires_in_days,
    };
    api_keys::create_api_key(state, draft, &creator, state.clock.now(), by)
        .await
        .map_err(|e| match e {
            CreateError::Invalid(m) => Refused::Invalid(format!("The key was not created: {m}.")),
            CreateError::ScopeNotHeld(s) => Refused::Invalid(not_held(state, &org, role, &s)),
            CreateError::Store(s) => Refused::Store(s),
        })
}

/// Why the person may not give a key `scope`, in words.
fn not_held(state: &AppState, org: &Organization, role: Role, scope: &str) -> String {
    let scope = castellan_core::query::truncate_for_message(scope);
    let offered = scopes_a_member_may_give(&state.config, Role::Owner);
    if offered.contains_str(&scope) && is_write_scope(&scope) {
        format!(
            "As a {role} of {}, you can give a key only permissions that read; “{scope}” can \
             change data (it needs MANAGER or OWNER).",
            org.name
        )
    } else {
        format!("“{scope}” is not a permission you can give a key.")
    }
}

/// Disables, enables or revokes one of the person's keys, then back to the list.
async fn change_status(
    state: &AppState,
    browser: &Browser,
    fields: &Fields,
    status: ApiKeyStatus,
    ip: IpAddr,
) -> Response {
    let Some(signed_in) = &browser.signed_in else {
        return see_other("/login", Vec::new());
    };
    let key = match own_key(state, &signed_in.user.id, fields).await {
        Ok(Some(k)) => k,
        Ok(None) => return PageFailure::NotFound.into_response(),
        Err(e) => return PageFailure::from(e).into_response(),
    };
    if status == ApiKeyStatus::Active {
        match may_enable(state, &signed_in.user.id, &key).await {
            Ok(true) => {}
            Ok(false) => {
                return PageFailure::Forbidden(
                    "This key has permissions your role in its organization no longer allows; \
                     create a new key instead."
                        .into(),
                )
                .into_response()
            }
            Err(e) => return PageFailure::from(e).into_response(),
        }
    }
    let by = Caller::person(&signed_in.user.id, Some(ip));
    match api_keys::set_status(state, &key.id, status, &by).await {
        Ok(Some(k)) if k.status == status => see_other(PATH, Vec::new()),
        Ok(Some(_)) => {
            PageFailure::BadRequest("A revoked key stays revoked; create a new key instead.".into())
                .into_response()
        }
        Ok(None) => PageFailure::NotFound.into_response(),
        Err(e) => PageFailure::from(e).into_response(),
    }
}

/// The key named by the form's `key` field, when the person created it.
async fn own_key(
    state: &AppState,
    user_id: &str,
    fields: &Fields,
) -> Result<Option<ApiKey>, castellan_store::StoreError> {
    let Some(id) = fields.one("key").ok().flatten().filter(|id| {
        !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }) else {
        return Ok(None);
    };
    Ok(state
        .store
        .get_api_key(id)
        .await?
        .filter(|k| k.created_by == user_id))
}

/// Whether the person may (still) give the key its organization and scopes.
async fn may_enable(
    state: &AppState,
    user_id: &str,
    key: &ApiKey,
) -> Result<bool, castellan_store::StoreError> {
    let Some(org) = &key.organization_id else {
        return Ok(false);
    };
    let Some(role) = state.store.role_in(org, user_id).await? else {
        return Ok(false);
    };
    let held = scopes_a_member_may_give(&state.config, role);
    Ok(ScopeSet::parse(&key.scope).is_ok_and(|s| s.is_subset_of(&held)))
}

/// What the answer shows besides the list.
#[derive(Default)]
struct Shown {
    created: Option<NewKey>,
    error: Option<String>,
    /// The refused form's values, shown again.
    name: Option<String>,
    organization: Option<String>,
    scopes: Vec<String>,
}

/// A refused name as shown again in the form (at most the longest accepted).
fn sticky_name(name: &str) -> String {
    name.chars().take(api_keys::MAX_NAME_LEN).collect()
}

fn shown_key(k: &ApiKey) -> String {
    format!("{}…{}", k.visible_prefix, k.last_four)
}

fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// The page: the person's keys, the created key (once) or the form's error, and the form.
async fn keys_page(
    state: &AppState,
    browser: &Browser,
    signed_in: &SignedIn,
    status: StatusCode,
    shown: Shown,
) -> Response {
    let user_id = &signed_in.user.id;
    let organizations = match state.store.organizations_of_user(user_id).await {
        Ok(o) => o,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let owner = ApiKeyOwner::Creator(user_id.clone());
    let page = match api_keys::list_api_keys(state, &owner, LIST_LIMIT, 0, true).await {
        Ok(p) => p,
        Err(e) => return PageFailure::from(e).into_response(),
    };
    let now = state.clock.now();
    let org_name = |id: &Option<String>| match id {
        Some(id) => organizations
            .iter()
            .find(|(o, _)| &o.id == id)
            .map_or_else(|| id.clone(), |(o, _)| o.name.clone()),
        None => "—".to_owned(),
    };
    let keys: Vec<KeyLine> = page
        .results
        .iter()
        .map(|k| KeyLine::new(state, k, org_name(&k.organization_id), now))
        .collect();
    let total = page.total.unwrap_or(keys.len() as u64);
    // The scopes offered: what the person's highest role allows (the service checks the
    // chosen organization's role).
    let best = organizations.iter().map(|(_, r)| *r).max();
    let offered = best
        .map(|r| scopes_a_member_may_give(&state.config, r))
        .unwrap_or_default();
    let scopes = describe(&state.config, &offered)
        .into_iter()
        .map(|line| ScopeChoice {
            checked: shown.scopes.contains(&line.name),
            line,
        })
        .collect();
    let explain_roles =
        best.is_some() && state.config.scopes.iter().any(|s| is_write_scope(&s.name));
    let selected = shown.organization.unwrap_or_default();
    let (csrf, cookies) = csrf_for(state, browser);
    let view = ApiKeysView {
        csrf,
        truncated: total > keys.len() as u64,
        keys,
        total,
        created: shown.created,
        error: shown.error,
        name: shown.name.unwrap_or_default(),
        organizations: organization_options(&organizations, Some(&selected)),
        scopes,
        explain_roles,
        expiry_days: EXPIRY_DAYS.to_vec(),
        max_name: api_keys::MAX_NAME_LEN,
    };
    render(status, &view, cookies)
}

/// One key in the list.
pub struct KeyLine {
    /// The key's id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Visible prefix … last four.
    pub shown: String,
    /// Its scopes in plain words.
    pub scopes: Vec<ScopeLine>,
    /// The name of the organization it acts for.
    pub organization: String,
    /// The day it was created.
    pub created: String,
    /// The last day it was used, or `never`.
    pub last_used: String,
    /// The day it expires, or `never`.
    pub expires: String,
    /// `active`, `disabled`, `revoked` or `expired`.
    pub status: &'static str,
    /// Whether it can be disabled (it is active).
    pub can_disable: bool,
    /// Whether it can be enabled (it is disabled).
    pub can_enable: bool,
    /// Whether it can be revoked (it is not yet).
    pub can_revoke: bool,
}

impl KeyLine {
    fn new(state: &AppState, k: &ApiKey, organization: String, now: DateTime<Utc>) -> KeyLine {
        let expired = k.expires_at.is_some_and(|e| e <= now);
        let status = match k.status {
            ApiKeyStatus::Active if expired => "expired",
            s => s.as_str(),
        };
        KeyLine {
            id: k.id.clone(),
            name: k.name.clone(),
            shown: shown_key(k),
            scopes: describe(
                &state.config,
                &ScopeSet::parse(&k.scope).unwrap_or_default(),
            ),
            organization,
            created: date(k.created_at),
            last_used: k
                .last_used_at
                .map_or_else(|| "never".to_owned(), |d| d.format("%Y-%m-%d").to_string()),
            expires: k.expires_at.map_or_else(|| "never".to_owned(), date),
            status,
            can_disable: k.status == ApiKeyStatus::Active,
            can_enable: k.status == ApiKeyStatus::Disabled,
            can_revoke: k.status != ApiKeyStatus::Revoked,
        }
    }
}

/// The key just created, shown once.
pub struct NewKey {
    /// Its display name.
    pub name: String,
    /// Visible prefix … last four.
    pub shown: String,
    /// The key itself: only ever in this one answer.
    pub key: String,
}

/// A scope offered for a new key.
pub struct ScopeChoice {
    /// The scope in plain words.
    pub line: ScopeLine,
    /// Whether the form had it ticked.
    pub checked: bool,
}

/// The API keys page.
#[derive(Template)]
#[template(path = "api_keys.html")]
pub struct ApiKeysView {
    /// The CSRF token of the page's forms.
    pub csrf: String,
    /// The keys listed.
    pub keys: Vec<KeyLine>,
    /// More keys than listed.
    pub truncated: bool,
    /// How many keys the person has.
    pub total: u64,
    /// The key just created, shown once.
    pub created: Option<NewKey>,
    /// Why the last form was refused, if it was.
    pub error: Option<String>,
    /// The name typed in the create form.
    pub name: String,
    /// The organizations a key may act for.
    pub organizations: Vec<OrganizationOption>,
    /// The scopes a key may carry.
    pub scopes: Vec<ScopeChoice>,
    /// Whether to explain the VIEWER rule (the catalogue has write scopes).
    pub explain_roles: bool,
    /// The expiry choices, in days.
    pub expiry_days: Vec<u32>,
    /// The longest name allowed.
    pub max_name: usize,
}
