//! Per-entry lifetimes for the guard's caches: a verified token is remembered until the sooner
//! of its expiry and the configured TTL; introspection answers until theirs.

use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// A cached value with the time it may be kept.
#[derive(Debug, Clone)]
pub(crate) struct Timed<V> {
    pub value: V,
    pub ttl: Duration,
}

/// The moka expiry policy reading [`Timed::ttl`].
pub(crate) struct PerEntry;

impl<K, V> moka::Expiry<K, Timed<V>> for PerEntry {
    fn expire_after_create(&self, _: &K, v: &Timed<V>, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// The TTL of a credential that expires at `exp` (Unix seconds), capped at `max`.
pub(crate) fn until(exp: Option<i64>, now: i64, max: Duration) -> Duration {
    match exp {
        Some(exp) => {
            let left = u64::try_from(exp.saturating_sub(now)).unwrap_or(0);
            max.min(Duration::from_secs(left))
        }
        None => max,
    }
}

/// The cache key of a credential: its SHA-256, so the cache never holds the credential.
pub(crate) fn cache_key(kind: u8, credential: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([kind]);
    h.update(credential.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_never_outlives_the_credential() {
        let max = Duration::from_secs(300);
        assert_eq!(until(Some(160), 100, max), Duration::from_secs(60));
        assert_eq!(until(Some(1_000), 100, max), max);
        assert_eq!(until(Some(50), 100, max), Duration::ZERO);
        assert_eq!(until(None, 100, max), max);
    }
}
