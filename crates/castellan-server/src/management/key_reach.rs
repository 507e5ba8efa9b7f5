//! Which API keys a management token reaches. A client acting for itself with
//! the key permissions reaches every key. A person's token reaches the keys of the
//! organizations the person belongs to (and keys they created bound to none): reading needs
//! any role there, creating, disabling, enabling, revoking and rotating need MANAGER or OWNER.
//! Anything else is 403 `access_denied`.

use crate::error::ApiError;
use crate::oauth::bearer::Bearer;
use crate::platform::state::AppState;
use castellan_core::user::Role;
use castellan_store::api_keys::{ApiKey, ApiKeyOwner};
use castellan_store::StoreError;

/// What a token may reach.
#[derive(Debug, Clone)]
pub enum KeyReach {
    /// A client's own token: every key.
    Everything,
    /// A person's token: their organizations, with their role in each.
    Person {
        /// The person's id.
        id: String,
        /// The organization the token is bound to, if any.
        bound_to: Option<String>,
        /// Their organizations, with their role in each.
        organizations: Vec<(String, Role)>,
    },
}

fn refused(what: &str) -> ApiError {
    ApiError::NotAllowed(format!(
        "The signed-in person may not {what}: only keys of their own organizations, and changes need the MANAGER or OWNER role there."
    ))
}

impl KeyReach {
    /// The reach of the token on a request; a person's memberships are read now.
    pub async fn of(state: &AppState, bearer: &Bearer) -> Result<KeyReach, StoreError> {
        let Some(person) = &bearer.person else {
            return Ok(KeyReach::Everything);
        };
        let organizations = state
            .store
            .organizations_of_user(&person.id)
            .await?
            .into_iter()
            .map(|(o, r)| (o.id, r))
            .collect();
        Ok(KeyReach::Person {
            id: person.id.clone(),
            bound_to: bearer.organization().map(str::to_owned),
            organizations,
        })
    }

    fn role_in(&self, organization: &str) -> Option<Role> {
        match self {
            KeyReach::Everything => Some(Role::Owner),
            KeyReach::Person { organizations, .. } => organizations
                .iter()
                .find(|(o, _)| o == organization)
                .map(|(_, r)| *r),
        }
    }

    fn reaches(&self, key: &ApiKey, needed: Role) -> bool {
        match (self, &key.organization_id) {
            (KeyReach::Everything, _) => true,
            (KeyReach::Person { id, .. }, None) => key.created_by == *id,
            (KeyReach::Person { .. }, Some(org)) => {
                self.role_in(org).is_some_and(|r| r.satisfies(needed))
            }
        }
    }

    /// Reading a key: any role in its organization.
    pub fn check_read(&self, key: &ApiKey) -> Result<(), ApiError> {
        if self.reaches(key, Role::Viewer) {
            Ok(())
        } else {
            Err(refused("read this API key"))
        }
    }

    /// Disabling, enabling, revoking or rotating a key: MANAGER or OWNER in its organization.
    pub fn check_change(&self, key: &ApiKey) -> Result<(), ApiError> {
        if self.reaches(key, Role::Manager) {
            Ok(())
        } else {
            Err(refused("change this API key"))
        }
    }

    /// The organization of a new key: the one named, else (for a person) the one their token
    /// is bound to or their only one; a person needs MANAGER or OWNER there.
    pub fn organization_for_new_key(
        &self,
        named: Option<String>,
    ) -> Result<Option<String>, ApiError> {
        let KeyReach::Person { .. } = self else {
            return Ok(named);
        };
        let org = self.default_organization(named)?;
        if self
            .role_in(&org)
            .is_some_and(|r| r.satisfies(Role::Manager))
        {
            Ok(Some(org))
        } else {
            Err(refused("create API keys in this organization"))
        }
    }

    /// The listing filter: a person lists one of their organizations (the one named, the one
    /// the token is bound to, or their only one) or the keys they created themselves.
    pub fn listing(
        &self,
        organization: Option<String>,
        created_by: Option<String>,
    ) -> Result<ApiKeyOwner, ApiError> {
        let owner = match (organization, created_by) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_input(
                    "filter by organizationId or createdBy, not both",
                ))
            }
            (Some(o), None) => ApiKeyOwner::Organization(o),
            (None, Some(c)) => ApiKeyOwner::Creator(c),
            (None, None) => match self {
                KeyReach::Everything => ApiKeyOwner::All,
                KeyReach::Person { .. } => {
                    ApiKeyOwner::Organization(self.default_organization(None)?)
                }
            },
        };
        match (self, &owner) {
            (KeyReach::Everything, _) => Ok(owner),
            (KeyReach::Person { .. }, ApiKeyOwner::Organization(o))
                if self.role_in(o).is_some() =>
            {
                Ok(owner)
            }
            (KeyReach::Person { id, .. }, ApiKeyOwner::Creator(c)) if c == id => Ok(owner),
            _ => Err(refused("list these API keys")),
        }
    }

    fn default_organization(&self, named: Option<String>) -> Result<String, ApiError> {
        let KeyReach::Person {
            bound_to,
            organizations,
            ..
        } = self
        else {
            return named.ok_or_else(|| ApiError::invalid_input("organizationId is required"));
        };
        if let Some(o) = named.or_else(|| bound_to.clone()) {
            return Ok(o);
        }
        match organizations.as_slice() {
            [(only, _)] => Ok(only.clone()),
            [] => Err(refused("manage API keys outside an organization")),
            _ => Err(ApiError::invalid_input(
                "the signed-in person belongs to several organizations: name one with organizationId",
            )),
        }
    }
}
