//! OAuth 2.0 and OpenID Connect: the token endpoint's grants, the authorization-code flow with
//! its consent, introspection, revocation and the revocation feed, dynamic client
//! registration, discovery and userinfo. A new grant or OAuth endpoint lives here: its rules in
//! a module of its own, its handler in [`http`].

pub mod authorize;
pub mod backchannel_logout;
pub mod bearer;
pub mod client_auth;
pub mod client_cache;
pub mod client_keys;
pub mod consent;
pub mod device;
pub mod device_polls;
pub mod dpop;
pub mod http;
pub mod id_token;
pub mod logout;
pub mod metadata_document;
pub mod par;
pub use castellan_core::params;
pub mod registration;
pub mod resources;
pub mod revocation_feed;
pub mod token;
pub mod token_cache;
pub mod tokens;
pub mod trusted_issuers;
pub mod userinfo;
