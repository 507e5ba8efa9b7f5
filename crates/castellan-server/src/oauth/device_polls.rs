//! Devices' polls (RFC 8628 §3.5), kept in this process: when each device last polled and
//! how long it must wait, and the pending authorizations polls found, so that a device
//! polling while its person has not decided costs a cache lookup, not a storage read. A
//! decision on this replica forgets its entry at once; one made on another replica is seen
//! within one polling interval.

use crate::platform::config::DeviceConfig;
use castellan_store::device::DeviceAuthorization;
use std::sync::Arc;
use std::time::Duration;

/// Devices' polls: their pace, and the pending authorizations they found.
#[derive(Clone)]
pub struct Polls {
    seen: moka::sync::Cache<[u8; 32], (i64, u32)>,
    pending: moka::sync::Cache<[u8; 32], Arc<DeviceAuthorization>>,
    interval: u32,
}

impl Polls {
    /// Paces of devices whose codes live `config.code_seconds`.
    pub fn new(config: &DeviceConfig) -> Self {
        Polls {
            seen: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(u64::from(config.code_seconds)))
                .build(),
            pending: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(u64::from(config.interval_seconds)))
                .build(),
            interval: config.interval_seconds,
        }
    }

    /// The pending authorization a poll of `device_hash` found lately, if any.
    pub fn pending(&self, device_hash: &[u8; 32]) -> Option<Arc<DeviceAuthorization>> {
        self.pending.get(device_hash)
    }

    /// Remembers a pending authorization a poll found (for one polling interval).
    pub fn remember_pending(&self, d: Arc<DeviceAuthorization>) {
        self.pending.insert(d.device_hash, d);
    }

    /// Forgets what polls found of `device_hash`: its person decided.
    pub fn decided(&self, device_hash: &[u8; 32]) {
        self.pending.invalidate(device_hash);
    }

    /// Records a poll of the device `device_hash` at `now_ms`: `Err(interval)` when it came
    /// sooner than its interval after the last one (the interval, now 5 s longer, RFC 8628
    /// §3.5), `Ok(())` otherwise.
    pub fn poll(&self, device_hash: &[u8; 32], now_ms: i64) -> Result<(), u32> {
        let (last, interval) = self
            .seen
            .get(device_hash)
            .unwrap_or((i64::MIN, self.interval));
        if now_ms.saturating_sub(last) < i64::from(interval) * 1000 {
            let slower = interval.saturating_add(5);
            self.seen.insert(*device_hash, (now_ms, slower));
            return Err(slower);
        }
        self.seen.insert(*device_hash, (now_ms, interval));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_sooner_than_the_interval_slows_the_device_down() {
        let polls = Polls::new(&DeviceConfig {
            code_seconds: 600,
            interval_seconds: 5,
        });
        let d = [1; 32];
        assert_eq!(polls.poll(&d, 0), Ok(()));
        assert_eq!(polls.poll(&d, 4_000), Err(10));
        // Now it must wait 10 s.
        assert_eq!(polls.poll(&d, 12_000), Err(15));
        assert_eq!(polls.poll(&d, 27_000), Ok(()));
        assert_eq!(polls.poll(&[2; 32], 27_000), Ok(()));
    }
}
