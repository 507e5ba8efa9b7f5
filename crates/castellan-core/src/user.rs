//! People and organizations: users, organizations, memberships and roles (OWNER, MANAGER,
//! VIEWER).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A member's role in an organization. Ordered: `Viewer < Manager < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// Reads; the API keys it creates carry only scopes that cannot change data.
    Viewer,
    /// Also manages the organization's API keys, with any non-administrative scope.
    Manager,
    /// Also manages members and their roles.
    Owner,
}

impl Role {
    /// The role's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "VIEWER",
            Role::Manager => "MANAGER",
            Role::Owner => "OWNER",
        }
    }

    /// The role named `s`, in any letter case.
    pub fn parse(s: &str) -> Option<Role> {
        match s.to_ascii_uppercase().as_str() {
            "VIEWER" => Some(Role::Viewer),
            "MANAGER" => Some(Role::Manager),
            "OWNER" => Some(Role::Owner),
            _ => None,
        }
    }

    /// Whether this role is at least `needed`.
    pub fn satisfies(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person who signs in. The password is kept only as an Argon2id PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id (`sub` of their tokens).
    pub id: String,
    /// Lower-cased, trimmed; unique.
    pub email: String,
    /// A display name.
    pub name: String,
    /// The Argon2id hash of the password, as a PHC string.
    pub password_hash: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// An administrator: only then may the person's grants carry
    /// administrative scopes (`manage_*`, `introspect` …). Set with `castellan users set-admin`.
    pub is_admin: bool,
    /// When an operator disabled the person (`castellan users disable`); `None`: active. A
    /// disabled person cannot sign in or use any grant.
    pub disabled_at: Option<DateTime<Utc>>,
    /// When the person proved they receive mail at `email` (a verification or invitation
    /// link); `None`: not verified (`email_verified: false` in ID tokens and userinfo).
    pub email_verified_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("is_admin", &self.is_admin)
            .finish_non_exhaustive()
    }
}

/// An organization: what a user's token is bound to, with members in roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// The organization's id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A user's role in an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The organization.
    pub organization_id: String,
    /// The member.
    pub user_id: String,
    /// Their role.
    pub role: Role,
}

/// Normalises an email address for lookup and uniqueness; `None` when it is not plausible.
pub fn normalize_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Owner.satisfies(Role::Manager));
        assert!(Role::Manager.satisfies(Role::Manager));
        assert!(!Role::Viewer.satisfies(Role::Manager));
        assert_eq!(Role::parse("manager"), Some(Role::Manager));
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            normalize_email(" Ann@Example.COM "),
            Some("ann@example.com".into())
        );
        assert_eq!(normalize_email("no-at-sign"), None);
        assert_eq!(normalize_email("a@b@c"), None);
        assert_eq!(normalize_email("a b@c"), None);
    }
}
