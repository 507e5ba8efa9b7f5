//! The Redis limiter: counters shared by every replica, one round trip per check. Each check
//! is a single `EVALSHA` of `check.lua`, which reads every window of the policy, increments all
//! of them only if all admit, and returns their counts — atomically, on the Redis server's
//! clock. Every check is bounded by `redis_timeout_ms`; when Redis cannot answer in time the
//! configured failure mode answers instead, the failure is counted ([`RedisLimiter::failures`])
//! and logged at most once per interval.
//!
//! Growing delays (sign-in attempts) never simply pass when Redis fails open: they are then
//! counted in this process ([`BackoffTable`], bounded by [`FALLBACK_BACKOFF_KEYS`]), each
//! replica on its own, until Redis answers again. Failing closed refuses them as before.

mod connector;
mod health;

use std::sync::Arc;
use std::time::Duration;

use crate::backoff::{Backoff, BackoffDecision};
use crate::clock::{Clock, SystemClock};
use crate::config::{FailureMode, RedisSettings};
use crate::decision::{Decision, Observed};
use crate::error::{ConfigError, ConfigErrors, LimitError};
use crate::key::{bounded_key, window_key};
use crate::memory_backoff::BackoffTable;
use crate::policy::Policy;
use crate::validate::MAX_WINDOWS;

pub use health::FailureKind;

use connector::Connector;
use health::Health;

/// Rate limiter keeping counters in Redis. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct RedisLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    connector: Arc<Connector>,
    script: redis::Script,
    backoff_script: redis::Script,
    prefix: String,
    timeout: Duration,
    failure: FailureMode,
    health: Health,
    /// Where growing delays are counted while Redis fails open.
    fallback: BackoffTable,
}

/// Most keys of the in-process growing delays used while Redis fails open.
pub const FALLBACK_BACKOFF_KEYS: usize = 100_000;

impl RedisLimiter {
    /// Builds the limiter without connecting: a dead Redis at start-up is not an error, only
    /// an invalid URL is. The connection is made on the first check, in the background.
    pub fn new(settings: &RedisSettings) -> Result<Self, LimitError> {
        let client = redis::Client::open(settings.url.0.as_str()).map_err(|_| {
            LimitError::Config(ConfigErrors(vec![ConfigError::new(
                "rate_limit.redis_url",
                "is not a valid Redis URL",
            )]))
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                connector: Arc::new(Connector::new(client, settings.timeout)),
                script: redis::Script::new(include_str!("check.lua")),
                backoff_script: redis::Script::new(include_str!("backoff.lua")),
                prefix: settings.key_prefix.clone(),
                timeout: settings.timeout,
                failure: settings.failure,
                health: Health::new(),
                fallback: BackoffTable::new(FALLBACK_BACKOFF_KEYS),
            }),
        })
    }

    /// Checks and, if admitted, counts one request for `key` under `policy`. Never fails and
    /// never takes longer than the configured timeout (plus scheduling).
    pub async fn check(&self, policy: &Policy, key: &str) -> Decision {
        let inner = &self.inner;
        let result = match tokio::time::timeout(inner.timeout, self.eval(policy, key)).await {
            Ok(r) => r,
            Err(_) => Err((FailureKind::Timeout, "deadline exceeded")),
        };
        match result {
            Ok(decision) => {
                inner.health.record_success();
                decision
            }
            Err((kind, detail)) => {
                inner.health.record_failure(kind, inner.failure, detail);
                Decision::degraded(
                    policy,
                    SystemClock.now_ms(),
                    inner.failure == FailureMode::Open,
                )
            }
        }
    }

    /// Checks and, if no delay is running, counts one attempt of `group` under every
    /// `(rule, key)` of `checks` in one script ([`crate::Limiter::attempt`]). Never fails:
    /// when Redis cannot answer in time, the failure mode decides.
    pub async fn attempt(&self, group: &str, checks: &[(&Backoff, &str)]) -> BackoffDecision {
        let inner = &self.inner;
        let result =
            match tokio::time::timeout(inner.timeout, self.eval_attempt(group, checks)).await {
                Ok(r) => r,
                Err(_) => Err((FailureKind::Timeout, "deadline exceeded")),
            };
        match result {
            Ok(decision) => {
                inner.health.record_success();
                decision
            }
            Err((kind, detail)) => {
                inner.health.record_failure(kind, inner.failure, detail);
                match inner.failure {
                    FailureMode::Closed => BackoffDecision::degraded(false),
                    FailureMode::Open => {
                        let local = inner.fallback.attempt(group, checks, SystemClock.now_ms());
                        if local.allowed {
                            BackoffDecision::degraded(true)
                        } else {
                            local
                        }
                    }
                }
            }
        }
    }

    /// Forgets the attempts of `group` under `checks` (after a success). Best effort: if
    /// Redis cannot be reached the state simply expires on its own.
    pub async fn forget(&self, group: &str, checks: &[(&Backoff, &str)]) {
        let inner = &self.inner;
        inner.fallback.forget(group, checks);
        let work = async {
            let mut conn = inner.connector.get().await?;
            let mut cmd = redis::cmd("DEL");
            for (rule, key) in checks {
                cmd.arg(backoff_key(&inner.prefix, group, rule, key));
            }
            cmd.query_async::<i64>(&mut conn).await.ok()
        };
        if tokio::time::timeout(inner.timeout, work)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            inner
                .health
                .record_failure(FailureKind::Redis, inner.failure, "forget failed");
        }
    }

    async fn eval_attempt(
        &self,
        group: &str,
        checks: &[(&Backoff, &str)],
    ) -> Result<BackoffDecision, (FailureKind, &'static str)> {
        let inner = &self.inner;
        let Some(mut conn) = inner.connector.get().await else {
            return Err((FailureKind::NotConnected, "no connection to redis"));
        };
        let mut invocation = inner.backoff_script.prepare_invoke();
        for (rule, key) in checks {
            invocation.key(backoff_key(&inner.prefix, group, rule, key));
        }
        for (rule, _) in checks {
            invocation
                .arg(rule.free())
                .arg(rule.base_ms())
                .arg(rule.max_ms())
                .arg(rule.forget_ms());
        }
        let reply: Vec<i64> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|_| (FailureKind::Redis, "backoff script failed"))?;
        match reply.as_slice() {
            [1, _, _] => Ok(BackoffDecision::admitted()),
            [0, wait, which] => {
                let rule = usize::try_from(*which)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| checks.get(i))
                    .ok_or((FailureKind::BadReply, "unexpected backoff reply"))?
                    .0;
                let wait =
                    u64::try_from(*wait).map_err(|_| (FailureKind::BadReply, "negative wait"))?;
                Ok(BackoffDecision::waiting(rule, wait))
            }
            _ => Err((FailureKind::BadReply, "unexpected backoff reply")),
        }
    }

    /// Records the one-time id `key` (a hash of a namespace and an id) for `ttl_ms`: `Ok(true)`
    /// the first time, `Ok(false)` for a replay (`SET NX PX`, one round trip, shared by every
    /// replica). Unlike a rate-limit check this never answers by the failure mode: when Redis
    /// cannot answer in time it is an error, so that a replay check never silently passes.
    pub async fn first_use(&self, key: &[u8; 32], ttl_ms: u64) -> Result<bool, FailureKind> {
        let inner = &self.inner;
        let work = async {
            let Some(mut conn) = inner.connector.get().await else {
                return Err((FailureKind::NotConnected, "no connection to redis"));
            };
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("{}:once:{}", inner.prefix, hex_key(key)))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms.max(1))
                .query_async(&mut conn)
                .await
                .map_err(|_| (FailureKind::Redis, "one-time id SET failed"))?;
            Ok(set.is_some())
        };
        let result = match tokio::time::timeout(inner.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err((FailureKind::Timeout, "deadline exceeded")),
        };
        match result {
            Ok(first) => {
                inner.health.record_success();
                Ok(first)
            }
            Err((kind, detail)) => {
                // Counted and logged as any failure; the caller refuses (fails closed).
                inner
                    .health
                    .record_failure(kind, FailureMode::Closed, detail);
                Err(kind)
            }
        }
    }

    /// How many checks Redis could not answer since start-up (export as a counter metric).
    pub fn failures(&self) -> u64 {
        self.inner.health.failures()
    }

    /// The configured failure mode.
    pub fn failure_mode(&self) -> FailureMode {
        self.inner.failure
    }

    async fn eval(
        &self,
        policy: &Policy,
        key: &str,
    ) -> Result<Decision, (FailureKind, &'static str)> {
        let inner = &self.inner;
        let Some(mut conn) = inner.connector.get().await else {
            return Err((FailureKind::NotConnected, "no connection to redis"));
        };
        let bounded = bounded_key(key);
        let mut invocation = inner.script.prepare_invoke();
        for w in policy.windows() {
            invocation.key(window_key(
                &inner.prefix,
                policy.name(),
                &bounded,
                w.seconds,
            ));
        }
        for w in policy.windows() {
            invocation.arg(w.limit);
        }
        for w in policy.windows() {
            invocation.arg(w.millis());
        }
        let reply: Vec<i64> = invocation.invoke_async(&mut conn).await.map_err(|e| {
            if e.is_timeout() {
                (FailureKind::Timeout, "response timeout")
            } else if e.is_connection_refusal() || e.is_connection_dropped() || e.is_io_error() {
                (FailureKind::Redis, "connection error")
            } else {
                (FailureKind::Redis, "redis error reply")
            }
        })?;
        parse_reply(policy, &reply).ok_or((FailureKind::BadReply, "unexpected script reply"))
    }
}

/// `key` in lower-case hex.
fn hex_key(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Redis key of one backoff state: every key of a group shares the hash tag
/// `{bo:<group>}`, so one script can update them all on a cluster.
fn backoff_key(prefix: &str, group: &str, rule: &Backoff, key: &str) -> String {
    format!(
        "{prefix}:{{bo:{}}}:{}:{}",
        bounded_key(group),
        rule.name(),
        bounded_key(key)
    )
}

fn parse_reply(policy: &Policy, reply: &[i64]) -> Option<Decision> {
    let n = policy.windows().len();
    if reply.len() != n + 2 || n > MAX_WINDOWS {
        return None;
    }
    let allowed = match reply[0] {
        0 => false,
        1 => true,
        _ => return None,
    };
    let now_ms = u64::try_from(reply[1]).ok()?;
    let mut counts = [Observed { used: 0 }; MAX_WINDOWS];
    for (slot, c) in counts.iter_mut().zip(&reply[2..]) {
        slot.used = u64::try_from(*c).ok()?;
    }
    Some(Decision::from_counts(policy, now_ms, allowed, &counts[..n]))
}
