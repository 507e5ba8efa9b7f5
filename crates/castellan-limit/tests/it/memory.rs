//! In-process limiter behaviour, driven by an injected clock (no sleeping).

// Test helpers may unwrap: a panic there is a failed assertion with a clear location.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use std::sync::Arc;

use castellan_limit::{ManualClock, MemoryLimiter, Outcome, Policy, Window};

/// Midnight UTC, divisible by every window used here.
const T0: u64 = 1_700_006_400_000;

fn limiter() -> (Arc<ManualClock>, MemoryLimiter) {
    let clock = Arc::new(ManualClock::new(T0));
    let limiter = MemoryLimiter::with_clock(100_000, Arc::<ManualClock>::clone(&clock));
    (clock, limiter)
}

fn policy(windows: &[(u64, u64)]) -> Policy {
    Policy::new(
        "test",
        windows.iter().map(|&(l, s)| Window::new(l, s)).collect(),
    )
    .unwrap()
}

#[test]
fn admits_exactly_the_limit_then_refuses() {
    let (_, l) = limiter();
    let p = policy(&[(3, 60)]);
    for expected_remaining in [2, 1, 0] {
        let d = l.check(&p, "k");
        assert!(d.allowed);
        assert_eq!(d.outcome, Outcome::Admitted);
        assert_eq!(d.windows[0].remaining, expected_remaining);
        assert_eq!(d.retry_after_seconds, None);
    }
    let d = l.check(&p, "k");
    assert!(!d.allowed);
    assert_eq!(d.outcome, Outcome::Limited);
    assert_eq!(d.windows[0].remaining, 0);
    // Other keys and other policies have their own counters.
    assert!(l.check(&p, "other").allowed);
    assert!(l.check(&policy(&[(3, 60), (10, 3600)]), "k").allowed);
}

#[test]
fn window_rolls_over_at_the_epoch_aligned_boundary() {
    let (clock, l) = limiter();
    let p = policy(&[(2, 60)]);
    clock.set_ms(T0 + 59_000);
    assert!(l.check(&p, "k").allowed);
    assert!(l.check(&p, "k").allowed);
    let refused = l.check(&p, "k");
    assert!(!refused.allowed);
    assert_eq!(refused.retry_after_seconds, Some(1));
    assert_eq!(refused.windows[0].reset_at, T0 / 1000 + 60);
    clock.set_ms(T0 + 59_999);
    assert!(!l.check(&p, "k").allowed);
    // The next window starts at T0 + 60 s: 2 × limit within two seconds is the documented bound.
    clock.set_ms(T0 + 60_000);
    let d = l.check(&p, "k");
    assert!(d.allowed);
    assert_eq!(d.windows[0].remaining, 1);
    assert_eq!(d.windows[0].reset_after_seconds, 60);
    assert_eq!(d.windows[0].reset_at, T0 / 1000 + 120);
}

#[test]
fn reset_is_rounded_up_never_early() {
    let (clock, l) = limiter();
    let p = policy(&[(1, 60)]);
    clock.set_ms(T0 + 52_001);
    assert!(l.check(&p, "k").allowed);
    let d = l.check(&p, "k");
    assert!(!d.allowed);
    // 7.999 s left: say 8, never 7.
    assert_eq!(d.retry_after_seconds, Some(8));
    assert_eq!(d.windows[0].reset_after_seconds, 8);
}

#[test]
fn refused_request_consumes_no_quota_in_any_window() {
    let (clock, l) = limiter();
    let p = policy(&[(2, 60), (100, 3600)]);
    assert!(l.check(&p, "k").allowed);
    assert!(l.check(&p, "k").allowed);
    for _ in 0..10 {
        let d = l.check(&p, "k");
        assert!(!d.allowed);
        // The hour window was not charged for the refusals.
        assert_eq!(d.windows[1].remaining, 98);
    }
    clock.advance_ms(60_000);
    let d = l.check(&p, "k");
    assert!(d.allowed);
    assert_eq!(d.windows[0].remaining, 1);
    assert_eq!(d.windows[1].remaining, 97);
}

#[test]
fn refusal_by_the_longer_window_does_not_charge_the_shorter() {
    let (clock, l) = limiter();
    let p = policy(&[(10, 60), (3, 3600)]);
    for _ in 0..3 {
        assert!(l.check(&p, "k").allowed);
    }
    let d = l.check(&p, "k");
    assert!(!d.allowed);
    assert_eq!(
        d.windows[0].remaining, 7,
        "minute window untouched by refusal"
    );
    assert_eq!(d.restrictive_index, 1);
    // Retry-After is the hour window's reset, not the minute's.
    assert_eq!(d.retry_after_seconds, Some(3600));
    clock.advance_ms(60_000);
    assert!(!l.check(&p, "k").allowed);
}

#[test]
fn most_restrictive_window_is_the_one_with_fewest_remaining() {
    let (clock, l) = limiter();
    let p = policy(&[(10, 60), (15, 3600)]);
    for _ in 0..10 {
        l.check(&p, "k");
    }
    let d = l.check(&p, "k");
    assert_eq!(d.restrictive_index, 0);
    assert_eq!(d.most_restrictive().unwrap().limit, 10);
    clock.advance_ms(60_000);
    for _ in 0..4 {
        l.check(&p, "k");
    }
    let d = l.check(&p, "k");
    assert!(d.allowed);
    assert_eq!(d.windows[0].remaining, 5);
    assert_eq!(d.windows[1].remaining, 0);
    assert_eq!(d.restrictive_index, 1);
    assert_eq!(d.most_restrictive().unwrap().limit, 15);
}

#[test]
fn ties_go_to_the_window_resetting_latest() {
    let (_, l) = limiter();
    let p = policy(&[(5, 60), (5, 3600)]);
    let d = l.check(&p, "k");
    assert_eq!(d.windows[0].remaining, 4);
    assert_eq!(d.windows[1].remaining, 4);
    assert_eq!(d.restrictive_index, 1);
}

#[test]
fn retry_after_is_the_latest_reset_among_refusing_windows() {
    let (clock, l) = limiter();
    let p = policy(&[(2, 60), (2, 3600)]);
    clock.set_ms(T0 + 30_000);
    l.check(&p, "k");
    l.check(&p, "k");
    let d = l.check(&p, "k");
    assert!(!d.allowed);
    assert_eq!(d.retry_after_seconds, Some(3570));
    // Retrying at that moment is admitted.
    clock.advance_ms(3_570_000);
    assert!(l.check(&p, "k").allowed);
}

#[test]
fn memory_is_bounded_by_the_key_cap() {
    let (_, l) = limiter();
    let small = MemoryLimiter::with_clock(1_024, Arc::new(ManualClock::new(T0)));
    let p = policy(&[(5, 60)]);
    for i in 0..50_000 {
        small.check(&p, &format!("key-{i}"));
    }
    assert!(small.len() <= small.capacity(), "{} keys", small.len());
    assert!(small.capacity() <= 2_048);
    // A megabyte-long hostile key costs one fixed-size entry.
    let huge = "x".repeat(1 << 20);
    assert!(l.check(&p, &huge).allowed);
    assert_eq!(l.len(), 1);
}

#[test]
fn entries_expire_after_their_longest_window() {
    let (clock, l) = limiter();
    let p = policy(&[(5, 60), (50, 3600)]);
    for i in 0..100 {
        l.check(&p, &format!("k{i}"));
    }
    clock.advance_ms(60_000);
    assert_eq!(l.purge_expired(), 0, "hour window still live");
    clock.set_ms(T0 + 3_600_000);
    assert_eq!(l.purge_expired(), 100);
    assert!(l.is_empty());
}

#[test]
fn concurrent_threads_admit_exactly_the_limit() {
    let (_, l) = limiter();
    let l = Arc::new(l);
    let p = Arc::new(policy(&[(500, 60), (10_000, 86_400)]));
    let admitted: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (l, p) = (Arc::clone(&l), Arc::clone(&p));
                s.spawn(move || (0..1_000).filter(|_| l.check(&p, "hot").allowed).count())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(admitted, 500);
}
