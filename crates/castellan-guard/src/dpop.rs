//! DPoP at the guard (RFC 9449 §7): a token bound to a key (`cnf.jkt`) is accepted only as
//! `Authorization: DPoP <token>` with one `DPoP` proof made with that key for this request's
//! method and URL, carrying `ath` = the token's hash, not used before. The proof itself is
//! checked by `castellan_crypto::dpop::verify_proof` (pure); this module adds the request's
//! view (its external URL) and the replay check.
//!
//! The URL a proof's `htu` is compared with is `dpop.public_base_url` + the request's path, or,
//! without it, `dpop.scheme` + `://` + the `Host` header + the path. Proof `jti`s are
//! remembered in this process for the proof's whole `iat` window (max age + skew), keyed by
//! SHA-256 of the key's thumbprint and the `jti`: a replay to this guard is refused; one to
//! another replica within the window is not seen by this one (it is still bound to the same
//! method, URL and token, and dies with its window).

use crate::config::DpopConfig;
use crate::failure::{DpopProblem, Failure};
use castellan_crypto::dpop::{verify_proof, ProofCheck};
use http::{header, HeaderMap, Method};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The name of the proof header.
pub const DPOP_HEADER: &str = "dpop";

/// How a token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (or a tenant `x-token`).
    Bearer,
    /// `Authorization: DPoP`.
    Dpop,
}

pub(crate) struct DpopCheck {
    base: Option<String>,
    scheme: String,
    max_age: i64,
    max_skew: i64,
    seen: moka::sync::Cache<[u8; 32], ()>,
}

impl DpopCheck {
    pub fn new(c: &DpopConfig) -> Self {
        let window = u64::from(c.proof_max_age_seconds) + u64::from(c.proof_max_skew_seconds);
        DpopCheck {
            base: c
                .public_base_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            scheme: c.scheme.clone(),
            max_age: i64::from(c.proof_max_age_seconds),
            max_skew: i64::from(c.proof_max_skew_seconds),
            seen: moka::sync::Cache::builder()
                .max_capacity(c.replay_capacity)
                .time_to_live(Duration::from_secs(window))
                .build(),
        }
    }

    /// The URL the caller sent the request to, as a proof's `htu` names it.
    fn request_url(&self, path: &str, headers: &HeaderMap) -> Option<String> {
        match &self.base {
            Some(base) => Some(format!("{base}{path}")),
            None => {
                let host = headers.get(header::HOST)?.to_str().ok()?;
                Some(format!("{}://{host}{path}", self.scheme))
            }
        }
    }

    /// Whether a token bound to `jkt` (or to no key) may be used as presented (`scheme`), with
    /// the request's proof.
    #[expect(
        clippy::too_many_arguments,
        reason = "the request's parts a proof is checked against"
    )]
    pub fn check(
        &self,
        token: &str,
        scheme: Scheme,
        jkt: Option<&str>,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<(), Failure> {
        let jkt = match (scheme, jkt) {
            (Scheme::Bearer, None) => return Ok(()),
            (Scheme::Bearer, Some(_)) => return Err(Failure::DpopBoundAsBearer),
            (Scheme::Dpop, None) => return Err(Failure::NotDpopBound),
            (Scheme::Dpop, Some(jkt)) => jkt,
        };
        let bad = |p| Failure::InvalidDpopProof(p);
        let proof = proof_header(headers)?;
        let uri = self
            .request_url(path, headers)
            .ok_or(bad(DpopProblem::Proof(castellan_crypto::DpopError::Uri)))?;
        let verified = verify_proof(
            proof,
            &ProofCheck {
                method: method.as_str(),
                uri: &uri,
                now,
                max_age: self.max_age,
                max_skew: self.max_skew,
                access_token: Some(token),
            },
        )
        .map_err(|e| bad(DpopProblem::Proof(e)))?;
        if verified.jkt != jkt {
            return Err(bad(DpopProblem::KeyMismatch));
        }
        // Remembered only once everything else passed: a refused proof costs no entry.
        let mut h = Sha256::new();
        h.update(b"dpop\0");
        h.update(verified.jkt.as_bytes());
        h.update(b"\0");
        h.update(verified.jti.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        if !self.seen.entry(key).or_insert(()).is_fresh() {
            return Err(bad(DpopProblem::Replayed));
        }
        Ok(())
    }
}

/// The request's one `DPoP` header.
fn proof_header(headers: &HeaderMap) -> Result<&str, Failure> {
    let mut values = headers.get_all(DPOP_HEADER).iter();
    let first = values
        .next()
        .ok_or(Failure::InvalidDpopProof(DpopProblem::Missing))?;
    if values.next().is_some() {
        return Err(Failure::InvalidDpopProof(DpopProblem::Repeated));
    }
    first.to_str().map_err(|_| {
        Failure::InvalidDpopProof(DpopProblem::Proof(castellan_crypto::DpopError::Malformed))
    })
}
