//! Rate limits as HTTP: a refusal's answer ([`RateLimited`]: 429 with `Retry-After` and the
//! library's JSON body naming the policy, or 503 `temporarily_unavailable` when Redis could
//! not be asked under `redis_failure = "closed"`, never a 500), the `RateLimit-*` /
//! `X-RateLimit-*` headers of a decision on any other answer ([`render`]), and the kept
//! headers of answers that differ only in those counts ([`KeptHeaders`]). The first two are
//! `castellan_guard::limits`', so forward-auth and the guard answer alike.

use crate::platform::limits::RateLimited;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use castellan_limit::{Decision, HeaderStyle};
use std::sync::OnceLock;

impl IntoResponse for RateLimited {
    /// `castellan-guard`'s answer, so forward-auth and the guard refuse alike.
    fn into_response(self) -> Response {
        castellan_guard::limits::refusal_response(self.decision(), self.style())
    }
}

/// Writes the rate-limit headers of `decision` on `res`, replacing any already there.
pub fn render(res: &mut Response, decision: &Decision, style: HeaderStyle) {
    castellan_guard::limits::render(res.headers_mut(), decision, style);
}

/// The headers of an answer whose values change from answer to answer only in the rate-limit
/// counts (an API key's forward-auth 200, any token answer), kept from the first such answer:
/// later answers copy the map (shared values, no name hashed again) and re-render only the
/// counts ([`castellan_limit::refresh_headers`]).
#[derive(Default)]
pub struct KeptHeaders(OnceLock<(bool, HeaderMap)>);

impl KeptHeaders {
    /// The headers of an answer showing `decision` (`None`: not limited): the kept map with
    /// the counts refreshed, or `build()`'s, kept when later decisions can refresh it (not
    /// for a refused or degraded decision, whose headers differ).
    pub fn headers(
        &self,
        decision: Option<&Decision>,
        style: HeaderStyle,
        build: impl FnOnce() -> HeaderMap,
    ) -> HeaderMap {
        if let Some((limited, kept)) = self.0.get() {
            if *limited == decision.is_some() {
                let mut h = kept.clone();
                if decision.is_none_or(|d| castellan_limit::refresh_headers(d, style, &mut h)) {
                    return h;
                }
            }
        }
        let h = build();
        if decision.is_none_or(|d| d.allowed && !d.is_degraded()) {
            let _ = self.0.set((decision.is_some(), h.clone()));
        }
        h
    }
}
