//! The management API: API clients, API keys and who may manage which of them, and the
//! OpenAPI document describing it.

pub mod api_keys;
pub mod client_keys;
pub mod client_secret;
pub mod client_update;
pub mod clients;
pub mod http;
pub mod key_reach;
