//! The registration access token (RFC 7592 §3): the bearer credential of the client
//! configuration endpoint. Only its SHA-256 is stored; a presented token is compared in
//! constant time. Every failure is the same `invalid_token`, so the answer does not reveal
//! whether the client exists or was created through the management API.

use crate::error::OAuthFailure;
use crate::oauth::registration::party::PresentedBearer;
use crate::platform::state::AppState;
use castellan_core::client::{Client, SecretHash};
use castellan_core::ids::is_plausible_client_id;
use castellan_core::OAuthError;
use castellan_crypto::verify_secret;

const REFUSED: &str =
    "the registration access token is missing or not valid for this client registration";

fn refused() -> OAuthFailure {
    OAuthError::invalid_token(REFUSED).into()
}

/// The registered client `client_id`, when the request carries its registration access token.
pub async fn authorize_registration(
    state: &AppState,
    client_id: &str,
    presented: PresentedBearer<'_>,
) -> Result<Client, OAuthFailure> {
    let token = presented.map_err(|_| refused())?.ok_or_else(refused)?;
    let client = if is_plausible_client_id(client_id) {
        state.store.get_client(client_id).await?
    } else {
        None
    };
    let hash = client
        .as_ref()
        .and_then(|c| c.registration.as_ref())
        .map(|r| r.access_token_hash.clone());
    // Compare even when there is nothing to compare with, so timing says nothing either.
    let valid = verify_secret(token, hash.as_ref().unwrap_or(&SecretHash([0; 32])));
    match client {
        Some(c) if valid && hash.is_some() => Ok(c),
        _ => Err(refused()),
    }
}
