//! The in-process limiter: fixed windows aligned to the Unix epoch, counted in sharded
//! `std::sync::Mutex<HashMap>`s. A check locks one shard for a few dozen nanoseconds and
//! never awaits. Memory is bounded: keys are stored as a keyed 64-bit hash (hostile key
//! strings cost nothing to keep), an entry is dead once its longest window has ended, and each
//! shard holds at most `max_keys / SHARDS` entries (expired entries are purged first, then
//! arbitrary ones are evicted, which hands those keys a fresh quota).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::backoff::{Backoff, BackoffDecision};
use crate::clock::{Clock, SystemClock};
use crate::decision::{Decision, Observed};
use crate::memory_backoff::BackoffTable;
use crate::policy::Policy;
use crate::validate::MAX_WINDOWS;
use crate::window::Window;

/// Number of shards (a power of two). 64 keeps contention low on any realistic core count.
const SHARDS: usize = 64;
/// Smallest per-shard capacity, so tiny `max_keys` values still work.
const MIN_SHARD_CAP: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Index of the epoch-aligned window this count belongs to (`now_ms / window_ms`).
    window: u64,
    count: u64,
}

impl Slot {
    const EMPTY: Slot = Slot {
        window: u64::MAX,
        count: 0,
    };
}

#[derive(Debug)]
struct Entry {
    /// When the longest window counted ends; afterwards the entry holds nothing.
    expires_ms: u64,
    slots: Box<[Slot]>,
}

/// The map key is already a SipHash output; this hasher only spreads it again, because the
/// shard index used its top bits.
#[derive(Default)]
pub(crate) struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = HashMap<u64, Entry, BuildHasherDefault<PreHashed>>;

/// Rate limiter keeping counters in this process.
#[derive(Debug)]
pub struct MemoryLimiter {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
    shard_cap: usize,
    /// The growing delays ([`crate::Backoff`]), bounded like the counters.
    backoff: BackoffTable,
}

impl MemoryLimiter {
    /// A limiter on the system clock tracking at most about `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        Self::with_clock(max_keys, Arc::new(SystemClock))
    }

    /// A limiter reading time from `clock` (inject a [`crate::ManualClock`] in tests).
    pub fn with_clock(max_keys: usize, clock: Arc<dyn Clock>) -> Self {
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Shard::default()))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        Self {
            shards,
            hasher: RandomState::new(),
            clock,
            shard_cap: (max_keys / SHARDS).max(MIN_SHARD_CAP),
            backoff: BackoffTable::new(max_keys),
        }
    }

    /// Checks and, if no delay is running, counts one attempt of `group` under every
    /// `(rule, key)` of `checks`, atomically ([`crate::Limiter::attempt`]).
    pub fn attempt(&self, group: &str, checks: &[(&Backoff, &str)]) -> BackoffDecision {
        self.backoff.attempt(group, checks, self.clock.now_ms())
    }

    /// Forgets the attempts of `group` under `checks` (after a success).
    pub fn forget(&self, group: &str, checks: &[(&Backoff, &str)]) {
        self.backoff.forget(group, checks);
    }

    /// Checks and, if admitted, counts one request for `key` under `policy`, now.
    pub fn check(&self, policy: &Policy, key: &str) -> Decision {
        self.check_at(policy, key, self.clock.now_ms())
    }

    /// As [`MemoryLimiter::check`] at an explicit time in Unix milliseconds.
    pub fn check_at(&self, policy: &Policy, key: &str, now_ms: u64) -> Decision {
        let windows = policy.windows();
        let n = windows.len().min(MAX_WINDOWS);
        let mut used = [Observed { used: 0 }; MAX_WINDOWS];
        let hash = self.hash(policy, key);
        let allowed = {
            let mut shard = self.shard(hash);
            match shard.get_mut(&hash) {
                Some(entry) => count(entry, &windows[..n], now_ms, &mut used),
                None => {
                    if shard.len() >= self.shard_cap {
                        make_room(&mut shard, self.shard_cap, now_ms);
                    }
                    let entry = shard.entry(hash).or_insert_with(|| Entry {
                        expires_ms: 0,
                        slots: vec![Slot::EMPTY; n].into_boxed_slice(),
                    });
                    count(entry, &windows[..n], now_ms, &mut used)
                }
            }
        };
        Decision::from_counts(policy, now_ms, allowed, &used[..n])
    }

    /// Drops every entry whose windows have all ended. Checks also do this when a shard is
    /// full; a server may call it periodically to return memory sooner.
    pub fn purge_expired(&self) -> usize {
        let now_ms = self.clock.now_ms();
        let mut removed = 0;
        for shard in &self.shards {
            let mut shard = lock(shard);
            let before = shard.len();
            shard.retain(|_, e| e.expires_ms > now_ms);
            removed += before - shard.len();
        }
        removed
    }

    /// Number of keys currently tracked (all policies).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// True when no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys kept before eviction.
    pub fn capacity(&self) -> usize {
        self.shard_cap * SHARDS
    }

    fn hash(&self, policy: &Policy, key: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        policy.name().hash(&mut h);
        key.hash(&mut h);
        h.finish()
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        // Top bits pick the shard; `SHARDS` is a power of two.
        let i = usize::try_from(hash >> (64 - SHARDS.trailing_zeros())).unwrap_or(0);
        lock(&self.shards[i % SHARDS])
    }
}

/// A panic while holding a shard cannot leave it inconsistent (all updates are plain stores),
/// so a poisoned lock is used as is.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Check every window, then count in every window only if all admit.
fn count(entry: &mut Entry, windows: &[Window], now_ms: u64, used: &mut [Observed]) -> bool {
    if entry.slots.len() != windows.len() {
        // The policy was redefined with other windows; start it afresh.
        entry.slots = vec![Slot::EMPTY; windows.len()].into_boxed_slice();
    }
    let mut allowed = true;
    for ((w, s), u) in windows.iter().zip(entry.slots.iter()).zip(used.iter_mut()) {
        let current = now_ms / w.millis();
        let c = if s.window == current { s.count } else { 0 };
        u.used = c;
        if c >= w.limit {
            allowed = false;
        }
    }
    if allowed {
        let mut expires = entry.expires_ms;
        for ((w, s), u) in windows
            .iter()
            .zip(entry.slots.iter_mut())
            .zip(used.iter_mut())
        {
            let wms = w.millis();
            let current = now_ms / wms;
            if s.window != current {
                *s = Slot {
                    window: current,
                    count: 0,
                };
            }
            s.count += 1;
            u.used = s.count;
            expires = expires.max((current + 1).saturating_mul(wms));
        }
        entry.expires_ms = expires;
    }
    allowed
}

/// Purge expired entries; if the shard is still full, evict arbitrary entries down to 3/4 of
/// the cap so the O(n) work is amortised over many inserts.
fn make_room(shard: &mut Shard, cap: usize, now_ms: u64) {
    shard.retain(|_, e| e.expires_ms > now_ms);
    if shard.len() >= cap {
        let excess = shard.len() - cap * 3 / 4;
        let victims: Vec<u64> = shard.keys().take(excess).copied().collect();
        for k in victims {
            shard.remove(&k);
        }
        tracing::debug!(
            evicted = excess,
            "in-process rate limiter shard full; evicted live keys"
        );
    }
}
