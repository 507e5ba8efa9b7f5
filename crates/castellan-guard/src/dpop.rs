//! DPoP at the guard (RFC 9449 §7): a token bound to a key (`cnf.jkt`) is accepted only as
//! `Authorization: DPoP <token>` with one `DPoP` proof made with that key for this request's
//! method and URL, carrying `ath` = the token's hash, not used before. The proof itself is
//! checked by `castellan_crypto::dpop::verify_proof` (pure); [`check_binding`] is the rule
//! both the guard and forward-auth apply (pure, given the request's URL); the guard adds its
//! view of the request's URL and its replay check.
//!
//! The URL a proof's `htu` is compared with is `dpop.public_base_url` + the request's path, or,
//! without it, `dpop.scheme` + `://` + the `Host` header + the path. Proof `jti`s are
//! remembered for the proof's whole `iat` window (max age + skew), keyed by SHA-256 of the
//! key's thumbprint and the `jti`: in Redis when `[rate_limit]` counts there (every guard on it
//! sees a replay; Redis unreachable: 503), else in this process (a replay to another replica
//! within the window is not seen by this one).

use crate::config::DpopConfig;
use crate::failure::{DpopProblem, Failure};
use castellan_crypto::dpop::{verify_proof, ProofCheck};
use castellan_crypto::{DpopError, VerifiedProof};
use castellan_limit::RedisLimiter;
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
    window_ms: u64,
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
            window_ms: window.saturating_mul(1_000),
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
                is_authority(host).then(|| format!("{}://{host}{path}", self.scheme))
            }
        }
    }

    /// Whether a token bound to `jkt` (or to no key) may be used as presented (`scheme`), with
    /// the request's proof: the accepted proof, whose `jti` [`DpopCheck::first_use`] must
    /// then record.
    #[expect(
        clippy::too_many_arguments,
        reason = "the request's parts a proof is checked against"
    )]
    pub fn verify(
        &self,
        token: &str,
        scheme: Scheme,
        jkt: Option<&str>,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<Option<VerifiedProof>, Failure> {
        let window = ProofWindow {
            max_age: self.max_age,
            max_skew: self.max_skew,
        };
        let url = self.request_url(path, headers);
        check_binding(
            token,
            scheme,
            jkt,
            headers,
            method,
            url.as_deref(),
            now,
            window,
        )
    }

    /// Records an accepted proof's `jti` for its window: in Redis (`SET NX PX`, shared by every
    /// guard on it) when the rate limits are counted there, else in this process. A second
    /// use is [`DpopProblem::Replayed`]; a Redis that cannot answer refuses (503), whatever
    /// `redis_failure` says: a replay check never passes unasked.
    pub async fn first_use(
        &self,
        proof: &VerifiedProof,
        redis: Option<&RedisLimiter>,
    ) -> Result<(), Failure> {
        let key = replay_key(proof);
        let first = match redis {
            Some(r) => r
                .first_use(&key, self.window_ms)
                .await
                .map_err(|_| Failure::ReplayCheckUnavailable)?,
            None => self.seen.entry(key).or_insert(()).is_fresh(),
        };
        if first {
            Ok(())
        } else {
            Err(Failure::InvalidDpopProof(DpopProblem::Replayed))
        }
    }
}

/// The accepted age of a proof's `iat`, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct ProofWindow {
    /// How old `iat` may be.
    pub max_age: i64,
    /// How far in the future `iat` may be.
    pub max_skew: i64,
}

/// The rule of a token presented at a gateway, for the guard and forward-auth alike (RFC 9449
/// §7.1): a token bound to `jkt` only as `DPoP` with the request's one valid proof of that key
/// (for `method` and `url`, with the token's `ath`), an unbound token only as `Bearer`. Pure:
/// `Ok(None)` for a bearer token used as such; `Ok(Some(proof))` for an accepted proof, whose
/// `jti` the caller must then check has not been used ([`replay_key`]). `url` is the
/// request's URL as the caller sent it (`None`: unknown, and any proof is refused).
#[expect(
    clippy::too_many_arguments,
    reason = "the request's parts a proof is checked against"
)]
pub fn check_binding(
    token: &str,
    scheme: Scheme,
    jkt: Option<&str>,
    headers: &HeaderMap,
    method: &Method,
    url: Option<&str>,
    now: i64,
    window: ProofWindow,
) -> Result<Option<VerifiedProof>, Failure> {
    let jkt = match (scheme, jkt) {
        (Scheme::Bearer, None) => return Ok(None),
        (Scheme::Bearer, Some(_)) => return Err(Failure::DpopBoundAsBearer),
        (Scheme::Dpop, None) => return Err(Failure::NotDpopBound),
        (Scheme::Dpop, Some(jkt)) => jkt,
    };
    let bad = Failure::InvalidDpopProof;
    let proof = proof_header(headers)?;
    let uri = url.ok_or(bad(DpopProblem::Proof(DpopError::Uri)))?;
    let verified = verify_proof(
        proof,
        &ProofCheck {
            method: method.as_str(),
            uri,
            now,
            max_age: window.max_age,
            max_skew: window.max_skew,
            access_token: Some(token),
        },
    )
    .map_err(|e| bad(DpopProblem::Proof(e)))?;
    if verified.jkt != jkt {
        return Err(bad(DpopProblem::KeyMismatch));
    }
    Ok(Some(verified))
}

/// Whether `host` (a `Host` or `X-Forwarded-Host` value) is a bare authority a request URL can
/// be built from: a name or address and an optional port, made only of letters, digits, `.`,
/// `-`, `:` and the brackets of an IPv6 literal. Anything that could add a path, a query, a
/// fragment or user info (`/`, `?`, `#`, `@`, spaces) is refused, so a caller cannot make the
/// URL a proof is compared with name another path than the request's.
pub fn is_authority(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The one-time key of an accepted proof: SHA-256 of a namespace, its key's thumbprint and
/// its `jti`.
pub fn replay_key(proof: &VerifiedProof) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"dpop\0");
    h.update(proof.jkt.as_bytes());
    h.update(b"\0");
    h.update(proof.jti.as_bytes());
    h.finalize().into()
}

/// The request's one `DPoP` header.
pub fn proof_header(headers: &HeaderMap) -> Result<&str, Failure> {
    let mut values = headers.get_all(DPOP_HEADER).iter();
    let first = values
        .next()
        .ok_or(Failure::InvalidDpopProof(DpopProblem::Missing))?;
    if values.next().is_some() {
        return Err(Failure::InvalidDpopProof(DpopProblem::Repeated));
    }
    first
        .to_str()
        .map_err(|_| Failure::InvalidDpopProof(DpopProblem::Proof(DpopError::Malformed)))
}
