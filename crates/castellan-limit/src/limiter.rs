//! [`Limiter`]: the one rate-limit handle the server holds, whichever backend the
//! configuration chose.

use std::sync::Arc;

use crate::backoff::{Backoff, BackoffDecision};
use crate::clock::{Clock, SystemClock};
use crate::config::BackendSettings;
use crate::decision::Decision;
use crate::error::LimitError;
use crate::memory::MemoryLimiter;
use crate::policy::Policy;
use crate::redis::RedisLimiter;

/// The configured limiter.
#[derive(Debug)]
pub enum Limiter {
    /// Counters in this process.
    InProcess(MemoryLimiter),
    /// Counters in Redis, shared by all replicas.
    Redis(RedisLimiter),
}

impl Limiter {
    /// Builds the backend chosen by `settings` (from [`crate::RateLimits::backend`]) on the
    /// system clock. Never connects to Redis here.
    pub fn from_settings(settings: &BackendSettings) -> Result<Self, LimitError> {
        Self::from_settings_with_clock(settings, Arc::new(SystemClock))
    }

    /// As [`Limiter::from_settings`]; the in-process backend reads `clock` (the Redis backend
    /// always uses the Redis server's clock so that replicas agree on window boundaries).
    pub fn from_settings_with_clock(
        settings: &BackendSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LimitError> {
        Ok(match settings {
            BackendSettings::InProcess { max_keys } => {
                Limiter::InProcess(MemoryLimiter::with_clock(*max_keys, clock))
            }
            BackendSettings::Redis(redis) => Limiter::Redis(RedisLimiter::new(redis)?),
        })
    }

    /// Checks and, if admitted, counts one request for `key` (API key id, client id, IP…)
    /// under `policy`. Never fails: backend trouble yields a degraded decision.
    pub async fn check(&self, policy: &Policy, key: &str) -> Decision {
        match self {
            Limiter::InProcess(m) => m.check(policy, key),
            // Boxed: a round trip's future is large, and inline it would make every caller's
            // future (moved whole on each wrap) as large, in-process checks included.
            Limiter::Redis(r) => Box::pin(r.check(policy, key)).await,
        }
    }

    /// Checks and, if no delay is running under any of them, counts one attempt of `group`
    /// (e.g. an account) under every `(rule, key)` of `checks`, atomically: concurrent
    /// attempts never pass more than a rule's free ones before its first delay, and an attempt
    /// refused by one rule is counted under none. In-process per process; Redis shared by
    /// all replicas. Never fails: backend trouble yields a degraded decision.
    pub async fn attempt(&self, group: &str, checks: &[(&Backoff, &str)]) -> BackoffDecision {
        match self {
            Limiter::InProcess(m) => m.attempt(group, checks),
            Limiter::Redis(r) => Box::pin(r.attempt(group, checks)).await,
        }
    }

    /// Forgets the attempts of `group` under `checks` (after a success).
    pub async fn forget(&self, group: &str, checks: &[(&Backoff, &str)]) {
        match self {
            Limiter::InProcess(m) => m.forget(group, checks),
            Limiter::Redis(r) => Box::pin(r.forget(group, checks)).await,
        }
    }

    /// The in-process backend, whose checks never wait; `None` for Redis.
    pub fn in_process(&self) -> Option<&MemoryLimiter> {
        match self {
            Limiter::InProcess(m) => Some(m),
            Limiter::Redis(_) => None,
        }
    }

    /// The Redis backend, shared by every replica; `None` in-process.
    pub fn redis(&self) -> Option<&RedisLimiter> {
        match self {
            Limiter::InProcess(_) => None,
            Limiter::Redis(r) => Some(r),
        }
    }

    /// Checks Redis could not answer since start-up (always 0 in-process). Export as the
    /// counter `castellan_rate_limit_backend_failures_total`.
    pub fn backend_failures(&self) -> u64 {
        match self {
            Limiter::InProcess(_) => 0,
            Limiter::Redis(r) => r.failures(),
        }
    }
}
