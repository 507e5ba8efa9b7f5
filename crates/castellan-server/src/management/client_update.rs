//! Update actions on a client (commercetools update actions, `POST /api-clients/{id}`): what
//! each action changes, applied in order to the stored client, all or none (the caller stores
//! the result only when every action applied). Changing how a client authenticates (its method,
//! its `private_key_jwt` keys) is refused for a client registered through RFC 7591, whose
//! registrant owns it (RFC 7592).

use crate::management::client_keys::{
    check_keys_fit_method, checked_jwks, checked_jwks_uri, JWKS_FIELD, JWKS_URI_FIELD,
};
use crate::management::clients::{client_auth_method, client_tenants, TenantEntry};
use castellan_core::client::{AuthMethod, Client, FieldError};
use castellan_core::Environment;
use serde::Deserialize;

/// Most actions in one update.
pub const MAX_ACTIONS: usize = 50;

/// The name of the method field, in errors.
const METHOD_FIELD: &str = "tokenEndpointAuthMethod";

/// An update of a client (commercetools update actions): the actions apply in order, all or
/// none.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdate {
    /// The actions, applied in order.
    pub actions: Vec<ClientUpdateAction>,
}

/// One update action.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "camelCase", deny_unknown_fields)]
pub enum ClientUpdateAction {
    /// Replaces the brands and venues the client may ask tenant tokens for (`[]`: none).
    SetTenants {
        /// The brands and venues the client may ask for.
        tenants: Vec<TenantEntry>,
    },
    /// Changes how a confidential client authenticates: `client_secret_basic`,
    /// `client_secret_post`, `client_secret_basic_or_post`, or `private_key_jwt` (the client
    /// must then have `jwks` or `jwksUri` at the end of the update, and its secret ends). A
    /// `private_key_jwt` client has no secret, so it cannot move to a secret method.
    #[serde(rename_all = "camelCase")]
    SetTokenEndpointAuthMethod {
        /// The new method.
        token_endpoint_auth_method: String,
    },
    /// Sets whether the client must push its authorization requests (PAR, RFC 9126 §6).
    #[serde(rename_all = "camelCase")]
    SetRequirePushedAuthorizationRequests {
        /// `true`: its authorization requests must go through `POST /oauth/par`.
        require_pushed_authorization_requests: bool,
    },
    /// Replaces a `private_key_jwt` client's keys with a JWK Set (key rotation); its `jwksUri`,
    /// if any, is dropped.
    SetJwks {
        /// The JWK Set (`{"keys": […]}`, public keys only).
        #[schema(value_type = Object)]
        jwks: serde_json::Value,
    },
    /// Replaces a `private_key_jwt` client's keys with the JWK Set at an https URL; its `jwks`,
    /// if any, is dropped.
    #[serde(rename_all = "camelCase")]
    SetJwksUri {
        /// The URL of its JWK Set.
        jwks_uri: String,
    },
    /// Replaces where the client may send a person after signing them out (RP-Initiated
    /// Logout 1.0; `[]`: nowhere, the sign-out page stays on this server).
    #[serde(rename_all = "camelCase")]
    SetPostLogoutRedirectUris {
        /// The URIs, matched exactly; same rules as redirect URIs.
        post_logout_redirect_uris: Vec<String>,
    },
    /// Sets where the client receives logout tokens (Back-Channel Logout 1.0; `null`: it
    /// receives none) and whether they must carry `sid`.
    #[serde(rename_all = "camelCase")]
    SetBackchannelLogout {
        /// An https URL under the outbound rules, or `null`.
        backchannel_logout_uri: Option<String>,
        /// Its logout tokens must carry `sid`.
        #[serde(default)]
        backchannel_logout_session_required: bool,
    },
    /// Sets whether ending a session the client got tokens in also revokes the refresh-token
    /// families issued in that session.
    #[serde(rename_all = "camelCase")]
    SetLogoutRevokesRefreshTokens {
        /// `true`: a sign-out ends the session's refresh tokens too.
        logout_revokes_refresh_tokens: bool,
    },
    /// Sets whether the client's access tokens must be bound to a DPoP key (RFC 9449 §5.2).
    #[serde(rename_all = "camelCase")]
    SetDpopBoundAccessTokens {
        /// `true`: a token request without a DPoP proof is refused.
        dpop_bound_access_tokens: bool,
    },
}

/// Applies `actions` in order to `client`; on an error `client` is half-changed and must not be
/// stored.
pub fn apply_actions(
    client: &mut Client,
    actions: Vec<ClientUpdateAction>,
    env: Environment,
) -> Result<(), FieldError> {
    let mut authentication_changed = false;
    for action in actions {
        match action {
            ClientUpdateAction::SetTenants { tenants } => client.tenants = client_tenants(tenants)?,
            ClientUpdateAction::SetRequirePushedAuthorizationRequests {
                require_pushed_authorization_requests,
            } => client
                .set_requires_pushed_authorization_requests(require_pushed_authorization_requests),
            ClientUpdateAction::SetDpopBoundAccessTokens {
                dpop_bound_access_tokens,
            } => client.set_requires_dpop(dpop_bound_access_tokens),
            ClientUpdateAction::SetBackchannelLogout {
                backchannel_logout_uri,
                backchannel_logout_session_required,
            } => {
                if let Some(u) = &backchannel_logout_uri {
                    castellan_core::client_keys::check_jwks_uri(u, env)
                        .map_err(|e| FieldError::new("backchannelLogoutUri", e.to_string()))?;
                }
                client.set_backchannel_logout(
                    backchannel_logout_uri,
                    backchannel_logout_session_required,
                );
            }
            ClientUpdateAction::SetLogoutRevokesRefreshTokens {
                logout_revokes_refresh_tokens,
            } => client.set_logout_revokes_refresh_tokens(logout_revokes_refresh_tokens),
            ClientUpdateAction::SetPostLogoutRedirectUris {
                post_logout_redirect_uris,
            } => {
                castellan_core::redirect::check_redirect_uris(&post_logout_redirect_uris, env)
                    .map_err(|m| FieldError::new("postLogoutRedirectUris", m))?;
                client.set_post_logout_redirect_uris(post_logout_redirect_uris);
            }
            ClientUpdateAction::SetTokenEndpointAuthMethod {
                token_endpoint_auth_method,
            } => {
                not_registered(client, METHOD_FIELD, REGISTRANT_METHOD)?;
                set_auth_method(client, &token_endpoint_auth_method)?;
                authentication_changed = true;
            }
            ClientUpdateAction::SetJwks { jwks } => {
                not_registered(client, JWKS_FIELD, REGISTRANT_KEYS)?;
                client.set_jwks(checked_jwks(jwks)?);
                authentication_changed = true;
            }
            ClientUpdateAction::SetJwksUri { jwks_uri } => {
                not_registered(client, JWKS_URI_FIELD, REGISTRANT_KEYS)?;
                client.set_jwks_uri(checked_jwks_uri(&jwks_uri, env)?);
                authentication_changed = true;
            }
        }
    }
    if authentication_changed {
        check_keys_fit_method(client, METHOD_FIELD)?;
    }
    Ok(())
}

/// Refuses to change how a registered client authenticates: `why` says whose it is.
fn not_registered(client: &Client, field: &'static str, why: &str) -> Result<(), FieldError> {
    if client.registration.is_some() {
        return Err(FieldError::new(field, why));
    }
    Ok(())
}

const REGISTRANT_METHOD: &str = "a registered client's method is its registrant's (RFC 7592)";
const REGISTRANT_KEYS: &str = "a registered client's keys are its registrant's (RFC 7592)";

/// Changes the method; moving to `private_key_jwt` ends the secret (such a client has none),
/// and a client without a secret cannot move to a secret method.
fn set_auth_method(client: &mut Client, named: &str) -> Result<(), FieldError> {
    let method = client_auth_method(client.kind, Some(named))?;
    match (client.auth_method, method) {
        (AuthMethod::PrivateKeyJwt, AuthMethod::PrivateKeyJwt) => {}
        (_, AuthMethod::PrivateKeyJwt) => {
            client.secret_hash = None;
            client.previous_secret = None;
        }
        (AuthMethod::PrivateKeyJwt, _) => {
            if client.secret_hash.is_none() {
                return Err(FieldError::new(
                    METHOD_FIELD,
                    "a private_key_jwt client has no secret to send: create a new client to use a secret",
                ));
            }
            client.clear_keys();
        }
        _ => {}
    }
    client.auth_method = method;
    Ok(())
}
