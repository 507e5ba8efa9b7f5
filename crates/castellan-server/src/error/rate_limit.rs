//! Rate limits as HTTP: a refusal's answer ([`RateLimited`]: 429 with `Retry-After` and the
//! library's JSON body naming the policy, or 503 `temporarily_unavailable` when Redis could
//! not be asked under `redis_failure = "closed"`, never a 500), the `RateLimit-*` /
//! `X-RateLimit-*` headers of a decision on any other answer ([`render`]), and the kept
//! headers of answers that differ only in those counts ([`KeptHeaders`]).

use crate::platform::limits::RateLimited;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_limit::{rate_limited_body, Decision, HeaderStyle};
use serde_json::json;
use std::sync::OnceLock;

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let decision = self.decision();
        let mut res = if self.backend_unavailable() {
            let retry_after = decision.retry_after_seconds.unwrap_or(1);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "error": "temporarily_unavailable",
                    "error_description":
                        "Rate limits cannot be checked right now; retry later.",
                    "policy": &*decision.policy,
                    "retry_after": retry_after,
                })),
            )
                .into_response()
        } else {
            (
                StatusCode::TOO_MANY_REQUESTS,
                Json(rate_limited_body(decision)),
            )
                .into_response()
        };
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        render(&mut res, decision, self.style());
        res
    }
}

/// Writes the rate-limit headers of `decision` on `res`, replacing any already there.
pub fn render(res: &mut Response, decision: &Decision, style: HeaderStyle) {
    let h = res.headers_mut();
    // Every rendered decision writes `RateLimit-Policy`, so without it there is nothing to
    // replace.
    if h.contains_key(&castellan_limit::headers::HEADER_NAMES[0]) {
        for name in &castellan_limit::headers::HEADER_NAMES {
            h.remove(name);
        }
    }
    castellan_limit::write_headers(decision, style, h);
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
