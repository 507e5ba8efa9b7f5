//! Castellan's rate limits: which policy applies, how requests are counted, and how
//! the answer is told to clients.
//!
//! * [`RateLimitConfig`] is the `[rate_limit]` config table; [`RateLimitConfig::validate`]
//!   turns it into [`RateLimits`] (policies, tiers, per-IP policies, backend, header style),
//!   with errors naming the exact key.
//! * [`Limiter`] counts: [`MemoryLimiter`] in this process, [`RedisLimiter`] shared by all
//!   replicas with one `EVALSHA` round trip per check. [`Limiter::check`] returns a
//!   [`Decision`] and never fails; an unreachable Redis answers per `redis_failure`.
//! * [`Backoff`] is a growing delay (sign-in attempts): [`Limiter::attempt`] counts an attempt
//!   under several rules of one group at once, on the same backend as the counters.
//! * [`headers`] / [`http_headers`] / [`write_headers`] render `RateLimit-*`, `X-RateLimit-*` and `Retry-After`;
//!   [`rate_limited_body`] builds the 429 JSON body.
//!
//! # Algorithm and its bound
//!
//! Fixed windows aligned to the Unix epoch (a 60 s window runs from :00 to :59 of each minute).
//! Within one window the admitted count is exact: never more than `limit` per key and window,
//! for the in-process backend per process and for Redis across all replicas together (the
//! check-and-increment of all windows is one atomic Lua script). Across a window boundary a
//! client can be admitted up to `limit` at the end of one window and `limit` again at the
//! start of the next, so any sliding interval of the window's length admits at most
//! **2 × limit**. A multi-window policy admits a request only if every window admits it, and a
//! refused request is counted in no window. With the in-process backend and N replicas behind
//! a load balancer, the fleet admits at most N × limit per window.
//!
//! # Example
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use castellan_limit::{headers, Limiter, RateLimitConfig};
//!
//! let limits = RateLimitConfig::default().validate()?;
//! let limiter = Limiter::from_settings(&limits.backend)?;
//! let decision = limiter.check(limits.tier_or_default("default"), "key_01H").await;
//! for (name, value) in headers(&decision, limits.header_style) {
//!     println!("{name}: {value}");
//! }
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod backoff;
mod body;
mod clock;
mod config;
mod decision;
mod error;
pub mod headers;
mod key;
mod limiter;
mod memory;
mod memory_backoff;
mod policy;
mod redis;
mod validate;
mod window;

pub use backoff::{Backoff, BackoffDecision, MAX_BACKOFF_MS};
pub use body::{rate_limited_body, RateLimitedBody};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    builtin_policies, defaults, Backend, BackendSettings, FailureMode, HeaderStyle, PerIpConfig,
    PerIpPolicies, PolicyConfig, RateLimitConfig, RateLimits, RedisSettings, RedisUrl,
    DEFAULT_TIER,
};
pub use decision::{Decision, Outcome, WindowState};
pub use error::{ConfigError, ConfigErrors, LimitError};
pub use headers::{headers, http_headers, refresh_headers, write_headers};
pub use limiter::Limiter;
pub use memory::MemoryLimiter;
pub use policy::Policy;
pub use redis::{FailureKind, RedisLimiter};
pub use validate::{MAX_LIMIT, MAX_WINDOWS, MAX_WINDOW_SECONDS};
pub use window::Window;
