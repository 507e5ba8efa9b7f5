//! Login throttling (SPEC 5.2, 8.1; OWASP authentication cheat sheet): failed sign-ins are
//! counted per account and per client IP in a bounded in-process cache; past the limit, a
//! sign-in is refused without checking the password, so the right password does not help
//! either. A counter forgets after `WINDOW` without a new failure (moka's time-to-live restarts
//! at each write). Each replica counts on its own: with N replicas the bound is N times higher.

use moka::sync::Cache;
use std::time::Duration;

/// Failed sign-ins allowed per account before it is throttled.
pub const ACCOUNT_LIMIT: u32 = 5;
/// Failed sign-ins allowed per client IP before it is throttled.
pub const IP_LIMIT: u32 = 20;
/// How long a counter is kept after its last failure.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most counters kept (the cache evicts the least used beyond).
const CAPACITY: u64 = 100_000;

#[derive(Debug)]
pub struct LoginThrottle {
    failures: Cache<String, u32>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            failures: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(WINDOW)
                .build(),
        }
    }
}

fn account_key(email: &str) -> String {
    format!("account:{email}")
}

fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

impl LoginThrottle {
    /// Whether a sign-in for `email` from `ip` must be refused now.
    pub fn is_throttled(&self, email: &str, ip: &str) -> bool {
        self.failures.get(&account_key(email)).unwrap_or(0) >= ACCOUNT_LIMIT
            || self.failures.get(&ip_key(ip)).unwrap_or(0) >= IP_LIMIT
    }

    /// Counts a failed sign-in.
    pub fn record_failure(&self, email: &str, ip: &str) {
        for key in [account_key(email), ip_key(ip)] {
            let n = self.failures.get(&key).unwrap_or(0).saturating_add(1);
            self.failures.insert(key, n);
        }
    }

    /// A successful sign-in clears the account's counter (not the IP's).
    pub fn record_success(&self, email: &str) {
        self.failures.invalidate(&account_key(email));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_per_account_and_per_ip() {
        let t = LoginThrottle::default();
        for _ in 0..ACCOUNT_LIMIT {
            assert!(!t.is_throttled("a@x", "1.1.1.1"));
            t.record_failure("a@x", "1.1.1.1");
        }
        assert!(t.is_throttled("a@x", "2.2.2.2"));
        assert!(!t.is_throttled("b@x", "2.2.2.2"));
        for i in 0..IP_LIMIT {
            t.record_failure(&format!("u{i}@x"), "3.3.3.3");
        }
        assert!(t.is_throttled("new@x", "3.3.3.3"));
    }
}
