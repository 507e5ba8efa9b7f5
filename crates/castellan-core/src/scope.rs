//! Scope syntax and matching (RFC 6749 §3.3).
//!
//! A scope is `name` or `name:qualifier[:qualifier…]`, each segment non-empty and made of the
//! characters RFC 6749 allows in a scope token. A client's allowed scopes are patterns: a final
//! `*` segment matches exactly one qualifier segment (`market:id:*` allows `market:id:abc`, not
//! `market:id:a:b`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest single scope accepted.
pub const MAX_SCOPE_LEN: usize = 256;
/// Most scopes accepted in one request or registration.
pub const MAX_SCOPES: usize = 100;

/// Why a scope string is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// No scope at all.
    #[error("scope is empty")]
    Empty,
    /// A scope longer than [`MAX_SCOPE_LEN`].
    #[error("a scope is longer than {MAX_SCOPE_LEN} characters")]
    TooLong,
    /// More than [`MAX_SCOPES`] scopes.
    #[error("more than {MAX_SCOPES} scopes")]
    TooMany,
    /// A character outside RFC 6749 §3.3 `scope-token`.
    #[error("a scope contains a character outside RFC 6749 §3.3 scope-token")]
    BadCharacter,
    /// An empty segment (`a::b`).
    #[error("a scope has an empty segment")]
    EmptySegment,
    /// A `*` where patterns do not allow one (requested scopes never do).
    #[error("`*` is only allowed as the last segment of an allowed-scope pattern")]
    Wildcard,
}

fn is_scope_char(c: char) -> bool {
    // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

fn check_syntax(s: &str) -> Result<(), ScopeError> {
    if s.is_empty() {
        return Err(ScopeError::Empty);
    }
    if s.len() > MAX_SCOPE_LEN {
        return Err(ScopeError::TooLong);
    }
    if !s.chars().all(is_scope_char) {
        return Err(ScopeError::BadCharacter);
    }
    if s.split(':').any(str::is_empty) {
        return Err(ScopeError::EmptySegment);
    }
    Ok(())
}

/// One requested or granted scope. Never contains a wildcard segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    /// Parses one requested scope (no wildcard).
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        check_syntax(s)?;
        if s.split(':').any(|seg| seg == "*") {
            return Err(ScopeError::Wildcard);
        }
        Ok(Scope(s.to_owned()))
    }

    /// The scope as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the first `:` (`market` for `market:id:abc`).
    pub fn name(&self) -> &str {
        self.0.split(':').next().unwrap_or(&self.0)
    }

    /// Its `:`-separated segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split(':')
    }
}

impl TryFrom<String> for Scope {
    type Error = ScopeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Scope::parse(&s)
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An allowed-scope pattern of a client: a scope whose last segment may be `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopePattern(String);

impl ScopePattern {
    /// Parses an allowed-scope pattern (`*` only as the last segment, never alone).
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        check_syntax(s)?;
        let segs: Vec<&str> = s.split(':').collect();
        let last = segs.len() - 1;
        if segs
            .iter()
            .enumerate()
            .any(|(i, seg)| seg.contains('*') && (i != last || *seg != "*" || i == 0))
        {
            return Err(ScopeError::Wildcard);
        }
        Ok(ScopePattern(s.to_owned()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it ends in `:*`.
    pub fn is_wildcard(&self) -> bool {
        self.0.ends_with(":*")
    }

    /// Whether `scope` is allowed by this pattern.
    pub fn matches(&self, scope: &Scope) -> bool {
        match self.0.strip_suffix('*') {
            None => self.0 == scope.0,
            Some(prefix) => match scope.0.strip_prefix(prefix) {
                Some(rest) => !rest.is_empty() && !rest.contains(':'),
                None => false,
            },
        }
    }

    /// The pattern as a plain scope, when it has no wildcard.
    pub fn as_scope(&self) -> Option<Scope> {
        if self.is_wildcard() {
            None
        } else {
            Some(Scope(self.0.clone()))
        }
    }
}

impl TryFrom<String> for ScopePattern {
    type Error = ScopeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ScopePattern::parse(&s)
    }
}

impl From<ScopePattern> for String {
    fn from(s: ScopePattern) -> String {
        s.0
    }
}

impl fmt::Display for ScopePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Administrative scopes: they open Castellan's own management API. Every
/// `manage_*` scope is administrative too. Self-registered clients never obtain them, and a
/// person's grant carries them only when the person has the admin flag.
pub const ADMIN_SCOPE_NAMES: [&str; 9] = [
    "manage_api_clients",
    "view_api_clients",
    "manage_api_keys",
    "view_api_keys",
    "manage_project",
    "register_clients",
    "introspect",
    "manage_organizations",
    "view_audit_log",
];

/// Whether a scope (or pattern) whose name, before its first `:`, is `name` is
/// administrative: one of [`ADMIN_SCOPE_NAMES`] or any `manage_*` scope.
pub fn is_administrative_name(name: &str) -> bool {
    ADMIN_SCOPE_NAMES.contains(&name) || name.starts_with("manage_")
}

/// Whether `scope` is administrative (`manage_api_keys`, `introspect:acme`, `manage_orders` …).
pub fn is_administrative(scope: &Scope) -> bool {
    is_administrative_name(scope.name())
}

/// Splits a space-separated scope string. RFC 6749 allows only single spaces between tokens;
/// leading, trailing and repeated spaces are tolerated here because real clients send them.
fn split_scope_string(s: &str) -> impl Iterator<Item = &str> {
    s.split(' ').filter(|t| !t.is_empty())
}

/// An ordered set of scopes without duplicates, as requested or granted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// An empty set.
    pub fn new() -> Self {
        ScopeSet(Vec::new())
    }

    /// Parses a space-separated scope string (`scope` parameter).
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let mut set = ScopeSet::new();
        for token in split_scope_string(s) {
            if set.0.len() >= MAX_SCOPES {
                return Err(ScopeError::TooMany);
            }
            set.insert(Scope::parse(token)?);
        }
        Ok(set)
    }

    /// Adds `scope` unless it is already there.
    pub fn insert(&mut self, scope: Scope) {
        if !self.0.contains(&scope) {
            self.0.push(scope);
        }
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    /// Whether a scope written `scope` is in the set.
    pub fn contains_str(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == scope)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many scopes it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// The same scopes without the administrative ones, order kept.
    pub fn without_administrative(&self) -> ScopeSet {
        ScopeSet(
            self.0
                .iter()
                .filter(|s| !is_administrative(s))
                .cloned()
                .collect(),
        )
    }

    /// Whether some scope of the set is administrative.
    pub fn has_administrative(&self) -> bool {
        self.0.iter().any(is_administrative)
    }

    /// Every scope of `self` is in `other`.
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = ScopeSet::new();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

/// A client's allowed scope patterns, parsed from a space-separated string.
pub fn parse_patterns(s: &str) -> Result<Vec<ScopePattern>, ScopeError> {
    let mut out: Vec<ScopePattern> = Vec::new();
    for token in split_scope_string(s) {
        if out.len() >= MAX_SCOPES {
            return Err(ScopeError::TooMany);
        }
        let p = ScopePattern::parse(token)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Patterns as a space-separated string.
pub fn patterns_to_string(patterns: &[ScopePattern]) -> String {
    patterns
        .iter()
        .map(ScopePattern::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The scope of resource servers: it lets a client introspect tokens issued to other
/// clients and API keys, and read the revocation feed. Without it, a client learns only about
/// its own tokens.
pub const INTROSPECT: &str = "introspect";

/// Scopes a client may hold for itself but never pass on to a person's grant.
pub const CLIENT_ONLY_SCOPES: [&str; 1] = [INTROSPECT];

/// Whether `scope` is one of [`CLIENT_ONLY_SCOPES`].
pub fn is_client_only(scope: &Scope) -> bool {
    CLIENT_ONLY_SCOPES.contains(&scope.as_str())
}

/// Whether a client with these allowed scopes may introspect any token ([`INTROSPECT`]).
pub fn may_introspect_any(allowed: &[ScopePattern]) -> bool {
    allowed.iter().any(|p| p.as_str() == INTROSPECT)
}

/// Whether some pattern of `allowed` matches `scope`.
pub fn allowed_by(allowed: &[ScopePattern], scope: &Scope) -> bool {
    allowed.iter().any(|p| p.matches(scope))
}

/// Whether `held` grants the permission `needed` (e.g. `manage_api_clients`) either plainly or
/// qualified with `qualifier` (`manage_api_clients:{project}`). Broader scopes such as
/// `manage_project` never imply it (commercetools semantics).
pub fn grants_permission(held: &ScopeSet, needed: &str, qualifier: &str) -> bool {
    held.iter().any(|s| {
        let v = s.as_str();
        v == needed
            || v.strip_prefix(needed)
                .and_then(|r| r.strip_prefix(':'))
                .is_some_and(|q| q == qualifier)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> ScopePattern {
        ScopePattern::parse(s).unwrap()
    }
    fn s(s: &str) -> Scope {
        Scope::parse(s).unwrap()
    }

    #[test]
    fn wildcard_matches_exactly_one_segment() {
        let pat = p("market:id:*");
        assert!(pat.matches(&s("market:id:xYZkjABcde")));
        assert!(!pat.matches(&s("market:id:a:b")));
        assert!(!pat.matches(&s("market:id")));
        assert!(!pat.matches(&s("market:all")));
        assert!(!pat.matches(&s("market:identity")));
    }

    #[test]
    fn plain_pattern_matches_only_itself() {
        assert!(p("products:read").matches(&s("products:read")));
        assert!(!p("products:read").matches(&s("products:read:x")));
        assert!(!p("products").matches(&s("products:read")));
    }

    #[test]
    fn only_the_introspect_scope_itself_allows_introspection() {
        assert!(may_introspect_any(
            &parse_patterns("a:read introspect").unwrap()
        ));
        assert!(!may_introspect_any(
            &parse_patterns("a:read introspect:x").unwrap()
        ));
        assert!(!may_introspect_any(
            &parse_patterns("introspection").unwrap()
        ));
        assert!(is_client_only(&s("introspect")));
        assert!(!is_client_only(&s("openid")));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(ScopePattern::parse("*"), Err(ScopeError::Wildcard));
        assert_eq!(ScopePattern::parse("a:*:b"), Err(ScopeError::Wildcard));
        assert_eq!(ScopePattern::parse("a:b*"), Err(ScopeError::Wildcard));
        assert_eq!(Scope::parse("a:*"), Err(ScopeError::Wildcard));
        assert_eq!(Scope::parse("a::b"), Err(ScopeError::EmptySegment));
        assert_eq!(Scope::parse("a\"b"), Err(ScopeError::BadCharacter));
        assert_eq!(Scope::parse("é"), Err(ScopeError::BadCharacter));
        assert_eq!(Scope::parse(""), Err(ScopeError::Empty));
    }

    #[test]
    fn scope_set_dedupes_and_keeps_order() {
        let set = ScopeSet::parse(" b a  b ").unwrap();
        assert_eq!(set.to_string(), "b a");
    }

    #[test]
    fn too_many_scopes_refused() {
        let many = (0..=MAX_SCOPES)
            .map(|i| format!("s{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(ScopeSet::parse(&many), Err(ScopeError::TooMany));
    }

    #[test]
    fn permission_check_is_exact() {
        let held = ScopeSet::parse("manage_project view_api_clients:acme").unwrap();
        assert!(!grants_permission(&held, "manage_api_clients", "acme"));
        assert!(grants_permission(&held, "view_api_clients", "acme"));
        assert!(!grants_permission(&held, "view_api_clients", "other"));
    }

    #[test]
    fn administrative_scopes_are_named_or_manage() {
        for a in [
            "manage_api_keys",
            "introspect",
            "introspect:acme",
            "manage_orders:x",
            "view_api_clients",
        ] {
            assert!(is_administrative(&s(a)), "{a}");
        }
        for n in ["products:read", "openid", "managed", "view_products"] {
            assert!(!is_administrative(&s(n)), "{n}");
        }
        let set = ScopeSet::parse("openid manage_api_keys products:read introspect").unwrap();
        assert_eq!(
            set.without_administrative().to_string(),
            "openid products:read"
        );
        assert!(set.has_administrative());
        assert!(!set.without_administrative().has_administrative());
    }

    proptest! {
        #[test]
        fn parser_never_panics(input in ".{0,400}") {
            let _ = ScopeSet::parse(&input);
            let _ = parse_patterns(&input);
        }

        #[test]
        fn parsed_scopes_round_trip(input in "[a-z_]{1,8}(:[A-Za-z0-9]{1,8}){0,3}( [a-z_]{1,8}(:[A-Za-z0-9]{1,8}){0,3}){0,5}") {
            let set = ScopeSet::parse(&input).unwrap();
            let again = ScopeSet::parse(&set.to_string()).unwrap();
            prop_assert_eq!(set, again);
        }

        #[test]
        fn wildcard_matches_iff_one_more_segment(prefix in "[a-z]{1,6}(:[a-z]{1,6}){0,2}", tail in "[A-Za-z0-9]{1,8}(:[a-z]{1,4}){0,2}") {
            let pat = ScopePattern::parse(&format!("{prefix}:*")).unwrap();
            let scope = Scope::parse(&format!("{prefix}:{tail}")).unwrap();
            prop_assert_eq!(pat.matches(&scope), !tail.contains(':'));
        }

        #[test]
        fn plain_pattern_matches_iff_equal(a in "[a-z]{1,4}(:[a-z]{1,3}){0,2}", b in "[a-z]{1,4}(:[a-z]{1,3}){0,2}") {
            prop_assert_eq!(ScopePattern::parse(&a).unwrap().matches(&Scope::parse(&b).unwrap()), a == b);
        }
    }
}
