//! Integration tests of castellan-server: every endpoint over real HTTP against a server on
//! `127.0.0.1:0` (castellan-testkit), on SQLite or, with `CASTELLAN_TEST_BACKEND=postgres`,
//! PostgreSQL; the pages in headless Chromium and the gateway check behind nginx when asked.
//!
//! One test binary for the crate: `cargo test -p castellan-server --test it`, or one module with
//! `cargo test -p castellan-server --test it <module>::`.

mod account_api_keys;
mod api_keys;
mod audit;
mod authorize_flow;
mod bad_input;
mod body_limits;
mod browser;
mod browser_api_keys;
mod browser_console;
mod browser_oauth_apps;
mod client_secret_rotation;
mod client_tiers;
mod close_flow;
mod code_exchange;
mod connected_apps;
mod device;
mod disabled_people;
mod discovery;
mod dpop;
mod dpop_gateway;
mod error_characters;
mod fetch;
mod forward_auth;
mod gateway_listener;
mod introspection;
mod jwt_bearer;
mod logout;
mod management;
mod management_keys;
mod mcp;
mod members;
mod metadata_documents;
mod nginx;
mod oauth_apps;
mod openapi;
mod operations;
mod pages_security;
mod par;
mod passkeys;
mod password_grant;
mod private_key_jwt;
mod rate_limits;
mod rate_limits_redis;
mod refresh;
mod registration;
mod resources;
mod restarts;
mod revocation_feed;
mod schema_fuzz;
mod second_factor;
mod sessions;
mod support;
mod token;
mod token_exchange;
mod token_exchange_options;
mod userinfo;
mod well_known;
