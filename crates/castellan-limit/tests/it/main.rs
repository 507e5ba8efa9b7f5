//! Integration tests of castellan-limit: the `[rate_limit]` configuration, the rendered headers,
//! the in-process limiter and the Redis limiter.
//!
//! One test binary for the crate: `cargo test -p castellan-limit --test it`, or one module with
//! `cargo test -p castellan-limit --test it <module>::`.

mod config;
mod headers;
mod memory;
mod redis;
