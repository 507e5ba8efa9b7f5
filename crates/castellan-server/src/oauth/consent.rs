//! Consent and the authorization response (RFC 6749 §4.1.2, RFC 9207, OIDC Core §3.1.2.4):
//! what an approval records, the code it issues, what a denial answers,
//! when a remembered consent lets the page be skipped, and the plain words shown for scopes.

use crate::audit::{self, Caller, Kind};
use crate::oauth::authorize::{redirect_with, AuthorizeError, AuthorizeRequest, Prompt};
use crate::oauth::token::authorization_code::code_expires_at;
use crate::people::second_factor::{factors_to_offer, has_second_factor, Factors};
use crate::platform::config::Config;
use crate::platform::state::AppState;
use castellan_core::authn::meets_acr_values;
use castellan_core::ids::alphanumeric_id;
use castellan_core::user::{Organization, Role};
use castellan_core::ScopeSet;
use castellan_crypto::random_bytes;
use castellan_store::people::{AuthorizationCode, Consent, Session};
use castellan_store::StoreResult;
use std::net::IpAddr;

/// One scope in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeLine {
    /// The scope's name.
    pub name: String,
    /// What it lets the app do.
    pub description: String,
    /// A write scope: it lets the app change data.
    pub elevated: bool,
}

/// Whether a scope lets its holder change data: one of its segments is `write`.
pub fn is_write_scope(name: &str) -> bool {
    name.split(':').any(|seg| seg == "write")
}

/// Describes each scope from the configured catalogue; OIDC scopes have built-in words;
/// anything else is shown by name.
pub fn describe(config: &Config, scope: &ScopeSet) -> Vec<ScopeLine> {
    scope
        .iter()
        .map(|s| {
            let name = s.as_str();
            let description = config
                .scopes
                .iter()
                .find(|e| e.name == name)
                .map(|e| e.description.clone())
                .or_else(|| builtin(name).map(str::to_owned))
                .unwrap_or_else(|| format!("Use the permission “{name}”"));
            ScopeLine {
                name: name.to_owned(),
                description,
                elevated: is_write_scope(name),
            }
        })
        .collect()
}

fn builtin(name: &str) -> Option<&'static str> {
    Some(match name {
        "openid" => "Know who you are (sign you in)",
        "profile" => "See your name",
        "email" => "See your email address",
        "offline_access" => "Keep access while you are not using it",
        "account:read" => {
            "See your account: the apps you allowed, and where you are signed in (devices and \
             addresses)"
        }
        "account:write" => {
            "Manage your account: take back apps' access, and sign out your browsers"
        }
        _ => return None,
    })
}

/// A new random identifier (consents, token families).
fn new_id() -> String {
    alphanumeric_id(&random_bytes::<64>(), 24)
        .unwrap_or_else(|| castellan_crypto::generate_secret().into_exposed())
}

/// The remembered consent that already covers the request, if any. With several
/// organizations, it must be the only consent this client holds from the person (otherwise
/// they choose again).
pub async fn remembered(
    state: &AppState,
    user_id: &str,
    req: &AuthorizeRequest,
    organizations: &[(Organization, Role)],
) -> StoreResult<Option<Consent>> {
    let covers = |c: &Consent| {
        ScopeSet::parse(&c.scope).is_ok_and(|granted| req.scope.is_subset_of(&granted))
    };
    let found = match organizations {
        [] => {
            state
                .store
                .find_consent(user_id, &req.client.id, None)
                .await?
        }
        [(org, _)] => {
            state
                .store
                .find_consent(user_id, &req.client.id, Some(&org.id))
                .await?
        }
        _ => {
            let mut mine: Vec<Consent> = state
                .store
                .consents_of_user(user_id)
                .await?
                .into_iter()
                .filter(|c| c.client_id == req.client.id)
                .collect();
            if mine.len() == 1 {
                mine.pop()
            } else {
                None
            }
        }
    };
    Ok(found.filter(covers))
}

/// What the browser sees next for a valid request.
#[derive(Debug)]
pub enum Step {
    /// Not signed in (or `prompt=login`): the login page, carrying the request.
    Login,
    /// Signed in, but `acr_values` asks for a second factor the person has and the session
    /// has not proved: the second-factor page offering these factors, carrying the request.
    SecondFactor(Factors),
    /// The consent page, with the person's organizations.
    Consent(Vec<(Organization, Role)>),
    /// Back to the client (a code under a remembered consent, or an error for `prompt=none`).
    Redirect(String),
}

/// Back to the client with an OIDC Core §3.1.2.6 error (codes RFC 6749's enum does not hold).
fn prompt_error(state: &AppState, req: &AuthorizeRequest, code: &str, text: &str) -> Step {
    let mut params = vec![("error", code), ("error_description", text)];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    params.push(("iss", &state.config.issuer));
    Step::Redirect(redirect_with(&req.redirect_uri, &params))
}

/// Decides the next step of an authorization request (OIDC Core §3.1.2.1 for `prompt`).
pub async fn next_step(
    state: &AppState,
    req: &AuthorizeRequest,
    session: Option<&Session>,
) -> Result<Step, AuthorizeError> {
    let prompt_error = |code: &str, text: &str| prompt_error(state, req, code, text);
    let Some(session) = session else {
        return Ok(match req.prompt {
            Some(Prompt::None) => prompt_error("login_required", "the user is not signed in"),
            _ => Step::Login,
        });
    };
    if let Some(step) = sign_in_step(state, req, session).await? {
        return Ok(step);
    }
    let organizations = state.store.organizations_of_user(&session.user_id).await?;
    if req.prompt != Some(Prompt::Consent) {
        if let Some(consent) = remembered(state, &session.user_id, req, &organizations).await? {
            return issue_code(state, req, session, consent)
                .await
                .map(Step::Redirect);
        }
    }
    Ok(match req.prompt {
        Some(Prompt::None) => prompt_error("consent_required", "the user has not consented"),
        _ => Step::Consent(organizations),
    })
}

/// What a signed-in request still needs before consent, if anything: a fresh sign-in
/// (`prompt=login`, `max_age`) or a second factor (`acr_values`), or, with `prompt=none`, the
/// error saying it cannot be had. Checked before the consent page and again when its answer
/// comes (a decision posted directly gets no further than the page would have).
pub async fn sign_in_step(
    state: &AppState,
    req: &AuthorizeRequest,
    session: &Session,
) -> Result<Option<Step>, AuthorizeError> {
    let prompt_error = |code: &str, text: &str| prompt_error(state, req, code, text);
    // A fresh sign-in is asked for by `prompt=login`, or by `max_age` when the last one is
    // older (OIDC Core §3.1.2.1; `max_age=0`: always). A pushed request's are met by a sign-in
    // after it was pushed (its query, carried through the login page, cannot drop them as a
    // direct request's does). With `prompt=none` no sign-in can happen: `login_required`.
    let too_old = req.max_age.is_some_and(|max| {
        max == 0
            || state.clock.now() - session.auth_time > chrono::Duration::seconds(i64::from(max))
    });
    let signed_in_since_push = req
        .pushed
        .as_ref()
        .is_some_and(|p| session.auth_time >= p.pushed_at);
    if (req.prompt == Some(Prompt::Login) || too_old) && !signed_in_since_push {
        return Ok(Some(match req.prompt {
            Some(Prompt::None) => {
                prompt_error("login_required", "the sign-in is older than max_age")
            }
            _ => Step::Login,
        }));
    }
    // `acr_values` asking for a class the session does not reach: a second factor when the
    // person has one (OIDC Core §3.1.2.1: a voluntary claim; without one the request goes on
    // and the ID token's `acr` says what was reached).
    if let Some(asked) = &req.acr_values {
        if !meets_acr_values(session.amr, asked)
            && has_second_factor(state, &session.user_id).await?
        {
            return Ok(Some(match req.prompt {
                Some(Prompt::None) => prompt_error(
                    "interaction_required",
                    "acr_values asks for a second factor the session has not proved",
                ),
                _ => Step::SecondFactor(factors_to_offer(state, &session.user_id).await?),
            }));
        }
    }
    Ok(None)
}

/// Records the consent and issues a code; answers where the browser goes next (the client's
/// redirect URI with `code`, `state` and `iss`).
pub async fn approve(
    state: &AppState,
    req: &AuthorizeRequest,
    session: &Session,
    organization_id: Option<String>,
    address: IpAddr,
) -> Result<String, AuthorizeError> {
    let now = state.clock.now();
    let consent = state
        .store
        .record_consent(&Consent {
            id: new_id(),
            user_id: session.user_id.clone(),
            client_id: req.client.id.clone(),
            organization_id: organization_id.clone(),
            scope: req.scope.to_string(),
            created_at: now,
            updated_at: now,
        })
        .await?;
    audit::record(
        state,
        Caller::person(&session.user_id, Some(address))
            .did(Kind::ConsentGiven)
            .organization(consent.organization_id.as_deref())
            .target(&consent.id)
            .detail(format!("client {}, scope {}", req.client.id, req.scope)),
    )
    .await;
    issue_code(state, req, session, consent).await
}

/// Issues a code under an existing consent (remembered consent).
pub async fn issue_code(
    state: &AppState,
    req: &AuthorizeRequest,
    session: &Session,
    consent: Consent,
) -> Result<String, AuthorizeError> {
    // A pushed request is used up by the code it gives (RFC 9126 §4: single use).
    crate::oauth::par::use_up(state, req).await?;
    let now = state.clock.now();
    let code = castellan_crypto::generate_secret();
    state
        .store
        .insert_code(&AuthorizationCode {
            hash: castellan_crypto::hash_secret(code.expose()).0,
            client_id: req.client.id.clone(),
            // Empty when the request named none: the exchange then does not require it.
            redirect_uri: if req.redirect_uri_given {
                req.redirect_uri.clone()
            } else {
                String::new()
            },
            code_challenge: req.code_challenge.as_ref().map(|c| c.as_str().to_owned()),
            user_id: session.user_id.clone(),
            organization_id: consent.organization_id.clone(),
            scope: req.scope.to_string(),
            nonce: req.nonce.clone(),
            resources: req.resources.clone(),
            auth_time: session.auth_time,
            amr: session.amr,
            session_id: Some(session.id.clone()),
            consent_id: consent.id,
            family_id: new_id(),
            created_at: now,
            expires_at: code_expires_at(state, now),
            dpop_jkt: req.dpop_jkt.clone(),
        })
        .await?;
    // When this session ends, the client is sent a logout token (Back-Channel Logout 1.0).
    state
        .store
        .record_session_client(&session.id, &req.client.id, &session.user_id, now)
        .await?;
    let mut params = vec![("code", code.expose())];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    params.push(("iss", &state.config.issuer));
    Ok(redirect_with(&req.redirect_uri, &params))
}

/// The denial answer: `error=access_denied` with `state` and `iss` (RFC 6749 §4.1.2.1).
pub fn deny_location(state: &AppState, req: &AuthorizeRequest) -> String {
    let mut params = vec![
        ("error", "access_denied"),
        ("error_description", "the user denied the request"),
    ];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    params.push(("iss", &state.config.issuer));
    redirect_with(&req.redirect_uri, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_scopes_are_elevated() {
        assert!(is_write_scope("products:write"));
        assert!(is_write_scope("orders:write:acme"));
        assert!(!is_write_scope("products:read"));
        assert!(!is_write_scope("rewrite"));
        let config = Config::default();
        let lines = describe(&config, &ScopeSet::parse("openid unknown:thing").unwrap());
        assert_eq!(lines[0].description, "Know who you are (sign you in)");
        assert!(lines[1].description.contains("unknown:thing"));
    }
}
