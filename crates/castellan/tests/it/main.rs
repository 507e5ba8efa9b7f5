//! Integration tests of the `castellan` binary: `init`, `serve`, `migrate`, `clients`,
//! `keys`, `api-keys`, `users`/`orgs` and `doctor`, run as child processes.
//!
//! One test binary for the crate: `cargo test -p castellan --test it`, or one module with
//! `cargo test -p castellan --test it <module>::`.

mod api_keys_cli;
mod audit_cli;
mod cli;
mod doctor;
mod people_cli;
mod support;
