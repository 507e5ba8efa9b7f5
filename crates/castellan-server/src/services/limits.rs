//! Rate limits at the HTTP edge (SPEC §8): which policy applies where, and how the decision
//! reaches the answer. Counting, policies and header rendering live in `castellan-limit`.
//!
//! * `POST /oauth/token`: per client IP (`rate_limit.per_ip.token`, checked first by the
//!   handler, so every attempt counts, malformed or not), then per authenticated client by its
//!   tier ([`check_client`]; tier `default` for a client without one).
//! * `POST /oauth/register`: per client IP (`rate_limit.per_ip.registration`), checked first
//!   by the handler, so every attempt counts whatever the rest answers.
//! * `/forward-auth`: per API key by its tier ([`check_api_key`]); per client by its tier for
//!   an access token ([`check_client_calls`]).
//!
//! Every answer of a limited endpoint carries the `RateLimit-*` / `X-RateLimit-*` headers of
//! one decision: the refusing one, else the most restrictive of the checks made (fewest
//! requests remaining; on a tie the client's). A refusal is 429 with `Retry-After` and the
//! library's JSON body naming the policy; a refusal because Redis could not be asked under
//! `redis_failure = "closed"` is 503 `temporarily_unavailable`, never a 500.

use crate::extract::client_ip::ClientIp;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use castellan_core::client::{Client, ClientKind};
use castellan_limit::{
    rate_limited_body, Decision, HeaderStyle, Limiter, MemoryLimiter, Outcome, Policy, RateLimits,
};
use serde_json::json;
use std::sync::OnceLock;

/// Name of the Prometheus counter of checks Redis could not answer.
pub const BACKEND_FAILURES_METRIC: &str = "castellan_rate_limit_backend_failures_total";

/// The validated limits, the limiter counting them, and the sign-in delays it also keeps.
#[derive(Debug)]
pub struct RateLimiting {
    pub limits: RateLimits,
    pub limiter: Limiter,
    /// `[pages.login_throttle]`, counted by `limiter`.
    pub login: crate::services::login_throttle::LoginThrottle,
}

impl RateLimiting {
    /// The policy of a client's tier (tier `default` when it has none, or has one no longer
    /// configured); `None` for a tier configured `"off"`.
    pub fn client_policy(&self, client: &Client) -> Option<&Policy> {
        let tier = client
            .tier
            .as_deref()
            .unwrap_or(castellan_limit::DEFAULT_TIER);
        self.limits.tier_limit(tier).map(|p| &**p)
    }

    /// Checks `key` under `policy`; a refused decision is a [`RateLimited`] answer.
    pub async fn check(&self, policy: &Policy, key: &str) -> Result<LimitDecision, RateLimited> {
        self.decide(self.limiter.check(policy, key).await)
    }

    /// The in-process counter, when the limiter is that one: its checks never wait.
    pub fn counting_here(&self) -> Option<&MemoryLimiter> {
        self.limiter.in_process()
    }

    /// A decision as an admitted one, or as the [`RateLimited`] answer refusing.
    fn decide(&self, decision: Decision) -> Result<LimitDecision, RateLimited> {
        if decision.allowed {
            Ok(LimitDecision(decision))
        } else {
            Err(RateLimited {
                decision,
                style: self.limits.header_style,
            })
        }
    }
}

/// An admitted decision, to be rendered as headers on the answer ([`render`]).
#[derive(Debug, Clone)]
pub struct LimitDecision(pub Decision);

/// A refused request: 429 with `Retry-After`, or 503 when Redis could not be asked and the
/// configuration says to fail closed.
#[derive(Debug)]
pub struct RateLimited {
    pub decision: Decision,
    pub style: HeaderStyle,
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let mut res = match self.decision.outcome {
            Outcome::FailedClosed => {
                let retry_after = self.decision.retry_after_seconds.unwrap_or(1);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({
                        "error": "temporarily_unavailable",
                        "error_description":
                            "Rate limits cannot be checked right now; retry later.",
                        "policy": &*self.decision.policy,
                        "retry_after": retry_after,
                    })),
                )
                    .into_response()
            }
            Outcome::Limited | Outcome::Admitted | Outcome::FailedOpen => (
                StatusCode::TOO_MANY_REQUESTS,
                Json(rate_limited_body(&self.decision)),
            )
                .into_response(),
        };
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        render(&mut res, &self.decision, self.style);
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

/// The decision an answer shows when two checks were made: `inner` (a check made after the
/// request was understood, e.g. the client's) unless `outer` (the per-IP check made first)
/// is more restrictive. A refusal always wins, else the fewest remaining; on a tie `inner`.
pub fn shown(inner: Option<Decision>, outer: Decision) -> Decision {
    match inner {
        Some(inner) if prefer_inner(&inner, &outer) => inner,
        Some(_) | None => outer,
    }
}

fn prefer_inner(inner: &Decision, outer: &Decision) -> bool {
    if !inner.allowed {
        return true;
    }
    let remaining = |d: &Decision| d.most_restrictive().map_or(u64::MAX, |w| w.remaining);
    remaining(inner) <= remaining(outer)
}

/// Counts one request of `ip` under the per-IP policy `policy` (every attempt, whatever it
/// asks): the decision to show on the answer, or the refusal to answer with.
pub async fn check_ip(
    state: &AppState,
    policy: &Policy,
    ip: &ClientIp,
) -> Result<LimitDecision, RateLimited> {
    state.rate_limiting.check(policy, &ip.limit_key()).await
}

/// The per-client check of the token endpoint, after the client has authenticated, under the
/// client's tier; `None` for a tier configured `"off"`.
pub async fn check_client(
    state: &AppState,
    client: &Client,
) -> Result<Option<LimitDecision>, RateLimited> {
    let limiting = &state.rate_limiting;
    let Some(policy) = limiting.client_policy(client) else {
        return Ok(None);
    };
    limiting.check(policy, &client_key(client)).await.map(Some)
}

/// [`check_ip`] on the in-process counter ([`RateLimiting::counting_here`]), without waiting.
pub fn check_ip_here(
    state: &AppState,
    counter: &MemoryLimiter,
    policy: &Policy,
    ip: &ClientIp,
) -> Result<LimitDecision, RateLimited> {
    state
        .rate_limiting
        .decide(counter.check(policy, &ip.limit_key()))
}

/// [`check_client`] on the in-process counter ([`RateLimiting::counting_here`]), without
/// waiting.
pub fn check_client_here(
    state: &AppState,
    counter: &MemoryLimiter,
    client: &Client,
) -> Result<Option<LimitDecision>, RateLimited> {
    let limiting = &state.rate_limiting;
    let Some(policy) = limiting.client_policy(client) else {
        return Ok(None);
    };
    limiting
        .decide(counter.check(policy, &client_key(client)))
        .map(Some)
}

/// The key counting a client's token requests.
fn client_key(client: &Client) -> String {
    limit_key("client:", &client.id, None)
}

/// The per-client check of forward-auth for a caller with an access token of `client` about
/// `subject`: the client's tier (`None` for a tier configured `"off"`), counted apart from the
/// client's token requests, per client for the client's own tokens and per person for a
/// person's tokens ([`client_calls_key`]). A public client's own tokens are not counted.
pub async fn check_client_calls(
    state: &AppState,
    client: &Client,
    subject: &str,
) -> Result<Option<LimitDecision>, RateLimited> {
    // A public client's own tokens (sales channels, seed 004) are anyone's for the asking: one
    // count for all of them would let one caller use up every shopper's calls.
    if client.kind == ClientKind::Public && subject == client.id {
        return Ok(None);
    }
    let limiting = &state.rate_limiting;
    let Some(policy) = limiting.client_policy(client) else {
        return Ok(None);
    };
    limiting
        .check(policy, &client_calls_key(&client.id, subject))
        .await
        .map(Some)
}

/// `client_calls:<client>` for a client's own token (`client_credentials`: the subject is the
/// client), `client_calls:<client>:<subject>` for a person's token, so that one busy person
/// does not use up every user's calls through the same app.
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

/// Layer of `/metrics`: publishes the limiter's backend-failure count before the scrape.
pub async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    metrics::counter!(BACKEND_FAILURES_METRIC)
        .absolute(state.rate_limiting.limiter.backend_failures());
    next.run(req).await
}

/// The per-key check of forward-auth: the policy of the key's tier (tier `default` for a
/// tier no longer configured), counted per key; `None` for a tier configured `"off"`.
pub async fn check_api_key(
    state: &AppState,
    key_id: &str,
    tier: &str,
) -> Result<Option<LimitDecision>, RateLimited> {
    let limiting = &state.rate_limiting;
    let Some(policy) = limiting.limits.tier_limit(tier) else {
        return Ok(None);
    };
    limiting
        .check(policy, &limit_key("api_key:", key_id, None))
        .await
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::client_calls_key;

    #[test]
    fn gateway_calls_count_per_client_or_per_person_of_a_client() {
        assert_eq!(client_calls_key("app1", "app1"), "client_calls:app1");
        assert_eq!(client_calls_key("app1", "user9"), "client_calls:app1:user9");
        assert_ne!(
            client_calls_key("app1", "user9"),
            client_calls_key("app1", "user8")
        );
    }
}
