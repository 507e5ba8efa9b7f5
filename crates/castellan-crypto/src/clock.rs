//! The clock Castellan reads. Core rules take `now` as an argument; the server asks a `Clock`,
//! which tests replace with a fixed or steerable one.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

/// Where the current time comes from: the system in production, a [`ManualClock`] in tests.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// `now()` as Unix milliseconds (the rate limiter's time, read on every limited request).
    fn now_millis(&self) -> i64 {
        self.now().timestamp_millis()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Straight from the system time, without building a calendar date and time first.
    fn now_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that tests move by hand. Starts at the given instant; `advance` moves it forward.
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicI64,
}

impl ManualClock {
    /// A clock standing still at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            millis: AtomicI64::new(start.timestamp_millis()),
        }
    }

    /// Moves the clock forward by `by` (backwards when negative).
    pub fn advance(&self, by: chrono::Duration) {
        self.millis
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_millis()).unwrap_or_default()
    }

    fn now_millis(&self) -> i64 {
        self.millis.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_millis_agrees_with_now() {
        let clock = SystemClock;
        let before = clock.now().timestamp_millis();
        let millis = clock.now_millis();
        let after = clock.now().timestamp_millis();
        assert!(
            before <= millis && millis <= after,
            "{before} {millis} {after}"
        );

        let start = DateTime::from_timestamp_millis(1_704_067_210_123).unwrap_or_default();
        let manual = ManualClock::new(start);
        assert_eq!(manual.now_millis(), 1_704_067_210_123);
        manual.advance(chrono::Duration::milliseconds(877));
        assert_eq!(manual.now_millis(), 1_704_067_211_000);
        assert_eq!(manual.now().timestamp_millis(), manual.now_millis());
    }
}
