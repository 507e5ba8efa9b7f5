//! Route policies: what a route requires of a checked caller, and the pure
//! [`evaluate`] that decides. Order of checks: presence, scope (RFC 6750 §3.1
//! `insufficient_scope`), role, organization, tenant headers.

use crate::config::RouteRules;
use crate::failure::Failure;
use crate::identity::{Identity, Role};
use castellan_core::{Environment, Scope};
use http::HeaderMap;
use serde::Deserialize;

/// Where a request names the organization it acts on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum OrgSource {
    /// A `{param}` of the route's path pattern.
    Param(String),
    /// A request header.
    Header(String),
}

/// A validated route policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Anonymous callers pass.
    pub public: bool,
    /// A scope the caller must hold.
    pub scope: Option<String>,
    /// The lowest organization role the caller must have.
    pub min_role: Option<Role>,
    /// Where the request names the organization the caller must belong to.
    pub organization: Option<OrgSource>,
    /// Tenant mode: the token's brand and venue must match the tenant headers.
    pub tenant: bool,
}

/// The header carrying a tenant token.
pub const TOKEN_HEADER: &str = "x-token";
/// The brand a tenant call is made for; it must be the token's.
pub const BRAND_HEADER: &str = "x-brand";
/// The venue a tenant call is made for; it must be the token's.
pub const VENUE_HEADER: &str = "x-venue";
/// The optional stage a tenant call names, compared with the API's environment.
pub const STAGE_HEADER: &str = "x-stage";

impl Policy {
    /// Any valid credential, nothing more.
    pub fn authenticated() -> Policy {
        Policy::default()
    }

    /// Anonymous callers pass; a present credential is still checked.
    pub fn public() -> Policy {
        Policy {
            public: true,
            ..Policy::default()
        }
    }

    /// Any valid credential holding `scope`.
    pub fn scope(scope: &str) -> Policy {
        Policy {
            scope: Some(scope.to_owned()),
            ..Policy::default()
        }
    }

    /// Checks `rules` and compiles them; the error says what contradicts what.
    pub fn compile(rules: &RouteRules) -> Result<Policy, String> {
        if rules.public
            && (rules.scope.is_some()
                || rules.min_role.is_some()
                || rules.organization.is_some()
                || rules.tenant)
        {
            return Err(
                "a public route cannot also require a scope, role, organization or tenant".into(),
            );
        }
        if let Some(s) = &rules.scope {
            Scope::parse(s).map_err(|e| format!("scope {s:?}: {e}"))?;
        }
        match &rules.organization {
            Some(OrgSource::Header(h)) if http::HeaderName::from_bytes(h.as_bytes()).is_err() => {
                return Err(format!("organization header {h:?} is not a header name"));
            }
            Some(OrgSource::Param(p)) if p.is_empty() => {
                return Err("organization param is empty".into());
            }
            _ => {}
        }
        Ok(Policy {
            public: rules.public,
            scope: rules.scope.clone(),
            min_role: rules.min_role,
            organization: rules.organization.clone(),
            tenant: rules.tenant,
        })
    }
}

/// What the policy may look at besides the identity.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// Values captured by the route's `{param}` segments.
    pub params: &'a [(String, String)],
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The environment this API runs in (compared with `x-stage`).
    pub environment: Environment,
}

impl RequestFacts<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Decides whether `identity` (None: anonymous) may make this request under `policy`.
pub fn evaluate(
    policy: &Policy,
    identity: Option<&Identity>,
    facts: &RequestFacts<'_>,
) -> Result<(), Failure> {
    let Some(id) = identity else {
        return if policy.public {
            Ok(())
        } else {
            Err(Failure::MissingCredentials)
        };
    };
    if let Some(needed) = &policy.scope {
        if !id.has_scope(needed) {
            return Err(Failure::InsufficientScope {
                needed: needed.clone(),
                api_key: id.kind == crate::identity::CredentialKind::ApiKey,
            });
        }
    }
    if let Some(needed) = policy.min_role {
        if id.role.is_none_or(|r| r < needed) {
            return Err(Failure::RoleTooLow {
                needed,
                actual: id.role,
            });
        }
    }
    if let Some(source) = &policy.organization {
        let named = match source {
            OrgSource::Param(p) => facts.param(p),
            OrgSource::Header(h) => facts.header(h),
        };
        match (named, id.organization.as_deref()) {
            (Some(n), Some(o)) if n == o => {}
            _ => return Err(Failure::WrongOrganization),
        }
    }
    if policy.tenant {
        check_tenant(id, facts)?;
    }
    Ok(())
}

fn check_tenant(id: &Identity, facts: &RequestFacts<'_>) -> Result<(), Failure> {
    for (header, bound) in [
        (BRAND_HEADER, id.brand.as_deref()),
        (VENUE_HEADER, id.venue.as_deref()),
    ] {
        match (facts.header(header), bound) {
            (Some(h), Some(b)) if h == b => {}
            _ => return Err(Failure::TenantMismatch { header }),
        }
    }
    if let Some(stage) = facts.header(STAGE_HEADER) {
        let env = facts.environment;
        if stage != env.as_str() && stage != env.tag() {
            return Err(Failure::TenantMismatch {
                header: STAGE_HEADER,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::CredentialKind;
    use http::HeaderValue;

    fn id() -> Identity {
        Identity {
            subject: "u1".into(),
            client_id: "c1".into(),
            organization: Some("org-1".into()),
            scopes: vec!["products:read".into()],
            role: Some(Role::Viewer),
            kind: CredentialKind::Jwt,
            brand: Some("openapitest".into()),
            venue: Some("1".into()),
            expires_at: None,
        }
    }

    fn run(
        policy: &Policy,
        identity: Option<&Identity>,
        params: &[(&str, &str)],
        headers: &[(&'static str, &str)],
    ) -> Result<(), Failure> {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        evaluate(
            policy,
            identity,
            &RequestFacts {
                params: &params,
                headers: &map,
                environment: Environment::Local,
            },
        )
    }

    #[test]
    fn public_lets_anonymous_and_authenticated_through() {
        assert_eq!(run(&Policy::public(), None, &[], &[]), Ok(()));
        assert_eq!(run(&Policy::public(), Some(&id()), &[], &[]), Ok(()));
    }

    #[test]
    fn anything_else_needs_credentials() {
        assert_eq!(
            run(&Policy::authenticated(), None, &[], &[]),
            Err(Failure::MissingCredentials)
        );
        assert_eq!(
            run(&Policy::scope("products:read"), None, &[], &[]),
            Err(Failure::MissingCredentials)
        );
        assert_eq!(run(&Policy::authenticated(), Some(&id()), &[], &[]), Ok(()));
    }

    #[test]
    fn scope_is_required_and_named() {
        assert_eq!(
            run(&Policy::scope("products:read"), Some(&id()), &[], &[]),
            Ok(())
        );
        assert_eq!(
            run(&Policy::scope("products:write"), Some(&id()), &[], &[]),
            Err(Failure::InsufficientScope {
                needed: "products:write".into(),
                api_key: false,
            })
        );
    }

    #[test]
    fn role_must_reach_the_minimum() {
        let manager = Policy {
            min_role: Some(Role::Manager),
            ..Policy::default()
        };
        assert_eq!(
            run(&manager, Some(&id()), &[], &[]),
            Err(Failure::RoleTooLow {
                needed: Role::Manager,
                actual: Some(Role::Viewer)
            })
        );
        let mut m = id();
        m.role = Some(Role::Manager);
        assert_eq!(run(&manager, Some(&m), &[], &[]), Ok(()));
        m.role = Some(Role::Owner);
        assert_eq!(run(&manager, Some(&m), &[], &[]), Ok(()));
        m.role = None;
        assert_eq!(
            run(&manager, Some(&m), &[], &[]),
            Err(Failure::RoleTooLow {
                needed: Role::Manager,
                actual: None
            })
        );
    }

    #[test]
    fn organization_from_param_or_header_must_match() {
        let by_param = Policy {
            organization: Some(OrgSource::Param("org".into())),
            ..Policy::default()
        };
        assert_eq!(
            run(&by_param, Some(&id()), &[("org", "org-1")], &[]),
            Ok(())
        );
        assert_eq!(
            run(&by_param, Some(&id()), &[("org", "org-2")], &[]),
            Err(Failure::WrongOrganization)
        );
        assert_eq!(
            run(&by_param, Some(&id()), &[], &[]),
            Err(Failure::WrongOrganization)
        );
        let by_header = Policy {
            organization: Some(OrgSource::Header("x-organization".into())),
            ..Policy::default()
        };
        assert_eq!(
            run(&by_header, Some(&id()), &[], &[("x-organization", "org-1")]),
            Ok(())
        );
        assert_eq!(
            run(&by_header, Some(&id()), &[], &[("x-organization", "org-9")]),
            Err(Failure::WrongOrganization)
        );
        let mut no_org = id();
        no_org.organization = None;
        assert_eq!(
            run(
                &by_header,
                Some(&no_org),
                &[],
                &[("x-organization", "org-1")]
            ),
            Err(Failure::WrongOrganization)
        );
    }

    #[test]
    fn tenant_headers_must_match_the_token() {
        let tenant = Policy {
            tenant: true,
            ..Policy::default()
        };
        let ok = [("x-brand", "openapitest"), ("x-venue", "1")];
        assert_eq!(run(&tenant, Some(&id()), &[], &ok), Ok(()));
        assert_eq!(
            run(
                &tenant,
                Some(&id()),
                &[],
                &[("x-brand", "other"), ("x-venue", "1")]
            ),
            Err(Failure::TenantMismatch { header: "x-brand" })
        );
        assert_eq!(
            run(
                &tenant,
                Some(&id()),
                &[],
                &[("x-brand", "openapitest"), ("x-venue", "2")]
            ),
            Err(Failure::TenantMismatch { header: "x-venue" })
        );
        assert_eq!(
            run(&tenant, Some(&id()), &[], &[("x-brand", "openapitest")]),
            Err(Failure::TenantMismatch { header: "x-venue" })
        );
        assert_eq!(
            run(
                &tenant,
                Some(&id()),
                &[],
                &[ok[0], ok[1], ("x-stage", "local")]
            ),
            Ok(())
        );
        assert_eq!(
            run(
                &tenant,
                Some(&id()),
                &[],
                &[ok[0], ok[1], ("x-stage", "production")]
            ),
            Err(Failure::TenantMismatch { header: "x-stage" })
        );
        assert_eq!(
            run(&tenant, None, &[], &ok),
            Err(Failure::MissingCredentials)
        );
    }

    #[test]
    fn public_routes_refuse_extra_requirements() {
        let rules = RouteRules {
            public: true,
            scope: Some("a:read".into()),
            ..RouteRules::default()
        };
        assert!(Policy::compile(&rules).is_err());
        let rules = RouteRules {
            scope: Some("a b".into()),
            ..RouteRules::default()
        };
        assert!(Policy::compile(&rules).is_err());
    }
}
