//! Integration tests of castellan-crypto: property tests of the compact JWS parser and verifier.
//!
//! One test binary for the crate: `cargo test -p castellan-crypto --test it`, or one module with
//! `cargo test -p castellan-crypto --test it <module>::`.

mod jws_props;
