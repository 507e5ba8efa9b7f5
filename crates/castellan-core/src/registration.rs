//! Client metadata of dynamic registration (RFC 7591 §2, RFC 7592 §2.2), parsed and checked:
//! the registration and redirect-URI rules applied to a JSON document, with the error codes of
//! RFC 7591 §3.2.2 (`invalid_redirect_uri`, `invalid_client_metadata`).
//!
//! Unknown fields are ignored (RFC 7591 §2); only the known ones are kept, each bounded, so the
//! stored metadata cannot grow without limit. Null and empty values count as absent.

use crate::client::{AuthMethod, ClientKind, GrantType};
use crate::client_keys::{check_jwks_shape, check_jwks_uri, JWKS, JWKS_URI};
use crate::environment::Environment;
use crate::error::OAuthError;
use crate::redirect::check_redirect_uris;
use crate::scope::{allowed_by, parse_patterns, ScopePattern};
use crate::secret::Secret;
use serde_json::{Map, Value};

/// Longest `client_name`.
pub const MAX_CLIENT_NAME_LEN: usize = 256;
/// Longest short text field (`software_id`, `software_version`, one contact).
pub const MAX_TEXT_LEN: usize = 255;
/// Longest URL field (`client_uri`, `logo_uri`, `tos_uri`, `policy_uri`, `jwks_uri`).
pub const MAX_URL_LEN: usize = 2000;
/// Most `contacts`.
pub const MAX_CONTACTS: usize = 10;
/// Most entries of `grant_types` / `response_types` read.
pub const MAX_LIST: usize = 20;
pub use crate::client_keys::MAX_JWKS_BYTES;

/// Grant types a registered client may hold.
pub const REGISTRABLE_GRANTS: [GrantType; 3] = [
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::ClientCredentials,
];

/// Plain-URL metadata kept as they were sent.
const URL_FIELDS: [&str; 4] = ["client_uri", "logo_uri", "tos_uri", "policy_uri"];

/// What the rules depend on: the environment, the scopes open to self-registered clients and
/// the names of administrative scopes (never open).
pub struct MetadataRules<'a> {
    /// The deployment's environment (redirect-URI rules).
    pub environment: Environment,
    /// The scopes self-registered clients may ask for.
    pub open_scopes: &'a [ScopePattern],
    /// The names of administrative scopes, never open to them.
    pub admin_scope_names: &'a [&'a str],
}

/// Checked client metadata.
#[derive(Debug, Clone)]
pub struct ClientMetadata {
    /// The redirect URIs to register.
    pub redirect_uris: Vec<String>,
    /// How the client will authenticate.
    pub auth_method: AuthMethod,
    /// The grant types asked for.
    pub grant_types: Vec<GrantType>,
    /// The response types asked for (only `code`).
    pub response_types: Vec<String>,
    /// The client's display name.
    pub client_name: Option<String>,
    /// The requested scope patterns; `None` when the request named none.
    pub scope: Option<Vec<ScopePattern>>,
    /// The registrant's `software_id`, matched on a repeated registration.
    pub software_id: Option<String>,
    /// Present in an RFC 7592 update request.
    pub client_id: Option<String>,
    /// Present (optionally) in an RFC 7592 update request.
    pub client_secret: Option<Secret>,
    /// The other known metadata to store (`client_uri`, `contacts`, `jwks` …).
    pub extra: Map<String, Value>,
}

impl ClientMetadata {
    /// Public when it authenticates with `none`, confidential otherwise.
    pub fn kind(&self) -> ClientKind {
        match self.auth_method {
            AuthMethod::None => ClientKind::Public,
            AuthMethod::ClientSecretBasic
            | AuthMethod::ClientSecretPost
            | AuthMethod::ClientSecretBasicOrPost
            | AuthMethod::PrivateKeyJwt => ClientKind::Confidential,
        }
    }

    /// Whether the client authenticates with a secret Castellan issues (not `none`, not
    /// `private_key_jwt`).
    pub fn issues_secret(&self) -> bool {
        self.kind() == ClientKind::Confidential && self.auth_method != AuthMethod::PrivateKeyJwt
    }
}

fn bad(msg: impl Into<String>) -> OAuthError {
    OAuthError::invalid_client_metadata(msg.into())
}

fn short(s: &str) -> String {
    crate::query::truncate(s)
}

/// A field's value, `None` when absent or null.
fn field<'a>(doc: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    doc.get(key).filter(|v| !v.is_null())
}

fn text(doc: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, OAuthError> {
    match field(doc, key) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > max || s.chars().any(char::is_control) {
                Err(bad(format!(
                    "{key} must be at most {max} characters without control characters"
                )))
            } else {
                Ok(Some(s.to_owned()))
            }
        }
        Some(_) => Err(bad(format!("{key} must be a string"))),
    }
}

fn text_list(
    doc: &Map<String, Value>,
    key: &str,
    max_items: usize,
    max_len: usize,
) -> Result<Option<Vec<String>>, OAuthError> {
    let Some(v) = field(doc, key) else {
        return Ok(None);
    };
    let Value::Array(items) = v else {
        return Err(bad(format!("{key} must be an array of strings")));
    };
    if items.len() > max_items {
        return Err(bad(format!("{key} may hold at most {max_items} values")));
    }
    items
        .iter()
        .map(|i| match i {
            Value::String(s) if s.chars().count() <= max_len => Ok(s.clone()),
            Value::String(_) => Err(bad(format!(
                "a value of {key} is longer than {max_len} characters"
            ))),
            _ => Err(bad(format!("{key} must be an array of strings"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn check_url(key: &str, s: &str, env: Environment, https_only: bool) -> Result<(), OAuthError> {
    let url = url::Url::parse(s).map_err(|_| bad(format!("{key} must be an absolute URL")))?;
    let ok = match url.scheme() {
        "https" => true,
        "http" => !https_only && env != Environment::Production,
        _ => false,
    };
    if !ok || url.host().is_none() || url.fragment().is_some() {
        return Err(bad(format!(
            "{key} must be an {} URL with a host and no fragment",
            if https_only || env == Environment::Production {
                "https"
            } else {
                "http(s)"
            }
        )));
    }
    Ok(())
}

fn parse_auth_method(doc: &Map<String, Value>) -> Result<AuthMethod, OAuthError> {
    const ALLOWED: &str = "client_secret_basic, client_secret_post, private_key_jwt or none";
    match text(doc, "token_endpoint_auth_method", 64)? {
        // RFC 7591 §2: "If unspecified or omitted, the default is client_secret_basic".
        None => Ok(AuthMethod::ClientSecretBasic),
        Some(m) => match AuthMethod::parse(&m) {
            Some(
                a @ (AuthMethod::ClientSecretBasic
                | AuthMethod::ClientSecretPost
                | AuthMethod::PrivateKeyJwt
                | AuthMethod::None),
            ) => Ok(a),
            // Castellan's either-way method is for clients an operator creates, not an RFC 7591
            // value a registrant may ask for.
            Some(AuthMethod::ClientSecretBasicOrPost) | None => Err(bad(format!(
                "token_endpoint_auth_method `{}` is not supported; use {ALLOWED}",
                short(&m)
            ))),
        },
    }
}

fn parse_grants(doc: &Map<String, Value>) -> Result<Vec<GrantType>, OAuthError> {
    let Some(list) = text_list(doc, "grant_types", MAX_LIST, 128)? else {
        return Ok(vec![GrantType::AuthorizationCode]);
    };
    if list.is_empty() {
        return Err(bad("grant_types must not be empty"));
    }
    let mut out = Vec::new();
    for g in &list {
        let grant = match GrantType::parse(g) {
            Some(grant) if REGISTRABLE_GRANTS.contains(&grant) => grant,
            Some(_) => {
                return Err(bad(format!(
                    "grant type `{}` is not open to registered clients; use authorization_code, refresh_token or client_credentials",
                    short(g)
                )))
            }
            None => return Err(bad(format!("unknown grant type `{}`", short(g)))),
        };
        if !out.contains(&grant) {
            out.push(grant);
        }
    }
    Ok(out)
}

fn parse_response_types(
    doc: &Map<String, Value>,
    grants: &[GrantType],
) -> Result<Vec<String>, OAuthError> {
    match text_list(doc, "response_types", MAX_LIST, 64)? {
        None if grants.contains(&GrantType::AuthorizationCode) => Ok(vec!["code".to_owned()]),
        None => Ok(Vec::new()),
        Some(list) => {
            if let Some(other) = list.iter().find(|r| r.as_str() != "code") {
                return Err(bad(format!(
                    "response type `{}` is not supported; only code",
                    short(other)
                )));
            }
            Ok(if list.is_empty() {
                Vec::new()
            } else {
                vec!["code".to_owned()]
            })
        }
    }
}

/// Whether a scope name is administrative (`manage_*` or one of `admin_names`).
fn is_admin(pattern: &ScopePattern, admin_names: &[&str]) -> bool {
    let name = pattern.as_str().split(':').next().unwrap_or_default();
    admin_names.contains(&name) || name.starts_with("manage_")
}

/// Checks requested scope patterns: none administrative, each within the open patterns (a
/// wildcard pattern must be open as such).
pub fn check_scope(
    requested: &[ScopePattern],
    open: &[ScopePattern],
    admin_names: &[&str],
) -> Result<(), OAuthError> {
    for p in requested {
        if is_admin(p, admin_names) {
            return Err(bad(format!(
                "the scope `{p}` is administrative and cannot be registered"
            )));
        }
        let allowed = match p.as_scope() {
            Some(s) => allowed_by(open, &s),
            None => open.contains(p),
        };
        if !allowed {
            return Err(bad(format!(
                "the scope `{p}` is not open to self-registered clients"
            )));
        }
    }
    Ok(())
}

/// Whether two lists of patterns hold the same patterns (order ignored).
pub fn same_scope(a: &[ScopePattern], b: &[ScopePattern]) -> bool {
    a.iter().all(|p| b.contains(p)) && b.iter().all(|p| a.contains(p))
}

/// Parses and checks a registration (or update) request body.
pub fn parse_metadata(
    doc: &Value,
    rules: &MetadataRules<'_>,
) -> Result<ClientMetadata, OAuthError> {
    let Value::Object(doc) = doc else {
        return Err(bad(
            "the request body must be a JSON object of client metadata",
        ));
    };
    let env = rules.environment;
    let auth_method = parse_auth_method(doc)?;
    let grant_types = parse_grants(doc)?;
    let response_types = parse_response_types(doc, &grant_types)?;
    let redirect_uris = text_list(
        doc,
        "redirect_uris",
        usize::MAX,
        crate::redirect::MAX_REDIRECT_URI_LEN + 1,
    )
    .map_err(|e| OAuthError::invalid_redirect_uri(e.description().to_owned()))?
    .unwrap_or_default();
    check_redirect_uris(&redirect_uris, env).map_err(OAuthError::invalid_redirect_uri)?;
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(OAuthError::invalid_redirect_uri(
            "the authorization_code grant needs at least one redirect URI",
        ));
    }
    if auth_method == AuthMethod::None && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(bad(
            "client_credentials is only for confidential clients; use client_secret_basic or client_secret_post",
        ));
    }
    let scope = match text(doc, "scope", usize::MAX)? {
        None => None,
        Some(s) => {
            let patterns =
                parse_patterns(&s).map_err(|e| bad(format!("scope is malformed: {e}")))?;
            check_scope(&patterns, rules.open_scopes, rules.admin_scope_names)?;
            (!patterns.is_empty()).then_some(patterns)
        }
    };
    let mut extra = Map::new();
    if let Some(uris) = text_list(
        doc,
        crate::client::POST_LOGOUT_REDIRECT_URIS,
        usize::MAX,
        crate::redirect::MAX_REDIRECT_URI_LEN + 1,
    )? {
        check_redirect_uris(&uris, env).map_err(|e| {
            OAuthError::invalid_client_metadata(format!(
                "{}: {e}",
                crate::client::POST_LOGOUT_REDIRECT_URIS
            ))
        })?;
        if !uris.is_empty() {
            extra.insert(
                crate::client::POST_LOGOUT_REDIRECT_URIS.to_owned(),
                Value::from(uris),
            );
        }
    }
    for key in URL_FIELDS {
        if let Some(u) = text(doc, key, MAX_URL_LEN)? {
            check_url(key, &u, env, false)?;
            extra.insert(key.to_owned(), Value::String(u));
        }
    }
    if let Some(u) = text(doc, crate::client::BACKCHANNEL_LOGOUT_URI, MAX_URL_LEN)? {
        check_jwks_uri(&u, env)
            .map_err(|e| bad(format!("{} {e}", crate::client::BACKCHANNEL_LOGOUT_URI)))?;
        extra.insert(
            crate::client::BACKCHANNEL_LOGOUT_URI.into(),
            Value::String(u),
        );
    }
    let jwks_uri = text(doc, JWKS_URI, MAX_URL_LEN)?;
    let jwks = field(doc, JWKS);
    if jwks_uri.is_some() && jwks.is_some() {
        return Err(bad(
            "jwks_uri and jwks must not both be present (RFC 7591 §2)",
        ));
    }
    if let Some(u) = jwks_uri {
        check_jwks_uri(&u, env).map_err(|e| bad(format!("{JWKS_URI} {e}")))?;
        extra.insert(JWKS_URI.into(), Value::String(u));
    }
    if let Some(j) = jwks {
        check_jwks_shape(j).map_err(|e| bad(format!("{JWKS} {e}")))?;
        extra.insert(JWKS.into(), j.clone());
    }
    if auth_method == AuthMethod::PrivateKeyJwt
        && !extra.contains_key(JWKS)
        && !extra.contains_key(JWKS_URI)
    {
        return Err(bad(
            "private_key_jwt needs the client's public keys: jwks or jwks_uri",
        ));
    }
    if let Some(contacts) = text_list(doc, "contacts", MAX_CONTACTS, MAX_TEXT_LEN)? {
        if contacts.iter().any(|c| c.chars().any(char::is_control)) {
            return Err(bad("contacts must not hold control characters"));
        }
        extra.insert("contacts".into(), contacts.into());
    }
    if let Some(v) = text(doc, "software_version", MAX_TEXT_LEN)? {
        extra.insert("software_version".into(), Value::String(v));
    }
    // RFC 9126 §6, RFC 9449 §5.2, Back-Channel Logout 1.0 and Castellan's own: booleans, kept
    // only when true (absent means false).
    for name in [
        crate::client::REQUIRE_PAR,
        crate::client::DPOP_BOUND,
        crate::client::BACKCHANNEL_LOGOUT_SESSION_REQUIRED,
        crate::client::LOGOUT_REVOKES_REFRESH_TOKENS,
    ] {
        match doc.get(name) {
            None | Some(Value::Null | Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                extra.insert(name.into(), Value::Bool(true));
            }
            Some(_) => return Err(bad(format!("{name} must be true or false"))),
        }
    }
    extra.insert("response_types".into(), response_types.clone().into());
    Ok(ClientMetadata {
        redirect_uris,
        auth_method,
        grant_types,
        response_types,
        client_name: text(doc, "client_name", MAX_CLIENT_NAME_LEN)?,
        scope,
        software_id: text(doc, "software_id", MAX_TEXT_LEN)?,
        client_id: text(doc, "client_id", MAX_TEXT_LEN)?,
        client_secret: text(doc, "client_secret", 1024)?.map(Secret::new),
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OAuthErrorCode;
    use serde_json::json;

    fn rules(open: &[ScopePattern]) -> MetadataRules<'_> {
        MetadataRules {
            environment: Environment::Testing,
            open_scopes: open,
            admin_scope_names: &["register_clients", "introspect", "view_api_clients"],
        }
    }

    fn open() -> Vec<ScopePattern> {
        parse_patterns("openid profile products:read market:id:*").unwrap()
    }

    fn code(doc: Value) -> OAuthErrorCode {
        parse_metadata(&doc, &rules(&open())).unwrap_err().code
    }

    #[test]
    fn defaults_are_rfc_7591() {
        let m = parse_metadata(
            &json!({"redirect_uris": ["https://a.example/cb"]}),
            &rules(&open()),
        )
        .unwrap();
        assert_eq!(m.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(m.grant_types, vec![GrantType::AuthorizationCode]);
        assert_eq!(m.response_types, vec!["code"]);
        assert!(m.scope.is_none());
        assert_eq!(m.kind(), ClientKind::Confidential);
    }

    #[test]
    fn flags_are_kept_only_when_true_and_must_be_booleans() {
        let m = parse_metadata(
            &json!({
                "redirect_uris": ["https://a.example/cb"],
                "logout_revokes_refresh_tokens": true,
                "backchannel_logout_session_required": false,
            }),
            &rules(&open()),
        )
        .unwrap();
        assert_eq!(
            m.extra.get(crate::client::LOGOUT_REVOKES_REFRESH_TOKENS),
            Some(&json!(true))
        );
        assert!(!m
            .extra
            .contains_key(crate::client::BACKCHANNEL_LOGOUT_SESSION_REQUIRED));
        assert_eq!(
            code(json!({
                "redirect_uris": ["https://a.example/cb"],
                "logout_revokes_refresh_tokens": "yes",
            })),
            OAuthErrorCode::InvalidClientMetadata
        );
    }

    #[test]
    fn grant_and_auth_rules() {
        assert_eq!(code(json!({})), OAuthErrorCode::InvalidRedirectUri);
        let ok = parse_metadata(
            &json!({"grant_types": ["client_credentials"], "unknown": {"x": 1}}),
            &rules(&open()),
        )
        .unwrap();
        assert!(ok.response_types.is_empty());
        assert!(!ok.extra.contains_key("unknown"));
        assert_eq!(
            code(
                json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"})
            ),
            OAuthErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(json!({"grant_types": ["implicit"]})),
            OAuthErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(json!({"grant_types": ["password"]})),
            OAuthErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(json!({"grant_types": [1, 2]})),
            OAuthErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(
                json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"})
            ),
            OAuthErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(json!({"redirect_uris": "https://a.example/cb"})),
            OAuthErrorCode::InvalidRedirectUri
        );
        assert_eq!(code(json!([1])), OAuthErrorCode::InvalidClientMetadata);
    }

    #[test]
    fn scope_rules() {
        let o = open();
        let admin = ["register_clients"];
        let p = |s: &str| parse_patterns(s).unwrap();
        assert!(check_scope(
            &p("openid products:read market:id:abc market:id:*"),
            &o,
            &admin
        )
        .is_ok());
        let e = check_scope(&p("register_clients"), &o, &admin).unwrap_err();
        assert!(e.description().contains("register_clients"));
        assert!(check_scope(&p("manage_orders"), &o, &admin).is_err());
        let e = check_scope(&p("products:write"), &o, &admin).unwrap_err();
        assert!(e.description().contains("products:write"));
        assert!(check_scope(&p("market:*"), &o, &admin).is_err());
        assert!(same_scope(&p("a b"), &p("b a")));
        assert!(!same_scope(&p("a b"), &p("a")));
    }
}
