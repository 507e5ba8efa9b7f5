//! A bearer access token on a management request, checked: signature or stored hash, issuer,
//! environment, expiry, revocation.
//!
//! A person's token (one issued under a user's grant, with a family) holds administrative
//! scopes only while the person has the admin flag: the scopes of a token minted for a person
//! without it (before the rule, or before the flag was cleared) are read without them.

use crate::audit::Caller;
use crate::error::ApiError;
use crate::oauth::tokens::{check_access_token, Audience, Checked};
use crate::platform::state::AppState;
use castellan_core::ScopeSet;
use std::net::IpAddr;

/// A checked bearer token, as the management and people's APIs take it.
pub struct Bearer {
    /// What the check found.
    pub token: Checked,
    /// The scopes the token carries.
    pub scopes: ScopeSet,
    /// The person behind a user's grant; `None` for a client acting for itself.
    pub person: Option<Person>,
    /// The address the request came from (set by the extractor; `None` when checked
    /// outside a request).
    pub address: Option<IpAddr>,
}

/// The person a token was issued for, as storage knows them now.
#[derive(Debug, Clone)]
pub struct Person {
    /// The person's id.
    pub id: String,
    /// Whether the person is an administrator.
    pub is_admin: bool,
}

/// Checks a presented access token for the management and people's APIs.
pub async fn check_bearer(state: &AppState, token: &str) -> Result<Bearer, ApiError> {
    let now = state.clock.now();
    match check_access_token(state, token, now, Audience::Castellan).await? {
        Ok(checked) => {
            let mut scopes = ScopeSet::parse(checked.scope()).unwrap_or_default();
            let person = match checked.family() {
                None => None,
                Some(_) => {
                    let user = state.store.get_user(checked.subject()).await?;
                    let Some(user) = user.filter(|u| u.disabled_at.is_none()) else {
                        return Err(ApiError::Unauthorized(
                            "The access token is not valid: its user no longer exists or is \
                             disabled."
                                .into(),
                        ));
                    };
                    if !user.is_admin {
                        scopes = scopes.without_administrative();
                    }
                    Some(Person {
                        id: user.id,
                        is_admin: user.is_admin,
                    })
                }
            };
            Ok(Bearer {
                token: checked,
                scopes,
                person,
                address: None,
            })
        }
        Err(reason) => Err(ApiError::Unauthorized(format!(
            "The access token is not valid: {}.",
            reason.describe()
        ))),
    }
}

impl Bearer {
    /// Who acts with this token, and from where, as the audit log records them: its person,
    /// or its client acting for itself.
    pub fn caller(&self) -> Caller {
        Caller::of_token(
            self.person.as_ref().map(|p| p.id.as_str()),
            self.token.client_id(),
            self.address,
        )
    }

    /// The organization a person's token is bound to (`org`), if any.
    pub fn organization(&self) -> Option<&str> {
        self.token.organization()
    }

    /// Requires `permission` (e.g. `manage_api_clients`), plain or qualified with the project
    /// key; `also` lists scopes that imply it (`manage_api_clients` implies viewing).
    pub fn require(&self, permission: &str, also: &[&str], project: &str) -> Result<(), ApiError> {
        let ok = std::iter::once(permission)
            .chain(also.iter().copied())
            .any(|p| castellan_core::scope::grants_permission(&self.scopes, p, project));
        if ok {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                needed: format!("{permission}:{project}"),
            })
        }
    }
}
