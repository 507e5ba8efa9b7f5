//! The gateway check that guards every API call: forward-auth with its route policies, API
//! keys, tenant tokens (`POST /auth`) and the membership cache behind role checks. A new
//! gateway check lives here: its rule in a module of its own, its HTTP side in [`http`].

pub mod api_keys;
pub mod config;
pub mod forward_auth;
pub mod http;
pub mod key_cache;
pub mod memberships;
pub mod resource_metadata;
pub mod tenant;
