//! The JSON body of a 429 answer:
//! `{"error":"rate_limited","message":"Rate limit exceeded for policy default: 300 requests per
//! 60 seconds","policy":"default","retry_after":7}`.

use serde::Serialize;

use crate::decision::{Decision, Outcome};

/// Body of a refused request; serialise it with `serde_json` / axum's `Json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimitedBody {
    /// Always `rate_limited`.
    pub error: &'static str,
    /// Human-readable reason naming the policy and the window that refused.
    pub message: String,
    /// Policy name.
    pub policy: String,
    /// Seconds to wait (same value as `Retry-After`).
    pub retry_after: u64,
}

/// The body for a refused `decision` (for an admitted one it still names the most
/// restrictive window, with `retry_after` 0).
pub fn rate_limited_body(decision: &Decision) -> RateLimitedBody {
    let message = match (decision.outcome, decision.most_restrictive()) {
        (Outcome::FailedClosed, _) | (_, None) => format!(
            "Rate limit for policy {} cannot be checked right now; retry later",
            decision.policy
        ),
        (_, Some(w)) => format!(
            "Rate limit exceeded for policy {}: {} {} per {} {}",
            decision.policy,
            w.limit,
            if w.limit == 1 { "request" } else { "requests" },
            w.window_seconds,
            if w.window_seconds == 1 {
                "second"
            } else {
                "seconds"
            },
        ),
    };
    RateLimitedBody {
        error: "rate_limited",
        message,
        policy: decision.policy.to_string(),
        retry_after: decision.retry_after_seconds.unwrap_or(0),
    }
}
