//! Growing delays (for sign-in attempts): unlike a fixed-window policy, a [`Backoff`] never
//! shuts a key out for a whole window. The first `free` attempts pass at once; from then on
//! each attempt must wait a delay that doubles with every further attempt (`base`, `2·base`,
//! `4·base`, … up to `max`), and an attempt made while the delay runs is refused without being
//! counted. A key's state is forgotten `forget` after its last counted attempt (or after its
//! delay ends, if later).
//!
//! [`crate::Limiter::attempt`] checks several (rule, key) pairs of one group (e.g. one account:
//! per account and per account and address) in one atomic step, in this process or in one
//! Redis script: the attempt is counted in all of them only if none is waiting, so concurrent
//! attempts can never pass more than `free` of them before the first delay, and a refusal by
//! one rule costs nothing under the others.

use std::sync::Arc;

use crate::decision::Outcome;
use crate::error::{ConfigError, ConfigErrors};

/// Longest delay or memory accepted (one day), in milliseconds.
pub const MAX_BACKOFF_MS: u64 = 86_400_000;

/// A growing-delay rule. Cheap to clone (the name is shared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    name: Arc<str>,
    free: u64,
    base_ms: u64,
    max_ms: u64,
    forget_ms: u64,
}

impl Backoff {
    /// `free` attempts without delay, then `base_ms` doubling up to `max_ms`; state kept
    /// `forget_ms` after the last attempt. Errors name keys under `key`.
    pub fn new(
        key: &str,
        name: impl Into<String>,
        free: u64,
        base_ms: u64,
        max_ms: u64,
        forget_ms: u64,
    ) -> Result<Self, ConfigErrors> {
        let name = name.into();
        let mut errors = Vec::new();
        crate::validate::check_name(key, &name, &mut errors);
        if !(1..=1_000_000).contains(&free) {
            errors.push(ConfigError::new(
                format!("{key}.free"),
                "must be between 1 and 1000000",
            ));
        }
        for (field, v) in [("base", base_ms), ("max", max_ms), ("forget", forget_ms)] {
            if !(1..=MAX_BACKOFF_MS).contains(&v) {
                errors.push(ConfigError::new(
                    format!("{key}.{field}"),
                    "must be between 1 ms and one day",
                ));
            }
        }
        if max_ms < base_ms {
            errors.push(ConfigError::new(
                format!("{key}.max"),
                "must not be shorter than the first delay",
            ));
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Self {
            name: Arc::from(name),
            free,
            base_ms,
            max_ms,
            forget_ms,
        })
    }

    /// The rule's name (part of its storage keys).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Attempts passed without delay.
    pub fn free(&self) -> u64 {
        self.free
    }

    /// The first delay, in milliseconds.
    pub fn base_ms(&self) -> u64 {
        self.base_ms
    }

    /// The longest delay, in milliseconds.
    pub fn max_ms(&self) -> u64 {
        self.max_ms
    }

    /// How long state is kept after the last attempt (or the end of its delay), in ms.
    pub fn forget_ms(&self) -> u64 {
        self.forget_ms
    }

    /// The delay set by the `count`-th counted attempt: none before the `free`-th, then
    /// `base · 2^(count − free)` capped at `max`.
    pub fn delay_after(&self, count: u64) -> u64 {
        if count < self.free {
            return 0;
        }
        let doublings = u32::try_from(count - self.free).unwrap_or(u32::MAX).min(40);
        self.base_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_ms)
    }
}

/// One key's state: attempts counted, and until when the next one must wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BackoffState {
    pub count: u64,
    /// Unix milliseconds before which an attempt is refused (0: none).
    pub wait_until_ms: u64,
    /// Unix milliseconds after which the state is forgotten.
    pub expires_ms: u64,
}

impl BackoffState {
    /// Milliseconds still to wait at `now_ms` (0: an attempt may pass).
    pub fn waiting_ms(&self, now_ms: u64) -> u64 {
        if self.expires_ms <= now_ms {
            return 0;
        }
        self.wait_until_ms.saturating_sub(now_ms)
    }

    /// The state after one more counted attempt at `now_ms`.
    pub fn counted(self, rule: &Backoff, now_ms: u64) -> BackoffState {
        let count = if self.expires_ms <= now_ms {
            1
        } else {
            self.count.saturating_add(1)
        };
        let delay = rule.delay_after(count);
        let wait_until_ms = if delay == 0 {
            0
        } else {
            now_ms.saturating_add(delay)
        };
        BackoffState {
            count,
            wait_until_ms,
            expires_ms: now_ms.max(wait_until_ms).saturating_add(rule.forget_ms),
        }
    }
}

/// The answer to [`crate::Limiter::attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffDecision {
    /// Whether the attempt may go ahead (it was counted under every rule).
    pub allowed: bool,
    /// Why: `Admitted`, `Limited` (a delay is running), or a Redis failure's open/closed.
    pub outcome: Outcome,
    /// Whole seconds to wait, rounded up (at least 1), when refused.
    pub retry_after_seconds: Option<u64>,
    /// Name of the rule whose delay refused (the longest wait), when refused by one.
    pub rule: Option<Arc<str>>,
}

impl BackoffDecision {
    pub(crate) fn admitted() -> Self {
        Self {
            allowed: true,
            outcome: Outcome::Admitted,
            retry_after_seconds: None,
            rule: None,
        }
    }

    pub(crate) fn waiting(rule: &Backoff, wait_ms: u64) -> Self {
        Self {
            allowed: false,
            outcome: Outcome::Limited,
            retry_after_seconds: Some(wait_ms.div_ceil(1000).max(1)),
            rule: Some(Arc::clone(&rule.name)),
        }
    }

    pub(crate) fn degraded(open: bool) -> Self {
        Self {
            allowed: open,
            outcome: if open {
                Outcome::FailedOpen
            } else {
                Outcome::FailedClosed
            },
            retry_after_seconds: if open { None } else { Some(1) },
            rule: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Backoff {
        Backoff::new("t", "t", 3, 1000, 8000, 60_000).unwrap()
    }

    #[test]
    fn delays_double_after_the_free_attempts_up_to_the_cap() {
        let r = rule();
        let delays: Vec<u64> = (1..=8).map(|n| r.delay_after(n)).collect();
        assert_eq!(delays, [0, 0, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(r.delay_after(u64::MAX), 8000);
    }

    #[test]
    fn state_waits_then_counts_then_forgets() {
        let r = rule();
        let mut s = BackoffState::default();
        for now in [0, 1, 2] {
            assert_eq!(s.waiting_ms(now), 0);
            s = s.counted(&r, now);
        }
        assert_eq!(s.count, 3);
        assert_eq!(s.waiting_ms(2), 1000);
        assert_eq!(s.waiting_ms(1002), 0);
        s = s.counted(&r, 1002);
        assert_eq!(s.waiting_ms(1002), 2000);
        // Forgotten a minute after the delay ends: the next attempt is the first again.
        let later = s.wait_until_ms + 60_000;
        assert_eq!(s.waiting_ms(later), 0);
        assert_eq!(s.counted(&r, later).count, 1);
    }

    #[test]
    fn invalid_rules_name_their_keys() {
        let e = Backoff::new("x", "x", 0, 0, 1, 1).unwrap_err();
        let keys: Vec<&str> = e.errors().iter().map(|e| e.key.as_str()).collect();
        assert!(
            keys.contains(&"x.free") && keys.contains(&"x.base"),
            "{keys:?}"
        );
    }

    #[test]
    fn a_refusal_says_how_long_to_wait() {
        let d = BackoffDecision::waiting(&rule(), 1);
        assert_eq!(d.retry_after_seconds, Some(1));
        assert_eq!(
            BackoffDecision::waiting(&rule(), 2001).retry_after_seconds,
            Some(3)
        );
    }
}
