//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document): a `client_id`
//! that is an `https` URL with a path names a JSON document of the client's metadata, fetched
//! by the server. These rules are pure: which `client_id`s are such URLs, and what a fetched
//! document must hold. Its metadata is read with the dynamic registration rules
//! ([`crate::registration::parse_metadata`]) plus the document's own: `client_id` equal to the
//! URL exactly, `redirect_uris` required, only `none` or `private_key_jwt` (no secret can be
//! issued to a document), no `client_secret*` member, only the `authorization_code` and
//! `refresh_token` grants.

use crate::client::{AuthMethod, GrantType};
use crate::environment::Environment;
use crate::registration::{parse_metadata, ClientMetadata, MetadataRules};
use serde_json::Value;
use url::Url;

/// The longest `client_id` URL accepted.
pub const MAX_URL_LEN: usize = 255;

/// The URL a `client_id` names when it is a metadata document's: `https` (in `local` also
/// `http` to a loopback literal, as the fetcher accepts), a path other than `/`, no query,
/// fragment, user information or dot segments; `None` for any other `client_id`.
pub fn document_url(client_id: &str, env: Environment) -> Option<Url> {
    if client_id.len() > MAX_URL_LEN
        || !(client_id.starts_with("https://") || client_id.starts_with("http://"))
    {
        return None;
    }
    let url = Url::parse(client_id).ok()?;
    let plain = url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() != "/"
        && !url.path().is_empty()
        // The draft: no single- or double-dot path segments; and the id must be the URL as
        // written (Url::parse removes dot segments, so a difference shows them).
        && url.as_str() == client_id;
    (plain && crate::outbound::check_url(&url, env).is_ok()).then_some(url)
}

/// Why a fetched document was refused (shown on the error page: no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentRefusal {
    /// Not a JSON object.
    #[error("the client's metadata document is not a JSON object")]
    NotObject,
    /// `client_id` missing or not exactly the document's URL.
    #[error("the client's metadata document has a client_id other than its own URL")]
    ClientIdMismatch,
    /// `client_secret` or another `client_secret*` member.
    #[error("the client's metadata document must not hold a client secret")]
    Secret,
    /// An authentication method other than `none` and `private_key_jwt`.
    #[error("the client's metadata document may use token_endpoint_auth_method none or private_key_jwt only")]
    AuthMethod,
    /// A grant other than `authorization_code` and `refresh_token`.
    #[error("the client's metadata document may use the authorization_code and refresh_token grants only")]
    Grant,
    /// No `redirect_uris`.
    #[error("the client's metadata document must list its redirect_uris")]
    NoRedirectUris,
    /// Any other metadata rule (the description says which).
    #[error("the client's metadata document is not valid: {0}")]
    Metadata(String),
}

/// Checks a fetched document for the client whose id is `url`.
pub fn check_document(
    doc: &Value,
    url: &Url,
    rules: &MetadataRules<'_>,
) -> Result<ClientMetadata, DocumentRefusal> {
    let obj = doc.as_object().ok_or(DocumentRefusal::NotObject)?;
    if obj.get("client_id").and_then(Value::as_str) != Some(url.as_str()) {
        return Err(DocumentRefusal::ClientIdMismatch);
    }
    if obj.keys().any(|k| k.starts_with("client_secret")) {
        return Err(DocumentRefusal::Secret);
    }
    let grants = obj.get("grant_types").and_then(Value::as_array);
    if grants.is_some_and(|list| {
        list.iter()
            .any(|g| !matches!(g.as_str(), Some("authorization_code" | "refresh_token")))
    }) {
        return Err(DocumentRefusal::Grant);
    }
    if obj
        .get("redirect_uris")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(DocumentRefusal::NoRedirectUris);
    }
    // RFC 7591's default method is client_secret_basic, which a document cannot use: an
    // absent method means none.
    let mut doc = doc.clone();
    if let Some(o) = doc.as_object_mut() {
        o.entry("token_endpoint_auth_method")
            .or_insert_with(|| Value::String("none".into()));
        o.remove("client_id");
    }
    let meta = parse_metadata(&doc, rules)
        .map_err(|e| DocumentRefusal::Metadata(e.description().to_owned()))?;
    if !matches!(
        meta.auth_method,
        AuthMethod::None | AuthMethod::PrivateKeyJwt
    ) {
        return Err(DocumentRefusal::AuthMethod);
    }
    if meta
        .grant_types
        .iter()
        .any(|g| !matches!(g, GrantType::AuthorizationCode | GrantType::RefreshToken))
    {
        return Err(DocumentRefusal::Grant);
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::parse_patterns;
    use serde_json::json;

    const URL: &str = "https://app.example.com/oauth/client.json";

    fn check(doc: Value) -> Result<ClientMetadata, DocumentRefusal> {
        let open = parse_patterns("openid profile").unwrap();
        let rules = MetadataRules {
            environment: Environment::Testing,
            open_scopes: &open,
            admin_scope_names: &["introspect"],
        };
        check_document(&doc, &Url::parse(URL).unwrap(), &rules)
    }

    fn good() -> Value {
        json!({"client_id": URL, "client_name": "App", "redirect_uris": ["https://app.example.com/cb"]})
    }

    #[test]
    fn which_client_ids_are_documents() {
        use Environment::*;
        assert!(document_url(URL, Production).is_some());
        for not in [
            "abc123",
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/c?x=1",
            "https://app.example.com/c#f",
            "https://u:p@app.example.com/c",
            "https://app.example.com/a/../c",
            "http://app.example.com/c",
            "https://10.0.0.1/c",
        ] {
            assert!(document_url(not, Testing).is_none(), "{not}");
        }
        assert!(document_url("http://127.0.0.1:8080/c.json", Local).is_some());
        assert!(document_url("http://127.0.0.1:8080/c.json", Testing).is_none());
        assert!(document_url(&format!("https://a.example/{}", "x".repeat(300)), Testing).is_none());
    }

    #[test]
    fn a_good_document_is_a_public_client() {
        let m = check(good()).unwrap();
        assert_eq!(m.auth_method, AuthMethod::None);
        assert_eq!(m.grant_types, vec![GrantType::AuthorizationCode]);
    }

    #[test]
    fn each_rule_is_enforced() {
        use DocumentRefusal::*;
        let with = |k: &str, v: Value| {
            let mut d = good();
            d[k] = v;
            d
        };
        assert_eq!(check(json!([1])).unwrap_err(), NotObject);
        assert_eq!(
            check(with("client_id", json!("https://other.example/c"))).unwrap_err(),
            ClientIdMismatch
        );
        assert_eq!(
            check(with("client_id", json!(format!("{URL}/")))).unwrap_err(),
            ClientIdMismatch
        );
        assert_eq!(
            check(with("client_secret", json!("s"))).unwrap_err(),
            Secret
        );
        assert_eq!(
            check(with("client_secret_expires_at", json!(0))).unwrap_err(),
            Secret
        );
        assert_eq!(
            check(with(
                "token_endpoint_auth_method",
                json!("client_secret_post")
            ))
            .unwrap_err(),
            AuthMethod
        );
        assert_eq!(
            check(with(
                "token_endpoint_auth_method",
                json!("client_secret_basic")
            ))
            .unwrap_err(),
            AuthMethod
        );
        assert_eq!(
            check(with("grant_types", json!(["client_credentials"]))).unwrap_err(),
            Grant
        );
        assert_eq!(
            check(with("redirect_uris", json!([]))).unwrap_err(),
            NoRedirectUris
        );
        assert!(matches!(
            check(with("redirect_uris", json!(["javascript:x"]))),
            Err(Metadata(_))
        ));
        assert!(matches!(
            check(with("client_name", json!("x".repeat(1000)))),
            Err(Metadata(_))
        ));
        assert!(matches!(
            check(with("token_endpoint_auth_method", json!("private_key_jwt"))),
            Err(Metadata(_))
        ));
        assert!(check(with(
            "grant_types",
            json!(["authorization_code", "refresh_token"])
        ))
        .is_ok());
    }
}
