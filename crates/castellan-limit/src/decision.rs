//! The answer of a rate-limit check: admitted or not, the state of every window of the policy,
//! the most restrictive window, and `Retry-After` for refusals. Both backends build decisions
//! here from per-window counts, so their answers have the same shape and the same rules.

use std::sync::Arc;

use crate::headers::PolicyValues;
use crate::policy::Policy;

/// Why a decision came out the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every window admitted the request; it was counted in all of them.
    Admitted,
    /// At least one window is exhausted; nothing was counted.
    Limited,
    /// The backend could not be asked in time; admitted because `redis_failure = "open"`.
    FailedOpen,
    /// The backend could not be asked in time; refused because `redis_failure = "closed"`.
    FailedClosed,
}

/// One window at the moment of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowState {
    /// Requests per window.
    pub limit: u64,
    /// Window length in seconds.
    pub window_seconds: u64,
    /// Requests still admitted in the current window (after this one, if it was admitted).
    pub remaining: u64,
    /// Whole seconds until the window resets, rounded up (so never early), at least 1.
    pub reset_after_seconds: u64,
    /// Unix time (seconds) at which the window resets.
    pub reset_at: u64,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether to serve the request.
    pub allowed: bool,
    /// Why.
    pub outcome: Outcome,
    /// Name of the policy checked.
    pub policy: Arc<str>,
    /// One entry per window, in the policy's order.
    pub windows: Vec<WindowState>,
    /// Index in `windows` of the most restrictive window: fewest remaining; on a tie, the one
    /// resetting latest; on a further tie, the longer window.
    pub restrictive_index: usize,
    /// Seconds to wait when refused: the latest reset among the windows that refused, so a
    /// client retrying then is admitted by all of them. `None` when admitted.
    pub retry_after_seconds: Option<u64>,
    /// The policy's `RateLimit-Policy` values, rendered once per policy.
    pub(crate) policy_values: Arc<PolicyValues>,
}

/// Per-window count a backend observed: requests counted in the current window, including
/// this one when admitted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observed {
    pub used: u64,
}

impl Decision {
    /// The most restrictive window (see [`Decision::restrictive_index`]).
    pub fn most_restrictive(&self) -> Option<&WindowState> {
        self.windows.get(self.restrictive_index)
    }

    /// True when the backend could not be asked and the fail-open/closed rule answered.
    pub fn is_degraded(&self) -> bool {
        matches!(self.outcome, Outcome::FailedOpen | Outcome::FailedClosed)
    }

    /// Builds a decision from what a backend counted at `now_ms`.
    pub(crate) fn from_counts(
        policy: &Policy,
        now_ms: u64,
        allowed: bool,
        counts: &[Observed],
    ) -> Self {
        let mut windows = Vec::with_capacity(policy.windows().len());
        let mut retry_after: Option<u64> = None;
        for (w, c) in policy.windows().iter().zip(counts) {
            let (reset_after, reset_at) = reset_of(w.millis(), now_ms);
            if !allowed && c.used >= w.limit {
                retry_after = Some(retry_after.map_or(reset_after, |r| r.max(reset_after)));
            }
            windows.push(WindowState {
                limit: w.limit,
                window_seconds: w.seconds,
                remaining: w.limit.saturating_sub(c.used),
                reset_after_seconds: reset_after,
                reset_at,
            });
        }
        let outcome = if allowed {
            Outcome::Admitted
        } else {
            Outcome::Limited
        };
        Self {
            allowed,
            outcome,
            policy: Arc::clone(policy.shared_name()),
            policy_values: Arc::clone(policy.values()),
            restrictive_index: most_restrictive(&windows),
            windows,
            // A refusal always has a refusing window; `1` only guards a backend reply that
            // contradicts itself.
            retry_after_seconds: if allowed {
                None
            } else {
                Some(retry_after.unwrap_or(1))
            },
        }
    }

    /// The decision when the backend could not be asked. Remaining counts are unknown: an
    /// open decision reports the full limit, a closed one zero; header rendering leaves the
    /// counters out for degraded decisions. A closed refusal asks the client to come back
    /// when the shortest window would reset.
    pub(crate) fn degraded(policy: &Policy, now_ms: u64, open: bool) -> Self {
        let windows: Vec<WindowState> = policy
            .windows()
            .iter()
            .map(|w| {
                let (reset_after, reset_at) = reset_of(w.millis(), now_ms);
                WindowState {
                    limit: w.limit,
                    window_seconds: w.seconds,
                    remaining: if open { w.limit } else { 0 },
                    reset_after_seconds: reset_after,
                    reset_at,
                }
            })
            .collect();
        let retry_after = windows.iter().map(|w| w.reset_after_seconds).min();
        Self {
            allowed: open,
            outcome: if open {
                Outcome::FailedOpen
            } else {
                Outcome::FailedClosed
            },
            policy: Arc::clone(policy.shared_name()),
            policy_values: Arc::clone(policy.values()),
            restrictive_index: most_restrictive(&windows),
            windows,
            retry_after_seconds: if open {
                None
            } else {
                Some(retry_after.unwrap_or(1))
            },
        }
    }
}

/// (seconds until reset rounded up, absolute reset in Unix seconds) of the epoch-aligned
/// window of `window_ms` containing `now_ms`.
pub(crate) fn reset_of(window_ms: u64, now_ms: u64) -> (u64, u64) {
    let window_ms = window_ms.max(1);
    let reset_ms = (now_ms / window_ms + 1).saturating_mul(window_ms);
    let after_ms = reset_ms - now_ms;
    (after_ms.div_ceil(1000), reset_ms / 1000)
}

fn most_restrictive(windows: &[WindowState]) -> usize {
    let mut best = 0;
    for (i, w) in windows.iter().enumerate().skip(1) {
        let b = &windows[best];
        let key = (
            w.remaining,
            std::cmp::Reverse(w.reset_after_seconds),
            std::cmp::Reverse(w.window_seconds),
        );
        let best_key = (
            b.remaining,
            std::cmp::Reverse(b.reset_after_seconds),
            std::cmp::Reverse(b.window_seconds),
        );
        if key < best_key {
            best = i;
        }
    }
    best
}
