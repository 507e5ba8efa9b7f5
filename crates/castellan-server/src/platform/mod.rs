//! What every capability stands on: configuration, the shared state, signing keys, start-up
//! (the bootstrap client), background upkeep, usage recording, the replay check of one-time ids, and the HTTP plumbing shared by
//! all handlers (bodies, JSON, health and metrics), and outgoing mail.

pub mod bootstrap;
pub mod config;
pub mod config_source;
pub mod edge;
pub mod fetch;
pub mod http;
pub mod keys;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod replay;
pub mod state;
pub mod upkeep;
pub mod usage;
pub mod well_known;
