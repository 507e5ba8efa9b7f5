//! Castellan's pure domain: the rules an authorization server applies, with no I/O.
//!
//! Nothing here reads the clock, draws randomness or touches storage: callers pass `now` and
//! random bytes in, so every rule is testable with fixed inputs. The server crate turns these
//! rules into HTTP answers; the store crate persists the types defined here.
#![warn(missing_docs)]

pub mod api_key;
pub mod authn;
pub mod client;
pub mod client_assertion;
pub mod client_keys;
pub mod device;
pub mod environment;
pub mod error;
pub mod exchange;
pub mod grant;
pub mod ids;
pub mod metadata_document;
pub mod outbound;
pub mod params;
pub mod pkce;
pub mod query;
mod query_parser;
pub mod redirect;
pub mod registration;
pub mod resource;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod strict_json;
pub mod tenant;
pub mod text;
pub mod token;
pub mod user;

pub use environment::Environment;
pub use error::{OAuthError, OAuthErrorCode};
pub use scope::{Scope, ScopePattern, ScopeSet};
pub use secret::Secret;
