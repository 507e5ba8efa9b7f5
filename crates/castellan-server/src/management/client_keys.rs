//! A managed client's `private_key_jwt` keys (RFC 7523 §2.2; RFC 7591 §2 `jwks`, `jwks_uri`):
//! what a caller sends in a draft or an update action, checked exactly as dynamic registration
//! checks it (one JWK Set check, [`crate::oauth::client_keys::check_jwks`]; one URL check,
//! [`castellan_core::client_keys::check_jwks_uri`]), and the rule that a `private_key_jwt`
//! client holds one of the two and any other client neither.

use castellan_core::client::{AuthMethod, Client, FieldError};
use castellan_core::client_keys::check_jwks_uri;
use castellan_core::Environment;
use serde_json::Value;

/// The API name of a client's JWK Set.
pub const JWKS_FIELD: &str = "jwks";
/// The API name of the URL of a client's JWK Set.
pub const JWKS_URI_FIELD: &str = "jwksUri";

/// A JWK Set a caller sent, checked: public keys Castellan accepts, nothing private.
pub fn checked_jwks(jwks: Value) -> Result<Value, FieldError> {
    crate::oauth::client_keys::check_jwks(&jwks)
        .map_err(|e| FieldError::new(JWKS_FIELD, e.to_string()))?;
    Ok(jwks)
}

/// A `jwksUri` a caller sent, trimmed and checked: Castellan fetches it, so the fetcher's
/// rules apply (https and a public host; a loopback literal in `local` only).
pub fn checked_jwks_uri(uri: &str, env: Environment) -> Result<String, FieldError> {
    let uri = uri.trim();
    check_jwks_uri(uri, env).map_err(|e| FieldError::new(JWKS_URI_FIELD, e.to_string()))?;
    Ok(uri.to_owned())
}

/// Gives a new client the keys of its draft (at most one of `jwks` and `jwksUri`) and checks
/// that they fit its method.
pub fn set_draft_keys(
    client: &mut Client,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    env: Environment,
) -> Result<(), FieldError> {
    match (jwks, jwks_uri) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                JWKS_URI_FIELD,
                "must not be given with jwks: a client has one or the other (RFC 7591 §2)",
            ))
        }
        (Some(j), None) => client.set_jwks(checked_jwks(j)?),
        (None, Some(u)) => client.set_jwks_uri(checked_jwks_uri(&u, env)?),
        (None, None) => {}
    }
    check_keys_fit_method(client, JWKS_FIELD)
}

/// Checks that a client's keys fit its method: a `private_key_jwt` client has `jwks` or
/// `jwksUri` (else the error names `missing_field`), any other client neither (the keys would
/// never be read).
pub fn check_keys_fit_method(
    client: &Client,
    missing_field: &'static str,
) -> Result<(), FieldError> {
    let pkjwt = client.auth_method == AuthMethod::PrivateKeyJwt;
    match (pkjwt, client.jwks().is_some(), client.jwks_uri().is_some()) {
        (true, false, false) => Err(FieldError::new(
            missing_field,
            "private_key_jwt needs the client's public keys: jwks or jwksUri",
        )),
        (false, true, _) => Err(FieldError::new(
            JWKS_FIELD,
            "applies to clients whose tokenEndpointAuthMethod is private_key_jwt only",
        )),
        (false, false, true) => Err(FieldError::new(
            JWKS_URI_FIELD,
            "applies to clients whose tokenEndpointAuthMethod is private_key_jwt only",
        )),
        _ => Ok(()),
    }
}
