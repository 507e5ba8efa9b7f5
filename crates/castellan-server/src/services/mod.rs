//! Use cases: each applies core rules and calls the store; handlers stay thin.

pub mod authenticate;
pub mod client_cache;
pub mod client_credentials;
pub mod clients;
pub mod keys;
pub mod limits;
pub mod maintenance;
pub mod registration;
pub mod tokens;
pub mod usage;
