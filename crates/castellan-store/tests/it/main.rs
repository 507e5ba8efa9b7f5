//! Integration tests of castellan-store: the conformance suite on every backend, and connecting.
//!
//! One test binary for the crate: `cargo test -p castellan-store --test it`, or one module with
//! `cargo test -p castellan-store --test it <module>::`.

mod conformance;
mod connect;
