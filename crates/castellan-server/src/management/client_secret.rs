//! Client secret rotation (SPEC 3.2): a confidential client gets a new secret, shown once,
//! and its current one stays accepted for an overlap (`clients.secret_overlap_seconds`, or the
//! rotation's own, 0 ending it at once) so that its deployments can move over. Rotating again
//! within an overlap ends the older secret at once: only the last two are ever accepted. A
//! client without a secret (public, `private_key_jwt`) has nothing to rotate; a dynamically
//! registered client's secret is its registrant's (RFC 7592: it re-registers). Two rotations at
//! once cannot both win: storage replaces the secret only if it is still the one read.

use crate::platform::config::MAX_SECRET_OVERLAP_SECONDS;
use crate::platform::state::AppState;
use castellan_core::client::{Client, PreviousSecret};
use castellan_core::Secret;
use castellan_crypto::{generate_secret, hash_secret};
use castellan_store::StoreError;
use chrono::{DateTime, Duration, Utc};

/// A rotated client: as stored now, and its new secret (shown once).
pub struct Rotated {
    /// The client with its new secret and the previous one's end.
    pub client: Client,
    /// The new secret.
    pub secret: Secret,
}

/// Why a secret could not be rotated.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// No such client.
    #[error("no such client")]
    NotFound,
    /// The client has no secret (public or `private_key_jwt`).
    #[error("this client has no secret to rotate (a public or private_key_jwt client)")]
    NoSecret,
    /// The client was registered dynamically (RFC 7591).
    #[error(
        "a dynamically registered client's secret is its registrant's: it registers again \
         (RFC 7591/7592) to get a new one"
    )]
    Registered,
    /// The overlap asked for is out of bounds.
    #[error("overlapSeconds must be from 0 to {MAX_SECRET_OVERLAP_SECONDS} (30 days)")]
    Overlap,
    /// Another change of the secret won the race.
    #[error("the client's secret changed while rotating it: read it again and retry")]
    Raced,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Rotates the secret of client `id` at `now`, the current one accepted for `overlap` seconds
/// more (`None`: `clients.secret_overlap_seconds`).
pub async fn rotate_client_secret(
    state: &AppState,
    id: &str,
    overlap: Option<u32>,
    now: DateTime<Utc>,
) -> Result<Rotated, RotateError> {
    let overlap = overlap.unwrap_or(state.config.clients.secret_overlap_seconds);
    if overlap > MAX_SECRET_OVERLAP_SECONDS {
        return Err(RotateError::Overlap);
    }
    let mut client = state
        .store
        .get_client(id)
        .await?
        .ok_or(RotateError::NotFound)?;
    if client.registration.is_some() {
        return Err(RotateError::Registered);
    }
    let current = client.secret_hash.clone().ok_or(RotateError::NoSecret)?;
    let secret = generate_secret();
    let new = hash_secret(secret.expose());
    let previous = (overlap > 0).then(|| PreviousSecret {
        hash: current.clone(),
        expires_at: now + Duration::seconds(i64::from(overlap)),
    });
    if !state
        .store
        .rotate_client_secret(id, &current, &new, previous.as_ref())
        .await?
    {
        return Err(RotateError::Raced);
    }
    // This replica stops taking a secret that ended at once; others within the cache's bound.
    state.clients.invalidate(id);
    client.secret_hash = Some(new);
    client.previous_secret = previous;
    Ok(Rotated { client, secret })
}
