//! The gateway check a resource server runs in its own process: which credential a
//! request carries, whether Castellan vouches for it, and whether it may call this route.
//!
//! - JWT access tokens (RFC 9068) are verified locally against a cached JWKS (RFC 7517),
//!   refetched on an unknown `kid` at most once per configured interval;
//! - opaque tokens and API keys are checked through Castellan's introspection endpoint
//!   (RFC 7662) with a short positive and negative cache; malformed API keys are refused before
//!   any network call;
//! - route policies (public, scope, minimum role, organization, tenant headers) are applied by
//!   the pure [`policy::evaluate`];
//! - a token bound to a key (`cnf.jkt`) passes only as `Authorization: DPoP` with a valid,
//!   unreplayed proof for the request (RFC 9449 §7, `dpop`);
//! - JWTs that Castellan revoked (the token, its family, its connected app or its client) are
//!   refused once the revocation feed it polls names them (`revocations`);
//! - failures answer in the shapes of RFC 6750 §3 with `resource_metadata` (RFC 9728 §5.1);
//! - allowed calls are counted under the `[rate_limit]` table forward-auth uses (`limits`),
//!   in this process or in Redis, with the same keys, headers and 429/503 answers.
//!
//! It depends on `castellan-core`, `castellan-crypto` and `castellan-limit` only: a resource
//! server never links the authorization server.
#![warn(missing_docs)]

pub mod api_key;
pub mod audience;
pub mod config;
pub mod credential;
pub mod dpop;
pub mod example;
pub mod failure;
mod guard;
pub mod identity;
mod introspect;
mod jwks;
mod jwt;
pub mod layer;
pub mod limits;
pub mod path;
pub mod policy;
mod revocations;
pub mod routes;
mod ttl;

pub use api_key::api_key_checksum_ok;
pub use config::{ClientSecret, ConfigError, DpopConfig, GuardConfig, RouteConfig};
pub use failure::{DpopProblem, Failure};
pub use guard::{Admitted, Guard, Refusal};
pub use identity::{CredentialKind, Identity, Role};
pub use layer::GuardLayer;
pub use path::{RequestPath, UnsafePath};
pub use policy::{evaluate, OrgSource, Policy, RequestFacts};
