//! Test kit: a real Castellan server on `127.0.0.1:0` with a fresh database, and helpers to
//! talk to it over HTTP. Used by the integration tests of every crate.
//!
//! The backend comes from the environment: `CASTELLAN_TEST_BACKEND=postgres` (with
//! `CASTELLAN_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`) runs on a
//! fresh PostgreSQL schema; otherwise a temporary SQLite file. A test asked to use PostgreSQL
//! that cannot reach it fails.
//!
//! - [`database`]: the backend of this process, a fresh database per test, free ports;
//! - [`spawn`]: [`TestApp`], a running server (and replicas of it on the same database);
//! - [`oauth`]: tokens and introspection as a client of that server;
//! - [`clients`]: clients created through the management API;
//! - [`pages`]: a page's answer and the form fields a test reads from it;
//! - [`people`]: people, organizations, memberships and authorization codes, and the
//!   authorization-code, refresh and revocation requests of the people-and-grants tests;
//! - [`nginx`]: a real nginx in front of the servers under test;
//! - [`private`]: a PostgreSQL cluster and a Redis server of a test's own, to stop and start.
#![warn(missing_docs)]
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test-only crate: a failed set-up stops the test, like a failed assertion"
)]

pub mod clients;
pub mod database;
pub mod nginx;
pub mod oauth;
pub mod pages;
pub mod people;
pub mod private;
pub mod spawn;

pub use castellan_crypto::clock::ManualClock;
pub use clients::Cred;
pub use database::{backend_from_env, free_port, fresh_database};
pub use spawn::TestApp;
