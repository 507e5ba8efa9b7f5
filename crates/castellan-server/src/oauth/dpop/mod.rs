//! DPoP at Castellan's own endpoints (RFC 9449): the proof a client sends with a token or
//! pushed authorization request, checked once and answered as the key's thumbprint (`jkt`)
//! the tokens are then bound to.
//!
//! A proof is verified by `castellan_crypto::dpop::verify_proof` (pure: `typ`, `alg`, a public
//! `jwk`, the signature, `htm`, `htu`, `iat` within `[dpop]`'s window); here come the checks
//! that need state: the server's nonce when `dpop.use_nonce` is on ([`nonce`], §8), then the
//! proof's `jti` never seen before, across every replica (the replay check of
//! [`crate::platform::replay`], for the whole `iat` window). A request carrying two `DPoP`
//! headers is refused; every refusal is `invalid_dpop_proof` (400), or `use_dpop_nonce` with a
//! fresh `DPoP-Nonce`.

pub mod nonce;

use crate::error::OAuthFailure;
use crate::platform::replay::{OneTimeId, Replay, ReplayUnavailable};
use crate::platform::state::AppState;
use castellan_core::{OAuthError, OAuthErrorCode};
use castellan_crypto::dpop::{verify_proof, ProofCheck};
use castellan_crypto::VerifiedProof;
use chrono::{DateTime, Duration, Utc};

pub(crate) fn invalid(description: impl Into<std::borrow::Cow<'static, str>>) -> OAuthFailure {
    OAuthError::new(OAuthErrorCode::InvalidDpopProof, description).into()
}

/// Checks the `proof` of a token request: [`check`] for the token endpoint.
pub async fn check_token_request(
    state: &AppState,
    proof: &str,
    now: DateTime<Utc>,
) -> Result<String, OAuthFailure> {
    check(state, proof, &state.config.endpoint("/oauth/token"), now).await
}

/// Checks `proof` for a `POST` to `url` (one of Castellan's endpoints) at `now`, and records
/// its `jti`: the thumbprint of the key it proves.
pub async fn check(
    state: &AppState,
    proof: &str,
    url: &str,
    now: DateTime<Utc>,
) -> Result<String, OAuthFailure> {
    let c = &state.config.dpop;
    let verified = verify_proof(
        proof,
        &ProofCheck {
            method: "POST",
            uri: url,
            now: now.timestamp(),
            max_age: i64::from(c.proof_max_age_seconds),
            max_skew: i64::from(c.proof_max_skew_seconds),
            access_token: None,
        },
    )
    .map_err(|e| invalid(e.to_string()))?;
    if c.use_nonce {
        let fresh = nonce::is_current(state, verified.nonce.as_deref(), now);
        if !fresh {
            let description = if verified.nonce.is_some() {
                "the DPoP nonce is not current; use the one in DPoP-Nonce"
            } else {
                "this server requires a DPoP nonce; use the one in DPoP-Nonce"
            };
            return Err(OAuthFailure::from(OAuthError::new(
                OAuthErrorCode::UseDpopNonce,
                description,
            ))
            .with_dpop_nonce(nonce::current(state, now)));
        }
    }
    if !first_use(state, &verified, now)
        .await
        .map_err(OAuthError::from)?
    {
        return Err(invalid("the DPoP proof was used before"));
    }
    Ok(verified.jkt)
}

/// Records an accepted proof's `jti` for as long as the proof could be accepted (its `iat`
/// window), where every replica sees it: `true` the first time. Shared by Castellan's own
/// endpoints and by the places tokens are used (`oauth::http::dpop`).
pub async fn first_use(
    state: &AppState,
    proof: &VerifiedProof,
    now: DateTime<Utc>,
) -> Result<bool, ReplayUnavailable> {
    let c = &state.config.dpop;
    let window = i64::from(c.proof_max_age_seconds) + i64::from(c.proof_max_skew_seconds);
    let until = DateTime::from_timestamp(proof.iat, 0).unwrap_or(now) + Duration::seconds(window);
    Box::pin(Replay::of(state).first_use(&OneTimeId::dpop(&proof.jkt, &proof.jti), until.max(now)))
        .await
}

/// Whether a client that must use DPoP (`dpop_bound_access_tokens`) sent a proof.
pub fn required(
    client: &castellan_core::client::Client,
    jkt: Option<&str>,
) -> Result<(), OAuthFailure> {
    if client.requires_dpop() && jkt.is_none() {
        return Err(invalid(
            "this client's tokens must be DPoP-bound: send a DPoP proof",
        ));
    }
    Ok(())
}

/// Whether `value` looks like a JWK SHA-256 thumbprint: 43 base64url characters (the
/// `dpop_jkt` of an authorization request, RFC 9449 §10).
pub fn is_thumbprint(value: &str) -> bool {
    // A SHA-256 in base64url has the shape of a generated secret.
    castellan_crypto::is_generated_secret(value)
}
