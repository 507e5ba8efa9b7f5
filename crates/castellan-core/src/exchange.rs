//! Token exchange (RFC 8693), the rules without storage: which token types are read, who may
//! exchange a subject token, the scope the new token gets, and the `act` claim naming the actor
//! (nested for a chain of delegations, §4.1).
//!
//! A client may exchange a subject token that was issued to it, or whose `aud` names it, or
//! whose `may_act` claim (§4.4) names it; beyond that only a configured delegation rule lets a
//! client act for people's tokens of other clients, within the scopes (and extra audiences)
//! the rule gives. The new token's scope is the one asked for, which must be within the
//! subject token's (and the rule's); by default the subject's, cut to the rule's.

use crate::scope::ScopeSet;
use crate::OAuthError;
use serde_json::{Map, Value};

/// `urn:ietf:params:oauth:grant-type:token-exchange`'s token type of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The token type of an OpenID Connect ID token.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// The token type of a JWT (RFC 8693 §3).
pub const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// The token type of a refresh token.
pub const REFRESH_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:refresh_token";

/// The deepest chain of actors a token may carry (`act` inside `act`): a longer chain is
/// refused rather than grown.
pub const MAX_ACT_DEPTH: usize = 8;

/// A configured delegation: `client` may exchange people's tokens issued to any of
/// `for_clients`, for at most `scopes`, for the subject token's audiences or `audiences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// The client that may act.
    pub client: String,
    /// The clients whose people's tokens it may exchange.
    pub for_clients: Vec<String>,
    /// The scopes the exchanged token may carry at most (never empty: checked at start-up).
    pub scopes: ScopeSet,
    /// Audiences the exchanged token may name besides the subject token's.
    pub audiences: Vec<String>,
}

/// What the policy reads of a subject token.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The client it was issued to.
    pub client_id: &'a str,
    /// Its audiences.
    pub audiences: &'a [&'a str],
    /// Its `may_act` claim, if any (§4.4).
    pub may_act: Option<&'a Value>,
    /// Whether it is a person's token (a client's own token is never delegated).
    pub person: bool,
}

/// Why a client may exchange a subject token, and the scope cap that comes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    /// Its own token, a token for it, or one whose `may_act` names it: no cap.
    Own,
    /// A delegation rule, with its scope cap and its extra audiences.
    Delegated(ScopeSet, Vec<String>),
}

/// Whether `requester` (a client id, acting as `actor_sub` when an actor token names one) may
/// exchange `subject`; `invalid_grant` otherwise.
pub fn permission(
    requester: &str,
    actor_sub: Option<&str>,
    subject: &Subject<'_>,
    rules: &[Delegation],
) -> Result<Permission, OAuthError> {
    if subject.client_id == requester || subject.audiences.contains(&requester) {
        return Ok(Permission::Own);
    }
    if let Some(may_act) = subject.may_act {
        if may_act_names(may_act, requester, actor_sub) {
            return Ok(Permission::Own);
        }
    }
    rules
        .iter()
        .filter(|_| subject.person)
        .find(|r| r.client == requester && r.for_clients.iter().any(|c| c == subject.client_id))
        .map(|r| Permission::Delegated(r.scopes.clone(), r.audiences.clone()))
        .ok_or_else(|| {
            OAuthError::invalid_grant(
                "this client may not exchange the subject token: it was issued to another \
                 client and no delegation rule or may_act claim lets this client act for it",
            )
        })
}

/// Whether a `may_act` claim (§4.4: an object naming the party that may act) names the
/// requesting client (`client_id`) or the actor (`sub`).
fn may_act_names(may_act: &Value, requester: &str, actor_sub: Option<&str>) -> bool {
    let Value::Object(m) = may_act else {
        return false;
    };
    let names = |k: &str, v: &str| m.get(k).and_then(Value::as_str) == Some(v);
    names("client_id", requester) || actor_sub.is_some_and(|a| names("sub", a))
}

/// The scope of the exchanged token: `asked` (which must be within the subject's and the
/// cap), else the subject's cut to the cap. `invalid_scope` when `asked` widens, or when
/// nothing is left.
pub fn exchanged_scope(
    subject: &ScopeSet,
    asked: Option<&ScopeSet>,
    permission: &Permission,
) -> Result<ScopeSet, OAuthError> {
    let cap = match permission {
        Permission::Delegated(cap, _) => Some(cap),
        Permission::Own => None,
    };
    let within = |s: &ScopeSet| s.is_subset_of(subject) && cap.is_none_or(|c| s.is_subset_of(c));
    let scope = match asked {
        Some(asked) if !asked.is_empty() => {
            if !within(asked) {
                return Err(OAuthError::invalid_scope(
                    "an exchange may narrow the subject token's scope, never widen it (nor go \
                     beyond what the delegation rule gives)",
                ));
            }
            asked.clone()
        }
        _ => subject
            .iter()
            .filter(|s| cap.is_none_or(|c| c.contains(s)))
            .cloned()
            .collect(),
    };
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the exchange leaves no scope: the delegation rule gives none of the subject token's",
        ));
    }
    Ok(scope)
}

/// The `act` claim of the exchanged token: the actor (`sub`, and `client_id` when it acts as
/// a client), with the subject token's own `act` nested inside (§4.1: the chain of actors,
/// the current one outermost). `invalid_grant` when the chain would exceed [`MAX_ACT_DEPTH`]
/// or the subject's `act` is not an object.
pub fn act_claim(
    actor_sub: &str,
    actor_client: Option<&str>,
    prior: Option<&Value>,
) -> Result<Value, OAuthError> {
    let mut act = Map::new();
    act.insert("sub".into(), actor_sub.into());
    if let Some(c) = actor_client {
        act.insert("client_id".into(), c.into());
    }
    if let Some(prior) = prior {
        if !prior.is_object() || act_depth(prior) >= MAX_ACT_DEPTH {
            return Err(OAuthError::invalid_grant(
                "the subject token's chain of actors is malformed or too long",
            ));
        }
        act.insert("act".into(), prior.clone());
    }
    Ok(Value::Object(act))
}

/// How many `act` objects are nested in `act` (itself included).
fn act_depth(act: &Value) -> usize {
    let mut depth = 0;
    let mut at = Some(act);
    while let Some(Value::Object(m)) = at {
        depth += 1;
        at = m.get("act");
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OAuthErrorCode;
    use proptest::prelude::*;
    use serde_json::json;

    fn scopes(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    fn subject<'a>(client: &'a str, aud: &'a [&'a str], may_act: Option<&'a Value>) -> Subject<'a> {
        Subject {
            client_id: client,
            audiences: aud,
            may_act,
            person: true,
        }
    }

    #[test]
    fn own_tokens_tokens_for_it_and_may_act_are_allowed() {
        assert_eq!(
            permission("a", None, &subject("a", &[], None), &[]),
            Ok(Permission::Own)
        );
        assert_eq!(
            permission("a", None, &subject("web", &["https://api", "a"], None), &[]),
            Ok(Permission::Own)
        );
        let may = json!({"client_id": "a"});
        assert_eq!(
            permission("a", None, &subject("web", &[], Some(&may)), &[]),
            Ok(Permission::Own)
        );
        let may = json!({"sub": "agent-7"});
        assert_eq!(
            permission("a", Some("agent-7"), &subject("web", &[], Some(&may)), &[]),
            Ok(Permission::Own)
        );
    }

    #[test]
    fn another_clients_token_needs_a_rule_naming_both() {
        let rules = [Delegation {
            client: "agent".into(),
            for_clients: vec!["web".into()],
            scopes: scopes("products:read"),
            audiences: vec![],
        }];
        for (requester, issued_to) in [("agent", "mobile"), ("other", "web")] {
            let e =
                permission(requester, None, &subject(issued_to, &[], None), &rules).unwrap_err();
            assert_eq!(e.code, OAuthErrorCode::InvalidGrant);
        }
        assert_eq!(
            permission("agent", None, &subject("web", &[], None), &rules),
            Ok(Permission::Delegated(scopes("products:read"), vec![]))
        );
        // A client's own token is never delegated.
        let client_token = Subject {
            person: false,
            ..subject("web", &[], None)
        };
        assert!(permission("agent", None, &client_token, &rules).is_err());
        // A may_act naming someone else, or not an object, allows nothing.
        for may in [
            json!({"client_id": "b"}),
            json!("agent"),
            json!({"sub": "agent"}),
        ] {
            assert!(
                permission("agent", None, &subject("mobile", &[], Some(&may)), &rules).is_err()
            );
        }
    }

    #[test]
    fn the_scope_narrows_never_widens_and_keeps_within_the_rule() {
        let subject = scopes("products:read orders:read");
        let own = Permission::Own;
        assert_eq!(exchanged_scope(&subject, None, &own).unwrap(), subject);
        assert_eq!(
            exchanged_scope(&subject, Some(&scopes("orders:read")), &own).unwrap(),
            scopes("orders:read")
        );
        let e = exchanged_scope(&subject, Some(&scopes("products:write")), &own).unwrap_err();
        assert_eq!(e.code, OAuthErrorCode::InvalidScope);
        let rule = Permission::Delegated(scopes("products:read"), vec![]);
        assert_eq!(
            exchanged_scope(&subject, None, &rule).unwrap(),
            scopes("products:read")
        );
        assert!(exchanged_scope(&subject, Some(&scopes("orders:read")), &rule).is_err());
        let disjoint = Permission::Delegated(scopes("venues:read"), vec![]);
        assert!(exchanged_scope(&subject, None, &disjoint).is_err());
    }

    #[test]
    fn actors_nest_with_the_newest_outermost_and_the_chain_is_bounded() {
        let first = act_claim("agent", Some("agent"), None).unwrap();
        assert_eq!(first, json!({"sub": "agent", "client_id": "agent"}));
        let second = act_claim("tool", None, Some(&first)).unwrap();
        assert_eq!(
            second,
            json!({"sub": "tool", "act": {"sub": "agent", "client_id": "agent"}})
        );
        let mut chain = first;
        for _ in 1..MAX_ACT_DEPTH {
            chain = act_claim("x", None, Some(&chain)).unwrap();
        }
        assert_eq!(act_depth(&chain), MAX_ACT_DEPTH);
        assert!(act_claim("x", None, Some(&chain)).is_err());
        assert!(act_claim("x", None, Some(&json!("not an object"))).is_err());
    }

    proptest! {
        /// Whatever is asked, the result is within the subject's scope and the rule's cap.
        #[test]
        fn the_result_never_exceeds_the_subject_or_the_cap(
            subject in "[a-c]:(r|w)( [a-c]:(r|w)){0,4}",
            asked in proptest::option::of("[a-c]:(r|w)( [a-c]:(r|w)){0,4}"),
            cap in "([a-c]:(r|w)( [a-c]:(r|w)){0,3})?",
        ) {
            let subject = scopes(&subject);
            let cap = scopes(&cap);
            let asked = asked.map(|a| scopes(&a));
            let p = Permission::Delegated(cap.clone(), vec![]);
            if let Ok(s) = exchanged_scope(&subject, asked.as_ref(), &p) {
                prop_assert!(s.is_subset_of(&subject));
                prop_assert!(s.is_subset_of(&cap));
                prop_assert!(!s.is_empty());
            }
        }
    }
}
