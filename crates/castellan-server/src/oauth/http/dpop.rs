//! DPoP over HTTP: the `DPoP` header of a token or PAR request ([`presented`]), and DPoP where
//! an access token is used (RFC 9449 §7): at forward-auth and at Castellan's own
//! APIs (management, people's APIs, userinfo), the rule `castellan-guard` applies, shared
//! ([`castellan_guard::dpop::check_binding`]): a token bound to a key (`cnf.jkt`) passes only as
//! `Authorization: DPoP` with one proof of that key for the original method and URL, whose
//! `ath` is the token's hash; presented as `Bearer` it is refused (401 `invalid_token`,
//! `WWW-Authenticate: DPoP`); an unbound token presented as `DPoP` is refused too. An accepted
//! proof's `jti` is then recorded through the server's replay check (Redis or storage, shared
//! by every replica), for the proof's whole `iat` window.

use crate::error::OAuthFailure;
use crate::platform::state::AppState;
use castellan_crypto::VerifiedProof;
use castellan_guard::dpop::{check_binding, ProofWindow, Scheme};
use castellan_guard::{DpopProblem, Failure};
use http::{HeaderMap, Method};

/// A token as the caller presented it, and what its proof must match.
pub struct Presentation<'a> {
    /// The access token.
    pub token: &'a str,
    /// `Bearer` or `DPoP`.
    pub scheme: Scheme,
    /// The key the token is bound to, if any.
    pub jkt: Option<&'a str>,
    /// The request's method.
    pub method: &'a Method,
    /// The request's URL as the caller sent it (`None`: unknown; a proof is then refused).
    pub url: Option<&'a str>,
}

/// The proof's header (`DPoP`).
pub const PROOF_HEADER: &str = "dpop";

/// The request's DPoP proof, if it sent one: two `DPoP` headers, or one that is not visible
/// ASCII, are `invalid_dpop_proof`.
pub fn presented(headers: &HeaderMap) -> Result<Option<Box<str>>, OAuthFailure> {
    let mut values = headers.get_all(PROOF_HEADER).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(crate::oauth::dpop::invalid(
            "send one DPoP header, not several",
        ));
    }
    let proof = first
        .to_str()
        .map_err(|_| crate::oauth::dpop::invalid("the DPoP proof is not a well-formed JWT"))?;
    Ok(Some(proof.into()))
}

/// The scheme and token of a single `Authorization: Bearer|DPoP <token>` header value, the
/// token at most `max_len` bytes; `None` for anything else.
pub fn authorization(value: &str, max_len: usize) -> Option<(Scheme, &str)> {
    let (scheme, rest) = value.split_once(' ')?;
    let token = rest.trim();
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    (!token.is_empty() && token.len() <= max_len).then_some((scheme, token))
}

/// Whether the token may be used as presented, with the request's proof (`headers`): the
/// binding checked ([`verify`]), then the proof's `jti` recorded ([`record`]).
pub async fn check(
    state: &AppState,
    p: &Presentation<'_>,
    headers: &HeaderMap,
) -> Result<(), Failure> {
    match verify(state, p, headers)? {
        None => Ok(()),
        Some(proof) => record(state, &proof).await,
    }
}

/// The binding rule without waiting: `Ok(None)` for a bearer token used as such,
/// `Ok(Some(proof))` for an accepted proof whose `jti` must still be [`record`]ed.
pub fn verify(
    state: &AppState,
    p: &Presentation<'_>,
    headers: &HeaderMap,
) -> Result<Option<VerifiedProof>, Failure> {
    // A bearer token used as such: nothing to check.
    if p.scheme == Scheme::Bearer && p.jkt.is_none() {
        return Ok(None);
    }
    check_binding(
        p.token,
        p.scheme,
        p.jkt,
        headers,
        p.method,
        p.url,
        state.clock.now().timestamp(),
        window(state),
    )
}

/// Records an accepted proof's `jti` for its whole window, where every replica sees it: a
/// second use is refused; a replay check that cannot answer refuses (503).
pub async fn record(state: &AppState, proof: &VerifiedProof) -> Result<(), Failure> {
    let first = crate::oauth::dpop::first_use(state, proof, state.clock.now())
        .await
        .map_err(|_| Failure::ReplayCheckUnavailable)?;
    if first {
        Ok(())
    } else {
        Err(Failure::InvalidDpopProof(DpopProblem::Replayed))
    }
}

fn window(state: &AppState) -> ProofWindow {
    let c = &state.config.dpop;
    ProofWindow {
        max_age: i64::from(c.proof_max_age_seconds),
        max_skew: i64::from(c.proof_max_skew_seconds),
    }
}
