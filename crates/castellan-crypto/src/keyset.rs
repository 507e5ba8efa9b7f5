//! The keys a server holds at one moment: the current signing key of each algorithm and every
//! public key still needed to verify unexpired tokens, with the JWKS document (RFC 7517 §5)
//! rendered once.

use crate::keys::{Algorithm, SigningKey, VerifyingKey};
use std::collections::HashMap;
use std::sync::Arc;

/// The signing keys in use and the public keys that verify, read together so a token is never
/// signed with a key the JWKS does not yet publish.
#[derive(Debug, Default)]
pub struct KeySet {
    signers: HashMap<Algorithm, Arc<SigningKey>>,
    verifiers: HashMap<String, VerifyingKey>,
    jwks: String,
}

impl KeySet {
    /// Builds a key set from current signing keys and all published public keys (current ones
    /// included). Public keys are listed in the JWKS in the given order.
    pub fn new(signers: Vec<SigningKey>, published: Vec<VerifyingKey>) -> Self {
        let jwks = serde_json::json!({
            "keys": published.iter().map(|k| k.jwk().clone()).collect::<Vec<_>>()
        })
        .to_string();
        KeySet {
            signers: signers
                .into_iter()
                .map(|k| (k.algorithm(), Arc::new(k)))
                .collect(),
            verifiers: published
                .into_iter()
                .map(|k| (k.kid().to_owned(), k))
                .collect(),
            jwks,
        }
    }

    /// The current signing key of `alg`, if there is one.
    pub fn signer(&self, alg: Algorithm) -> Option<&Arc<SigningKey>> {
        self.signers.get(&alg)
    }

    /// The public key with id `kid`, if it is published.
    pub fn verifier(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifiers.get(kid)
    }

    /// Whether a published key has id `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.verifiers.contains_key(kid)
    }

    /// The JWKS document, as served at `jwks_uri`.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// The ids of every published key.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.verifiers.keys().map(String::as_str)
    }
}
