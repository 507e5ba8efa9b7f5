//! Who is calling, once the guard has checked the credential: the [`Identity`] put into the
//! request's extensions, its axum extractor, and the identity headers forward-auth answers with.

use crate::failure::{Failure, FailureResponse, ResourceMetadata};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use serde::Serialize;

/// A member's role in an organization: the one type server and guard share.
pub use castellan_core::user::Role;

/// Which kind of credential the caller presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A JWT access token, verified locally.
    Jwt,
    /// An opaque access token, checked through introspection.
    OpaqueToken,
    /// An API key (`X-API-Key`), checked through introspection.
    ApiKey,
}

impl CredentialKind {
    /// The kind's name in the credential identity header.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Jwt => "jwt",
            CredentialKind::OpaqueToken => "opaque_token",
            CredentialKind::ApiKey => "api_key",
        }
    }
}

/// The checked caller, available to handlers as an extractor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Who the credential speaks for: the user, or the client itself.
    pub subject: String,
    /// The client the credential was issued to.
    pub client_id: String,
    /// The organization the credential is bound to, if any.
    pub organization: Option<String>,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The caller's role in `organization`, when known.
    pub role: Option<Role>,
    /// What kind of credential was presented.
    pub kind: CredentialKind,
    /// Tenant binding (the brand), when the token carries one.
    pub brand: Option<String>,
    /// Tenant binding (the venue), when the token carries one.
    pub venue: Option<String>,
    /// Unix seconds after which the credential is no longer valid, when known.
    pub expires_at: Option<i64>,
}

impl Identity {
    /// Whether the caller holds exactly `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Splits a space-separated scope string (RFC 6749 §3.3).
    pub fn scopes_from(scope: &str) -> Vec<String> {
        scope.split_ascii_whitespace().map(str::to_owned).collect()
    }
}

/// Header names of [`identity_headers`].
pub const SUBJECT_HEADER: &str = "x-castellan-subject";
/// The client id header.
pub const CLIENT_HEADER: &str = "x-castellan-client-id";
/// The organization header.
pub const ORGANIZATION_HEADER: &str = "x-castellan-organization";
/// The scopes header (space-separated).
pub const SCOPES_HEADER: &str = "x-castellan-scopes";
/// The role header.
pub const ROLE_HEADER: &str = "x-castellan-role";
/// The credential kind header.
pub const CREDENTIAL_HEADER: &str = "x-castellan-credential";

/// The six identity headers, in the order a forward-auth answer carries them.
pub const IDENTITY_HEADERS: [&str; 6] = [
    SUBJECT_HEADER,
    CLIENT_HEADER,
    ORGANIZATION_HEADER,
    SCOPES_HEADER,
    ROLE_HEADER,
    CREDENTIAL_HEADER,
];

/// The headers a forward-auth answer carries for an identity: always all six, empty
/// when unknown, so that a proxy copying them onto the forwarded request replaces any the
/// client sent itself. A value that is not valid header text is sent empty rather than
/// mangled.
pub fn identity_headers(id: &Identity) -> Vec<(HeaderName, HeaderValue)> {
    let scopes = id.scopes.join(" ");
    let values = [
        id.subject.as_str(),
        id.client_id.as_str(),
        id.organization.as_deref().unwrap_or(""),
        scopes.as_str(),
        id.role.map_or("", Role::as_str),
        id.kind.as_str(),
    ];
    IDENTITY_HEADERS
        .iter()
        .zip(values)
        .map(|(name, value)| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
            )
        })
        .collect()
}

/// The identity headers of an anonymous caller of a public route: all six, only
/// `X-Castellan-Credential` (`anonymous`) not empty.
pub fn anonymous_headers() -> Vec<(HeaderName, HeaderValue)> {
    IDENTITY_HEADERS
        .iter()
        .map(|name| {
            let value = if *name == CREDENTIAL_HEADER {
                "anonymous"
            } else {
                ""
            };
            (
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            )
        })
        .collect()
}

fn rejection(parts: &Parts) -> FailureResponse {
    FailureResponse {
        failure: Failure::MissingCredentials,
        resource_metadata: parts.extensions.get::<ResourceMetadata>().cloned(),
    }
}

/// The guard put no identity on the request (a public route called anonymously, or a handler
/// outside the guard): answer as for missing credentials.
impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = FailureResponse;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .ok_or_else(|| rejection(parts))
    }
}

/// `Option<Identity>`: `None` for an anonymous caller of a public route.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Identity>().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parsed() {
        assert!(Role::Owner > Role::Manager && Role::Manager > Role::Viewer);
        assert_eq!(Role::parse("manager"), Some(Role::Manager));
        assert_eq!(Role::parse("ADMIN"), None);
    }

    #[test]
    fn identity_headers_are_all_six_with_unprintable_values_empty() {
        let id = Identity {
            subject: "user-1".into(),
            client_id: "c\n1".into(),
            organization: Some("org-9".into()),
            scopes: vec!["a:read".into(), "b:write".into()],
            role: Some(Role::Viewer),
            kind: CredentialKind::ApiKey,
            brand: None,
            venue: None,
            expires_at: None,
        };
        let h = identity_headers(&id);
        let get = |n: &str| {
            h.iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert_eq!(get(SUBJECT_HEADER).as_deref(), Some("user-1"));
        assert_eq!(h.len(), 6);
        assert_eq!(get(CLIENT_HEADER).as_deref(), Some(""));
        assert_eq!(get(SCOPES_HEADER).as_deref(), Some("a:read b:write"));
        assert_eq!(get(ROLE_HEADER).as_deref(), Some("VIEWER"));
        assert_eq!(get(CREDENTIAL_HEADER).as_deref(), Some("api_key"));
        let none = identity_headers(&Identity {
            organization: None,
            role: None,
            ..id
        });
        for (name, value) in [(ORGANIZATION_HEADER, ""), (ROLE_HEADER, "")] {
            let found = none.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            assert_eq!(found.map(|v| v.to_str().unwrap()), Some(value), "{name}");
        }
        let anonymous = anonymous_headers();
        assert_eq!(anonymous.len(), 6);
        assert!(anonymous
            .iter()
            .all(|(k, v)| v.is_empty() == (k != CREDENTIAL_HEADER)));
    }
}
