//! Protected-resource metadata (RFC 9728) for every resource Castellan knows: the gateway's
//! (`gateway.resource`) and each of `token.resources`. A resource `https://host/path` has its
//! document at `/.well-known/oauth-protected-resource/path` on this server (RFC 9728 §3.1: the
//! well-known segment between the host and the path, a final `/` dropped); a resource without a
//! path shares the root document, which is the gateway's. When two resources have the same
//! path, the first (the gateway's, then `token.resources` in order) has it.

use crate::platform::config::Config;
use serde_json::{json, Value};

/// The root of the protected-resource metadata documents, and the path of a resource's
/// document (RFC 9728 §3.1): the guard's, so forward-auth and the guard name the same one.
pub use castellan_guard::resource::{metadata_path, WELL_KNOWN};

/// The address of `resource`'s metadata document, for `WWW-Authenticate: … resource_metadata`.
pub fn metadata_url(config: &Config, resource: &str) -> String {
    config.endpoint(&metadata_path(resource))
}

/// The resources with a metadata document: the gateway's first, then `token.resources`.
fn resources(config: &Config) -> impl Iterator<Item = &str> {
    std::iter::once(config.gateway_resource())
        .chain(config.token.resources.iter().map(String::as_str))
}

/// The resource whose metadata document is at `path` (below [`WELL_KNOWN`], with its leading
/// `/`; empty for the root document).
pub fn resource_at<'a>(config: &'a Config, path: &str) -> Option<&'a str> {
    let wanted = format!("{WELL_KNOWN}{}", path.trim_end_matches('/'));
    resources(config).find(|r| metadata_path(r) == wanted)
}

/// The metadata document of `resource` (RFC 9728 §2): the resource, this server as its
/// authorization server, the scopes (`gateway.scopes_supported`, else the scope catalogue)
/// the bearer methods, and the DPoP proof algorithms forward-auth accepts.
pub fn document(config: &Config, resource: &str) -> Value {
    let g = &config.gateway;
    let scopes: Vec<&str> = if g.scopes_supported.is_empty() {
        config.scopes.iter().map(|s| s.name.as_str()).collect()
    } else {
        g.scopes_supported.iter().map(String::as_str).collect()
    };
    json!({
        "resource": resource,
        "authorization_servers": [config.issuer],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": castellan_crypto::dpop::SUPPORTED_ALGS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_the_first_resource_with_it() {
        let mut c = Config::default();
        c.gateway.resource = "https://gw.example/orders".into();
        c.token.resources = vec![
            "https://a.example/mcp".into(),
            "https://b.example/orders".into(),
        ];
        assert_eq!(resource_at(&c, "/mcp"), Some("https://a.example/mcp"));
        assert_eq!(
            resource_at(&c, "/orders"),
            Some("https://gw.example/orders")
        );
        assert_eq!(
            resource_at(&c, "/orders/"),
            Some("https://gw.example/orders")
        );
        assert_eq!(resource_at(&c, "/nothing"), None);
    }
}
