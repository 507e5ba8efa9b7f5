//! Use cases: each applies core rules and calls the store; handlers stay thin.

pub mod api_keys;
pub mod authorize;
pub mod client_cache;
pub mod clients;
pub mod connected_apps;
pub mod consent;
pub mod csrf;
pub mod forward_auth;
pub mod id_token;
pub mod key_reach;
pub mod keys;
pub mod known_device;
pub mod limits;
pub mod login;
pub mod login_throttle;
pub mod maintenance;
pub mod memberships;
pub mod organizations;
pub mod passwords;
pub mod registration;
pub mod sessions;
pub mod tenant;
pub mod token_cache;
pub mod tokens;
pub mod usage;
pub mod userinfo;
