//! Integration tests of the `castellan` binary: `init`, `serve`, `migrate`, `clients`,
//! `keys`, `api-keys`, `users`/`orgs` and `doctor`, run as child processes; a node killed
//! mid-write (`crash`) and the replica recipe of `deploy/` behind nginx (`replicas`).
//!
//! One test binary for the crate: `cargo test -p castellan --test it`, or one module with
//! `cargo test -p castellan --test it <module>::`.

mod api_keys_cli;
mod audit_cli;
mod cli;
mod crash;
mod doctor;
mod people_cli;
mod replicas;
mod server;
mod support;
