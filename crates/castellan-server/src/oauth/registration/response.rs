//! The client information response (RFC 7591 §3.2.1, RFC 7592 §3): the registered metadata,
//! the client's identifiers and, only when just issued, its secret and registration access
//! token.

use crate::platform::config::Config;
use castellan_core::client::{Client, ClientKind};
use castellan_core::scope::patterns_to_string;
use castellan_core::Secret;
use serde_json::{Map, Value};

/// The client configuration endpoint of a client (RFC 7592 §1). Registered clients get
/// alphanumeric ids, so the id needs no escaping.
pub fn registration_client_uri(config: &Config, client_id: &str) -> String {
    config.endpoint(&format!("/oauth/register/{client_id}"))
}

/// The JSON body describing `client`; `secret` and `access_token` are included when given.
pub fn client_information(
    config: &Config,
    client: &Client,
    secret: Option<&Secret>,
    access_token: Option<&Secret>,
) -> Map<String, Value> {
    let mut body = client.metadata.clone();
    let mut put = |k: &str, v: Value| {
        body.insert(k.to_owned(), v);
    };
    put("client_id", client.id.clone().into());
    if let Some(s) = secret {
        put("client_secret", s.expose().into());
    }
    put("client_id_issued_at", client.created_at.timestamp().into());
    if client.kind == ClientKind::Confidential {
        // The secret never expires (RFC 7591 §3.2.1); it is rotated by re-registering.
        put("client_secret_expires_at", 0.into());
    }
    if let Some(t) = access_token {
        put("registration_access_token", t.expose().into());
    }
    put(
        "registration_client_uri",
        registration_client_uri(config, &client.id).into(),
    );
    put("client_name", client.name.clone().into());
    put("redirect_uris", client.redirect_uris.clone().into());
    put(
        "grant_types",
        client
            .grant_types
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .into(),
    );
    put(
        "token_endpoint_auth_method",
        client.auth_method.as_str().into(),
    );
    put("scope", patterns_to_string(&client.scope).into());
    if let Some(sw) = client
        .registration
        .as_ref()
        .and_then(|r| r.software_id.as_ref())
    {
        put("software_id", sw.clone().into());
    }
    body
}
