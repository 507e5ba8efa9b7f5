//! The in-process store of growing delays ([`crate::Backoff`]): sharded maps from a keyed hash
//! of (group, rule, key) to its state. All keys of one group live in one shard, so an attempt
//! checks and counts every rule of its group under one lock. Memory is bounded like the
//! counters': expired states are purged first, then arbitrary ones are evicted (which hands
//! those keys a fresh start).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::backoff::{Backoff, BackoffDecision, BackoffState};
use crate::memory::PreHashed;

const SHARDS: usize = 64;
const MIN_SHARD_CAP: usize = 16;

type Shard = HashMap<u64, BackoffState, BuildHasherDefault<PreHashed>>;

#[derive(Debug)]
pub(crate) struct BackoffTable {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    shard_cap: usize,
}

impl BackoffTable {
    pub(crate) fn new(max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::default()))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
            hasher: RandomState::new(),
            shard_cap: (max_keys / SHARDS).max(MIN_SHARD_CAP),
        }
    }

    pub(crate) fn attempt(
        &self,
        group: &str,
        checks: &[(&Backoff, &str)],
        now_ms: u64,
    ) -> BackoffDecision {
        let mut shard = self.shard(group);
        let mut longest: Option<(&Backoff, u64)> = None;
        for (rule, key) in checks {
            let waiting = shard
                .get(&self.key(group, rule, key))
                .map_or(0, |s| s.waiting_ms(now_ms));
            if waiting > 0 && longest.is_none_or(|(_, w)| waiting > w) {
                longest = Some((rule, waiting));
            }
        }
        if let Some((rule, waiting)) = longest {
            return BackoffDecision::waiting(rule, waiting);
        }
        if shard.len() + checks.len() > self.shard_cap {
            make_room(&mut shard, self.shard_cap, now_ms);
        }
        for (rule, key) in checks {
            let state = shard.entry(self.key(group, rule, key)).or_default();
            *state = state.counted(rule, now_ms);
        }
        BackoffDecision::admitted()
    }

    pub(crate) fn forget(&self, group: &str, checks: &[(&Backoff, &str)]) {
        let mut shard = self.shard(group);
        for (rule, key) in checks {
            shard.remove(&self.key(group, rule, key));
        }
    }

    fn key(&self, group: &str, rule: &Backoff, key: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        group.hash(&mut h);
        rule.name().hash(&mut h);
        key.hash(&mut h);
        h.finish()
    }

    fn shard(&self, group: &str) -> MutexGuard<'_, Shard> {
        let top = self.hasher.hash_one(group) >> (64 - SHARDS.trailing_zeros());
        let i = usize::try_from(top).unwrap_or(0);
        // A panic while holding a shard leaves only whole states behind.
        self.shards[i % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn make_room(shard: &mut Shard, cap: usize, now_ms: u64) {
    shard.retain(|_, s| s.expires_ms > now_ms);
    if shard.len() >= cap {
        let excess = shard.len() - cap * 3 / 4;
        let victims: Vec<u64> = shard.keys().take(excess).copied().collect();
        for k in victims {
            shard.remove(&k);
        }
        tracing::debug!(
            evicted = excess,
            "in-process backoff shard full; evicted live keys"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn rules() -> (Backoff, Backoff) {
        (
            Backoff::new("a", "account", 4, 1000, 60_000, 600_000).unwrap(),
            Backoff::new("b", "account-ip", 2, 1000, 60_000, 600_000).unwrap(),
        )
    }

    #[test]
    fn every_rule_of_a_group_counts_only_when_none_waits() {
        let (account, pair) = rules();
        let t = BackoffTable::new(1000);
        let checks = |ip: &'static str| [(&account, ""), (&pair, ip)];
        assert!(t.attempt("ann", &checks("1.1.1.1"), 0).allowed);
        assert!(t.attempt("ann", &checks("1.1.1.1"), 0).allowed);
        // The pair's delay runs; the account is not counted for the refusal.
        let d = t.attempt("ann", &checks("1.1.1.1"), 10);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_seconds, Some(1));
        assert_eq!(d.rule.as_deref(), Some("account-ip"));
        assert!(t.attempt("ann", &checks("2.2.2.2"), 10).allowed);
        assert!(t.attempt("ann", &checks("3.3.3.3"), 10).allowed);
        // Four counted for the account: its delay now holds every address.
        let d = t.attempt("ann", &checks("4.4.4.4"), 20);
        assert_eq!(d.rule.as_deref(), Some("account"));
        assert!(t.attempt("bob", &checks("4.4.4.4"), 20).allowed);
        t.forget("ann", &checks("4.4.4.4"));
        assert!(t.attempt("ann", &checks("4.4.4.4"), 30).allowed);
    }

    #[test]
    fn concurrent_attempts_pass_no_more_than_the_free_ones() {
        let (account, _) = rules();
        let t = Arc::new(BackoffTable::new(1000));
        let passed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..32)
                .map(|_| {
                    let (t, account) = (Arc::clone(&t), account.clone());
                    s.spawn(move || usize::from(t.attempt("ann", &[(&account, "")], 5).allowed))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(passed, 4);
    }
}
