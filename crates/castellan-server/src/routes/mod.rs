//! HTTP handlers, one file per resource; each is extract → authorize → one service call →
//! answer.

pub mod account;
pub mod account_api_keys;
pub mod api_keys;
pub mod authorize;
pub mod clients;
pub mod connected_apps;
pub mod consent;
pub mod discovery;
pub mod forward_auth;
pub mod health;
pub mod introspect;
pub mod login;
pub mod organizations;
pub mod pages;
pub mod register;
pub mod revocations;
pub mod revoke;
pub mod userinfo;
