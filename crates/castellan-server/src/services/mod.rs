//! Use cases: each applies core rules and calls the store; handlers stay thin.

pub mod authenticate;
pub mod authorization_code;
pub mod authorize;
pub mod client_cache;
pub mod client_credentials;
pub mod clients;
pub mod connected_apps;
pub mod consent;
pub mod csrf;
pub mod grant_tokens;
pub mod id_token;
pub mod keys;
pub mod limits;
pub mod login;
pub mod login_throttle;
pub mod maintenance;
pub mod password_grant;
pub mod passwords;
pub mod refresh;
pub mod registration;
pub mod sessions;
pub mod tokens;
pub mod usage;
pub mod userinfo;
