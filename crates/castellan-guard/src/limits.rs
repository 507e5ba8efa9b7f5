//! Rate limits at the gateway check, shared by the guard and Castellan's forward-auth: which
//! key a caller is counted under, and the answers (429 with `Retry-After` and the limit
//! crate's JSON body, 503 `temporarily_unavailable` when Redis could not be asked under
//! `redis_failure = "closed"`, the `RateLimit-*` / `X-RateLimit-*` headers of a decision on
//! any other answer). Counting, policies and header syntax are `castellan-limit`'s.
//!
//! The keys are the server's (`docs/rate-limits.md`): an API key's calls as
//! `api_key:<key id>`, an access token's as `client_calls:<client id>` for a client's own token
//! and `client_calls:<client id>:<subject>` for a person's. A guard and a Castellan sharing one
//! Redis and one `redis_key_prefix` therefore share the counts.

use crate::identity::{CredentialKind, Identity};
use axum::response::{IntoResponse, Response};
use castellan_limit::{
    rate_limited_body, Decision, HeaderStyle, Limiter, Outcome, RateLimitConfig, RateLimits,
};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

/// The key counting an API key's gateway calls.
pub fn api_key_key(key_id: &str) -> String {
    limit_key("api_key:", key_id, None)
}

/// `client_calls:<client>` for a client's own token (the subject is the client),
/// `client_calls:<client>:<subject>` for a person's token, so that one busy person does not
/// use up every user's calls through the same app.
pub fn client_calls_key(client_id: &str, subject: &str) -> String {
    let person = (subject != client_id).then_some(subject);
    limit_key("client_calls:", client_id, person)
}

/// A limiter key: `prefix`, `id`, and `:<sub>` when given, in one allocation (one per
/// limited request; `format!` costs several times this).
fn limit_key(prefix: &str, id: &str, sub: Option<&str>) -> String {
    let mut key = String::with_capacity(prefix.len() + id.len() + 1 + sub.map_or(0, str::len));
    key.push_str(prefix);
    key.push_str(id);
    if let Some(sub) = sub {
        key.push(':');
        key.push_str(sub);
    }
    key
}

/// The answer refusing a request for `decision` (refused): 429 with the limit crate's body,
/// or 503 `temporarily_unavailable` when the limiter could not be asked (fail closed); both
/// with `Retry-After`, `Cache-Control: no-store` and the decision's rate-limit headers.
pub fn refusal_response(decision: &Decision, style: HeaderStyle) -> Response {
    let mut res = if decision.outcome == Outcome::FailedClosed {
        let retry_after = decision.retry_after_seconds.unwrap_or(1);
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({
                "error": "temporarily_unavailable",
                "error_description": "Rate limits cannot be checked right now; retry later.",
                "policy": &*decision.policy,
                "retry_after": retry_after,
            })),
        )
            .into_response()
    } else {
        (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(rate_limited_body(decision)),
        )
            .into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    render(h, decision, style);
    res
}

/// Writes the rate-limit headers of `decision` into `headers`, replacing any already there.
pub fn render(headers: &mut HeaderMap, decision: &Decision, style: HeaderStyle) {
    // Every rendered decision writes `RateLimit-Policy`, so without it there is nothing to
    // replace.
    if headers.contains_key(&castellan_limit::headers::HEADER_NAMES[0]) {
        for name in &castellan_limit::headers::HEADER_NAMES {
            headers.remove(name);
        }
    }
    castellan_limit::write_headers(decision, style, headers);
}

/// The guard's `[rate_limit]`: the validated table and the limiter counting it.
#[derive(Debug)]
pub(crate) struct GuardLimits {
    limits: RateLimits,
    limiter: Limiter,
}

impl GuardLimits {
    /// Validates `config` (errors name their keys) and builds its limiter (Redis is not
    /// connected here: the first check connects in the background).
    pub fn new(config: &RateLimitConfig) -> Result<GuardLimits, String> {
        let limits = config.validate().map_err(|e| e.to_string())?;
        let limiter = Limiter::from_settings(&limits.backend).map_err(|e| e.to_string())?;
        Ok(GuardLimits { limits, limiter })
    }

    /// The Redis backend, when the limits are counted there (DPoP proofs' one-time ids are
    /// then recorded there too).
    pub fn redis(&self) -> Option<&castellan_limit::RedisLimiter> {
        self.limiter.redis()
    }

    /// How the headers are written.
    pub fn style(&self) -> HeaderStyle {
        self.limits.header_style
    }

    /// Counts one allowed call of `identity` as forward-auth does: an API key per key under
    /// its tier (`tier`, as introspection names it; tier `default` without one), an access
    /// token per client (and person) under tier `default`. `Ok(None)`: not counted (a tier
    /// configured `"off"`); `Err`: the refusing decision.
    pub async fn count(
        &self,
        identity: &Identity,
        tier: Option<&str>,
    ) -> Result<Option<Decision>, Decision> {
        let tier = tier.unwrap_or(castellan_limit::DEFAULT_TIER);
        let Some(policy) = self.limits.tier_limit(tier) else {
            return Ok(None);
        };
        let key = match identity.kind {
            CredentialKind::ApiKey => api_key_key(&identity.subject),
            CredentialKind::Jwt | CredentialKind::OpaqueToken => {
                client_calls_key(&identity.client_id, &identity.subject)
            }
        };
        let decision = self.limiter.check(policy, &key).await;
        if decision.allowed {
            Ok(Some(decision))
        } else {
            Err(decision)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_calls_count_per_client_or_per_person_of_a_client() {
        assert_eq!(client_calls_key("app1", "app1"), "client_calls:app1");
        assert_eq!(client_calls_key("app1", "user9"), "client_calls:app1:user9");
        assert_ne!(
            client_calls_key("app1", "user9"),
            client_calls_key("app1", "user8")
        );
        assert_eq!(api_key_key("key_1"), "api_key:key_1");
    }
}
