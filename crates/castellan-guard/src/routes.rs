//! The route table: method + path pattern → [`Policy`], first match wins. Pattern segments are
//! literals, `{name}` (one segment, captured for organization checks) or `*` (one segment; as
//! the last segment, one or more).

use crate::config::{ConfigError, RouteConfig, RouteRules};
use crate::path::RequestPath;
use crate::policy::Policy;
use http::Method;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Any,
}

#[derive(Debug, Clone)]
struct Route {
    method: Option<Method>,
    segments: Vec<Segment>,
    policy: Policy,
}

/// Compiled routes and the policy of everything else.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
    fallback: Policy,
}

/// A matched route: its policy and the values of its `{param}`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'t> {
    /// The policy of the matched route.
    pub policy: &'t Policy,
    /// The values captured by its `{param}` segments, by name.
    pub params: Vec<(String, String)>,
}

fn compile_pattern(path: &str) -> Result<Vec<Segment>, String> {
    if !path.starts_with('/') {
        return Err("a path pattern starts with '/'".into());
    }
    path.split('/')
        .skip(1)
        .map(|s| {
            if s == "*" {
                Ok(Segment::Any)
            } else if let Some(name) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                if name.is_empty() || name.contains(['{', '}']) {
                    Err(format!("bad parameter segment {s:?}"))
                } else {
                    Ok(Segment::Param(name.to_owned()))
                }
            } else if s.contains(['{', '}', '*']) {
                Err(format!("segment {s:?} mixes a literal with {{}} or *"))
            } else {
                Ok(Segment::Literal(s.to_owned()))
            }
        })
        .collect()
}

impl RouteTable {
    /// Compiles `routes` in order; `fallback` is the policy of requests no route matches.
    pub fn new(routes: &[RouteConfig], fallback: Option<&RouteRules>) -> Result<Self, ConfigError> {
        let compiled = routes
            .iter()
            .map(|r| {
                let err = |e: String| ConfigError(format!("route {} {}: {e}", r.method, r.path));
                let method = if r.method == "*" {
                    None
                } else {
                    Some(
                        Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
                            .map_err(|_| err("unknown method".into()))?,
                    )
                };
                Ok(Route {
                    method,
                    segments: compile_pattern(&r.path).map_err(err)?,
                    policy: Policy::compile(&r.rules()).map_err(err)?,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let fallback = match fallback {
            Some(rules) => {
                Policy::compile(rules).map_err(|e| ConfigError(format!("default_policy: {e}")))?
            }
            None => Policy::authenticated(),
        };
        Ok(RouteTable {
            routes: compiled,
            fallback,
        })
    }

    /// The policy for a request (the fallback when no route matches).
    pub fn find(&self, method: &Method, path: &RequestPath<'_>) -> Matched<'_> {
        self.find_route(method, path).unwrap_or(Matched {
            policy: &self.fallback,
            params: Vec::new(),
        })
    }

    /// The first route matching the request, if any (forward-auth denies the rest).
    /// Only a checked [`RequestPath`] is matched: a raw path could mean another route to the
    /// API behind the proxy.
    pub fn find_route(&self, method: &Method, path: &RequestPath<'_>) -> Option<Matched<'_>> {
        self.routes.iter().find_map(|r| {
            if r.method.as_ref().is_some_and(|m| m != method) {
                return None;
            }
            match_path(&r.segments, path.as_str()).map(|params| Matched {
                policy: &r.policy,
                params,
            })
        })
    }
}

fn match_path(pattern: &[Segment], path: &str) -> Option<Vec<(String, String)>> {
    let rest = path.strip_prefix('/')?;
    let mut parts: Vec<&str> = rest.split('/').collect();
    // Most servers serve `/a/b/` as `/a/b`: a trailing slash must not slip past the route of
    // `/a/b` to a more lenient one (unless the pattern itself ends in `/`).
    let pattern_wants_slash = matches!(pattern.last(), Some(Segment::Literal(l)) if l.is_empty());
    if parts.len() > 1 && parts.last() == Some(&"") && !pattern_wants_slash {
        parts.pop();
    }
    let mut params = Vec::new();
    for (i, seg) in pattern.iter().enumerate() {
        let last = i + 1 == pattern.len();
        match seg {
            Segment::Any if last => {
                return (parts.len() > i && parts[i..].iter().any(|p| !p.is_empty()))
                    .then_some(params);
            }
            Segment::Any => {
                if parts.get(i).is_none_or(|p| p.is_empty()) {
                    return None;
                }
            }
            Segment::Param(name) => {
                let v = parts.get(i).filter(|p| !p.is_empty())?;
                params.push((name.clone(), (*v).to_owned()));
            }
            Segment::Literal(l) => {
                if parts.get(i) != Some(&l.as_str()) {
                    return None;
                }
            }
        }
    }
    (parts.len() == pattern.len()).then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let r = |m: &str, p: &str, scope: &str| {
            RouteConfig::new(
                m,
                p,
                RouteRules {
                    scope: Some(scope.into()),
                    ..RouteRules::default()
                },
            )
        };
        RouteTable::new(
            &[
                RouteConfig::new(
                    "GET",
                    "/catalog/search",
                    RouteRules {
                        public: true,
                        ..RouteRules::default()
                    },
                ),
                r("GET", "/products", "products:read"),
                r("POST", "/products", "products:write"),
                r("*", "/orgs/{org}/members", "account:read"),
                r("GET", "/files/*", "files:read"),
                r("GET", "/a/*/c", "a:read"),
            ],
            None,
        )
        .unwrap()
    }

    fn find<'t>(t: &'t RouteTable, m: &Method, p: &str) -> Matched<'t> {
        t.find(m, &RequestPath::parse(p).unwrap())
    }

    #[test]
    fn routes_match_by_method_and_pattern() {
        let t = table();
        assert!(find(&t, &Method::GET, "/catalog/search").policy.public);
        let get = find(&t, &Method::GET, "/products");
        assert_eq!(get.policy.scope.as_deref(), Some("products:read"));
        let post = find(&t, &Method::POST, "/products");
        assert_eq!(post.policy.scope.as_deref(), Some("products:write"));
        for p in ["/orgs/o-1/members", "/orgs/o-1/members/"] {
            let m = find(&t, &Method::DELETE, p);
            assert_eq!(m.policy.scope.as_deref(), Some("account:read"), "{p}");
            assert_eq!(m.params, vec![("org".to_owned(), "o-1".to_owned())]);
        }
        // A trailing slash is the route without it, as the server behind will read it.
        assert_eq!(
            find(&t, &Method::GET, "/products/").policy.scope.as_deref(),
            Some("products:read")
        );
        assert!(find(&t, &Method::GET, "/catalog/search/").policy.public);
        assert_eq!(
            find(&t, &Method::GET, "/files/a/b/c")
                .policy
                .scope
                .as_deref(),
            Some("files:read")
        );
        assert_eq!(
            find(&t, &Method::GET, "/a/b/c").policy.scope.as_deref(),
            Some("a:read")
        );
    }

    #[test]
    fn unmatched_requests_get_the_fallback() {
        let t = table();
        for (m, p) in [
            (Method::PUT, "/products"),
            (Method::GET, "/products/1"),
            (Method::GET, "/files"),
            (Method::GET, "/files/"),
            (Method::GET, "/"),
            (Method::GET, "/a/b/c/d"),
        ] {
            assert_eq!(find(&t, &m, p).policy, &Policy::authenticated(), "{m} {p}");
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in ["products", "/a{b}", "/{}", "/x*"] {
            let r = RouteConfig::new("GET", p, RouteRules::default());
            assert!(RouteTable::new(&[r], None).is_err(), "{p}");
        }
    }
}
