//! Integration tests of castellan-guard: the example catalog behind a real Castellan, tenants,
//! the revocation feed, the documented configuration, and property tests of its parsers and of
//! its JWT check.
//!
//! One test binary for the crate: `cargo test -p castellan-guard --test it`, or one module with
//! `cargo test -p castellan-guard --test it <module>::`.

mod audience;
mod catalog;
mod docs_config;
mod dpop;
mod jwt_props;
mod limits;
mod parsers;
mod revocation;
mod support;
mod tenant;
