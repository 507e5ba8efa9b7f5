//! Rate limits: which policy applies where, and which decision an answer shows. Counting,
//! policies and header rendering live in `castellan-limit`; the answers (refusals, headers on
//! an answer) are written by `crate::error::rate_limit`. One [`RateLimiting::check`] serves
//! both backends: the in-process one answers inside it without waiting.
//!
//! * `POST /oauth/token`: per client IP (`rate_limit.per_ip.token`, checked first by the
//!   token pipeline, so every attempt counts, malformed or not), then per authenticated
//!   client by its tier ([`check_client`]; tier `default` for a client without one).
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

use castellan_core::client::{Client, ClientKind};
use castellan_limit::{Decision, HeaderStyle, Limiter, Outcome, Policy, RateLimits};
use std::net::{IpAddr, Ipv6Addr};

/// Name of the Prometheus counter of checks Redis could not answer.
pub const BACKEND_FAILURES_METRIC: &str = "castellan_rate_limit_backend_failures_total";

/// The validated limits, the limiter counting them, and the sign-in delays it also keeps.
#[derive(Debug)]
pub struct RateLimiting {
    /// The validated `[rate_limit]` tree.
    pub limits: RateLimits,
    /// The limiter counting it (in-process or Redis).
    pub limiter: Limiter,
    /// `[pages.login_throttle]`, counted by `limiter`.
    pub login: crate::people::login_throttle::LoginThrottle,
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

    /// Checks `key` under `policy`; a refused decision is a [`RateLimited`] answer. The
    /// in-process limiter answers without waiting (its branch of [`Limiter::check`] has no
    /// await), so this is the one check for both backends.
    pub async fn check(&self, policy: &Policy, key: &str) -> Result<LimitDecision, RateLimited> {
        let decision = self.limiter.check(policy, key).await;
        crate::platform::metrics::rate_limit_decision(&decision.policy, decision.outcome);
        RateLimited::refusing(decision, self.limits.header_style)
    }
}

/// An admitted decision, to be rendered as headers on the answer
/// (`crate::error::rate_limit::render`).
#[derive(Debug, Clone)]
pub struct LimitDecision(pub Decision);

/// A refused request: 429 with `Retry-After`, or 503 when Redis could not be asked and the
/// configuration says to fail closed. Only built from a refused decision
/// ([`RateLimited::refusing`]), so it never holds an admitted one. Its answer is written by
/// `crate::error::rate_limit`.
#[derive(Debug)]
pub struct RateLimited {
    decision: Decision,
    style: HeaderStyle,
}

impl RateLimited {
    /// `decision` as an admitted [`LimitDecision`], or as the refusal it is.
    pub fn refusing(decision: Decision, style: HeaderStyle) -> Result<LimitDecision, RateLimited> {
        if decision.allowed {
            Ok(LimitDecision(decision))
        } else {
            Err(RateLimited { decision, style })
        }
    }

    /// The refusing decision, shown on the answer.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// How the decision's headers are written.
    pub fn style(&self) -> HeaderStyle {
        self.style
    }

    /// Whether the limiter could not be asked (fail closed) rather than a limit reached.
    pub fn backend_unavailable(&self) -> bool {
        self.decision.outcome == Outcome::FailedClosed
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
    limiting: &RateLimiting,
    policy: &Policy,
    ip: IpAddr,
) -> Result<LimitDecision, RateLimited> {
    limiting.check(policy, &ip_key(ip)).await
}

/// The per-client check of the token endpoint, after the client has authenticated, under the
/// client's tier; `None` for a tier configured `"off"`.
pub async fn check_client(
    limiting: &RateLimiting,
    client: &Client,
) -> Result<Option<LimitDecision>, RateLimited> {
    let Some(policy) = limiting.client_policy(client) else {
        return Ok(None);
    };
    limiting.check(policy, &client_key(client)).await.map(Some)
}

/// The rate-limit key of a client address: `ip:<address>` for IPv4, `ip:<the /64 network>`
/// for IPv6 (one host usually holds a whole /64, so counting single IPv6 addresses would be
/// no limit).
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        // Written by hand: one per limited request, and `Ipv4Addr`'s `Display` costs several
        // times this.
        IpAddr::V4(v4) => {
            let mut key = String::with_capacity(18);
            key.push_str("ip:");
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    key.push('.');
                }
                push_decimal(&mut key, octet);
            }
            key
        }
        IpAddr::V6(v6) => {
            let net = u128::from(v6) & !((1u128 << 64) - 1);
            format!("ip:{}", Ipv6Addr::from(net))
        }
    }
}

/// Appends `n` in decimal, without leading zeros.
fn push_decimal(s: &mut String, n: u8) {
    if n >= 100 {
        s.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        s.push(char::from(b'0' + n / 10 % 10));
    }
    s.push(char::from(b'0' + n % 10));
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
    limiting: &RateLimiting,
    client: &Client,
    subject: &str,
) -> Result<Option<LimitDecision>, RateLimited> {
    // A public client's own tokens (a sales channel's) are anyone's for the asking: one
    // count for all of them would let one caller use up every shopper's calls.
    if client.kind == ClientKind::Public && subject == client.id {
        return Ok(None);
    }
    let Some(policy) = limiting.client_policy(client) else {
        return Ok(None);
    };
    limiting
        .check(policy, &client_calls_key(&client.id, subject))
        .await
        .map(Some)
}

/// `client_calls:<client>` for a client's own token (`client_credentials`: the subject is the
/// client), `client_calls:<client>:<subject>` for a person's token; the guard's keys, so a
/// guard sharing this Redis and key prefix shares the counts.
pub use castellan_guard::limits::client_calls_key;

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

/// The per-key check of forward-auth: the policy of the key's tier (tier `default` for a
/// tier no longer configured), counted per key; `None` for a tier configured `"off"`.
pub async fn check_api_key(
    limiting: &RateLimiting,
    key_id: &str,
    tier: &str,
) -> Result<Option<LimitDecision>, RateLimited> {
    let Some(policy) = limiting.limits.tier_limit(tier) else {
        return Ok(None);
    };
    limiting
        .check(policy, &castellan_guard::limits::api_key_key(key_id))
        .await
        .map(Some)
}
