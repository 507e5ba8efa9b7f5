//! Login throttling (OWASP authentication cheat sheet): growing delays on
//! sign-in attempts, shared by `POST /login` and the password grant.
//!
//! Every attempt is counted before its password is checked, per account and per account and
//! address, in one atomic step of the configured limiter (`castellan-limit`'s
//! [`Backoff`]; in-process, or Redis shared by every replica). The first attempts pass at
//! once; after them each attempt must wait a delay that doubles with every further attempt, up
//! to a cap; an attempt made while the delay runs is refused (429 with `Retry-After`) without
//! its password being checked and without being counted. Because the count is taken before
//! the check, concurrent guesses can never get more than the free attempts past the check.
//!
//! A delay, unlike a lockout, always ends: the person whose account it is can still sign in
//! after waiting, and the account-wide cap is kept short because anyone can make it run. A
//! successful sign-in clears both counts (it only counted to keep concurrent guesses out).
//!
//! A browser that signed in to the account before (`known_device`) is counted per device
//! instead, under the per-address rule's settings: guesses spread over many addresses keep the
//! account-wide delay running for everyone else, never for the person on their own browser.

use crate::platform::config::{ConfigError, LoginThrottleConfig};
use castellan_limit::{Backoff, Limiter, Outcome};

/// The two growing-delay rules of sign-in attempts.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    per_account: Backoff,
    per_address: Backoff,
    per_device: Backoff,
}

/// An attempt refused because a delay is running (or, with `redis_failure = "closed"`,
/// because the shared limiter cannot be asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginDelayed {
    /// Seconds to wait (`Retry-After`).
    pub retry_after_seconds: u64,
    /// The limiter could not be asked and fails closed: 503, not 429.
    pub unavailable: bool,
}

const MAX_SECONDS: u64 = 86_400;

fn check_range(key: &str, value: u64, low: u64, high: u64, unit: &str) -> Result<(), ConfigError> {
    if (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "pages.login_throttle.{key} must be between {low} and {high}{unit}"
        )))
    }
}

impl LoginThrottle {
    /// The rules of `[pages.login_throttle]`; the error names the bad key.
    pub fn new(c: &LoginThrottleConfig) -> Result<Self, ConfigError> {
        check_range("per_address_free", c.per_address_free, 1, 1_000_000, "")?;
        check_range("per_account_free", c.per_account_free, 1, 1_000_000, "")?;
        for (key, v) in [
            ("first_delay_seconds", c.first_delay_seconds),
            (
                "per_address_max_delay_seconds",
                c.per_address_max_delay_seconds,
            ),
            (
                "per_account_max_delay_seconds",
                c.per_account_max_delay_seconds,
            ),
            ("forget_seconds", c.forget_seconds),
        ] {
            check_range(key, v, 1, MAX_SECONDS, " seconds")?;
        }
        for (key, v) in [
            (
                "per_address_max_delay_seconds",
                c.per_address_max_delay_seconds,
            ),
            (
                "per_account_max_delay_seconds",
                c.per_account_max_delay_seconds,
            ),
        ] {
            if v < c.first_delay_seconds {
                return Err(ConfigError(format!(
                    "pages.login_throttle.{key} must not be shorter than first_delay_seconds"
                )));
            }
        }
        let rule = |name: &str, free: u64, max: u64| {
            Backoff::new(
                "pages.login_throttle",
                name,
                free,
                c.first_delay_seconds * 1000,
                max * 1000,
                c.forget_seconds * 1000,
            )
            .map_err(|e| ConfigError(e.to_string()))
        };
        Ok(LoginThrottle {
            per_account: rule(
                "login-account",
                c.per_account_free,
                c.per_account_max_delay_seconds,
            )?,
            per_address: rule(
                "login-account-address",
                c.per_address_free,
                c.per_address_max_delay_seconds,
            )?,
            per_device: rule(
                "login-account-device",
                c.per_address_free,
                c.per_address_max_delay_seconds,
            )?,
        })
    }

    /// Counts one sign-in attempt for `account` (a normalised email, or what was typed when it
    /// is not one) from `address`, or refuses it while a delay runs.
    pub async fn attempt(
        &self,
        limiter: &Limiter,
        account: &str,
        address: &str,
    ) -> Result<(), LoginDelayed> {
        let d = limiter
            .attempt(
                account,
                &[(&self.per_account, ""), (&self.per_address, address)],
            )
            .await;
        refused(d)
    }

    /// Counts one sign-in attempt for `account` from a device known to have signed in to it
    /// (`device` is its id), per device only, or refuses it while that device's delay runs.
    pub async fn attempt_known(
        &self,
        limiter: &Limiter,
        account: &str,
        device: &str,
    ) -> Result<(), LoginDelayed> {
        let d = limiter
            .attempt(account, &[(&self.per_device, device)])
            .await;
        refused(d)
    }

    /// A successful sign-in from a known device: its count starts again (the account-wide one
    /// is left running, so the owner signing in never gives guessers new free attempts).
    pub async fn succeeded_known(&self, limiter: &Limiter, account: &str, device: &str) {
        limiter.forget(account, &[(&self.per_device, device)]).await;
    }

    /// A right answer from `address` where the account-wide count must keep running (a second
    /// factor: whoever guesses codes would otherwise get the free attempts back each time the
    /// person signs in): only the count of that address starts again.
    pub async fn succeeded_at_address(&self, limiter: &Limiter, account: &str, address: &str) {
        limiter
            .forget(account, &[(&self.per_address, address)])
            .await;
    }

    /// A successful sign-in: both counts of the account start again.
    pub async fn succeeded(&self, limiter: &Limiter, account: &str, address: &str) {
        limiter
            .forget(
                account,
                &[(&self.per_account, ""), (&self.per_address, address)],
            )
            .await;
    }
}

/// `Ok` when the limiter let the attempt through, else the delay to answer.
fn refused(d: castellan_limit::BackoffDecision) -> Result<(), LoginDelayed> {
    if d.allowed {
        return Ok(());
    }
    Err(LoginDelayed {
        retry_after_seconds: d.retry_after_seconds.unwrap_or(1),
        unavailable: d.outcome == Outcome::FailedClosed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_with_their_keys() {
        assert!(LoginThrottle::new(&LoginThrottleConfig::default()).is_ok());
        let bad = LoginThrottleConfig {
            per_address_free: 0,
            ..LoginThrottleConfig::default()
        };
        let e = LoginThrottle::new(&bad).unwrap_err();
        assert!(e.0.contains("pages.login_throttle.per_address_free"), "{e}");
        let bad = LoginThrottleConfig {
            first_delay_seconds: 120,
            ..LoginThrottleConfig::default()
        };
        let e = LoginThrottle::new(&bad).unwrap_err();
        assert!(
            e.0.contains("pages.login_throttle.per_account_max_delay_seconds"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn delays_grow_and_a_success_clears_them() {
        let clock = std::sync::Arc::new(castellan_limit::ManualClock::new(1_000_000));
        let limiter = Limiter::InProcess(castellan_limit::MemoryLimiter::with_clock(
            1000,
            std::sync::Arc::<castellan_limit::ManualClock>::clone(&clock),
        ));
        let t = LoginThrottle::new(&LoginThrottleConfig::default()).unwrap();
        for _ in 0..5 {
            t.attempt(&limiter, "a@x", "1.1.1.1").await.unwrap();
        }
        let waits: Vec<u64> = {
            let mut w = Vec::new();
            for _ in 0..4 {
                let d = t.attempt(&limiter, "a@x", "1.1.1.1").await.unwrap_err();
                w.push(d.retry_after_seconds);
                clock.advance_ms(d.retry_after_seconds * 1000);
                t.attempt(&limiter, "a@x", "1.1.1.1").await.unwrap();
            }
            w
        };
        assert_eq!(waits, [1, 2, 4, 8]);
        // Another address is not held by this one's delay.
        t.attempt(&limiter, "a@x", "2.2.2.2").await.unwrap();
        t.succeeded(&limiter, "a@x", "1.1.1.1").await;
        t.attempt(&limiter, "a@x", "1.1.1.1").await.unwrap();
    }
}
