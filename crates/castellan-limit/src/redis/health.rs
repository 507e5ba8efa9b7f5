//! Health bookkeeping of the Redis limiter: a failure counter the server can export as a
//! metric, and logging that says once per interval (not once per request) that Redis is
//! failing, then once that it recovered. Log lines carry the failure category, never a key.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::FailureMode;

/// At most one warning per this interval while Redis keeps failing.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Why a Redis check could not be answered by Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No connection yet (still connecting, or the server refused/was unreachable).
    NotConnected,
    /// The check did not finish within `redis_timeout_ms`.
    Timeout,
    /// Redis answered with an error or the connection broke.
    Redis,
    /// The script's reply had an unexpected shape.
    BadReply,
}

impl FailureKind {
    fn as_str(self) -> &'static str {
        match self {
            FailureKind::NotConnected => "not_connected",
            FailureKind::Timeout => "timeout",
            FailureKind::Redis => "redis_error",
            FailureKind::BadReply => "bad_reply",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Health {
    started: Instant,
    failures: AtomicU64,
    suppressed: AtomicU64,
    /// Milliseconds since `started` of the last warning, plus one (0 = never).
    last_log: AtomicU64,
    degraded: AtomicBool,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            failures: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            last_log: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
        }
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub(crate) fn record_failure(&self, kind: FailureKind, mode: FailureMode, detail: &str) {
        let total = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        self.degraded.store(true, Ordering::Relaxed);
        let now = u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let last = self.last_log.load(Ordering::Relaxed);
        let interval = u64::try_from(LOG_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        let due = last == 0 || now.saturating_sub(last) >= interval;
        if due
            && self
                .last_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            let answer = match mode {
                FailureMode::Open => "failing open (requests admitted)",
                FailureMode::Closed => "failing closed (requests refused)",
            };
            tracing::warn!(
                failure = kind.as_str(),
                detail,
                total_failures = total,
                suppressed_since_last_log = suppressed,
                "redis rate limiter unavailable; {answer}"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn record_success(&self) {
        if self.degraded.load(Ordering::Relaxed) && self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!(
                total_failures = self.failures(),
                "redis rate limiter recovered"
            );
        }
    }
}
