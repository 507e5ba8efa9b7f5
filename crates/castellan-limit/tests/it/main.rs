//! Integration tests of castellan-limit: configuration, headers, the in-process and the Redis limiter.
//!
//! One test binary for the crate: `cargo test -p castellan-limit --test it`, or one module with
//! `cargo test -p castellan-limit --test it <module>::`.

mod config;
mod headers;
mod memory;
mod redis;
