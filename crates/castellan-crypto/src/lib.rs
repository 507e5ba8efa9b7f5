//! Castellan's cryptography: signing keys (ES256, EdDSA, RS256), compact JWS/JWT signing and
//! verification, the JWKS document, DPoP proofs (RFC 9449), generation and hashing of high-entropy secrets, and the
//! real clock and randomness that `castellan-core` receives as inputs.
//!
//! JWS is written here over `aws-lc-rs` rather than through a JOSE crate because the hot path
//! must keep parsed key pairs in memory: the JOSE crates we measured re-parse the PKCS#8 key on
//! every signature, which costs as much as the signature itself (see docs/adr/0002).
#![warn(missing_docs)]

pub mod clock;
pub mod dpop;
pub mod jwk;
pub mod jws;
pub mod keys;
pub mod keyset;
pub mod recovery_code;
pub mod refresh_token;
pub mod secret;
pub mod totp;

pub use clock::{Clock, SystemClock};
pub use dpop::{DpopError, ProofCheck, VerifiedProof};
pub use jws::{JwsError, VerifiedJws};
pub use keys::{Algorithm, KeyError, SigningKey, VerifyingKey};
pub use keyset::KeySet;
pub use refresh_token::{generate_refresh_token, refresh_token_key};
pub use secret::{
    generate_secret, hash_secret, id_random_bytes, is_generated_secret, random_bytes, random_id,
    verify_secret,
};
