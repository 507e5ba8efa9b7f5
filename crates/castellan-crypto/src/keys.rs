//! Signing keys and their public halves (RFC 7518 §3.1 algorithms ES256, EdDSA, RS256; JWK
//! per RFC 7517/7518/8037).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::fmt;

/// A JWS signing algorithm Castellan can sign and verify with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256 (RFC 7518 §3.4): the default, small and fast.
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256: what OpenID Connect requires every provider to support.
    Rs256,
}

impl Algorithm {
    /// Every algorithm, in the order keys are created.
    pub const ALL: [Algorithm; 3] = [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256];

    /// The JOSE `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Rs256 => "RS256",
        }
    }

    /// The algorithm of a JOSE `alg` name, if Castellan supports it.
    pub fn from_name(s: &str) -> Option<Self> {
        Algorithm::ALL.into_iter().find(|a| a.name() == s)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key that could not be made, read back or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The system could not generate a key pair.
    #[error("key generation failed")]
    Generate,
    /// A stored private key (of the named algorithm) is not valid PKCS#8.
    #[error("stored {0} key could not be parsed")]
    Parse(&'static str),
    /// The signature or the signed document could not be produced.
    #[error("signing failed")]
    Sign,
}

enum Inner {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// A private signing key, parsed once and kept in memory.
pub struct SigningKey {
    kid: String,
    inner: Inner,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a key; answers it with its PKCS#8 DER encoding for storage.
    pub fn generate(alg: Algorithm, kid: String) -> Result<(SigningKey, Vec<u8>), KeyError> {
        let der = match alg {
            Algorithm::Es256 => EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
            Algorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec(),
            Algorithm::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| KeyError::Generate)?
                .as_der()
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec(),
        };
        let key = SigningKey::from_pkcs8(alg, kid, &der)?;
        Ok((key, der))
    }

    /// A signing key from its PKCS#8 DER encoding, as stored.
    pub fn from_pkcs8(alg: Algorithm, kid: String, der: &[u8]) -> Result<SigningKey, KeyError> {
        let inner = match alg {
            Algorithm::Es256 => Inner::Es256(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| KeyError::Parse("ES256"))?,
            ),
            Algorithm::EdDsa => {
                Inner::EdDsa(Ed25519KeyPair::from_pkcs8(der).map_err(|_| KeyError::Parse("EdDSA"))?)
            }
            Algorithm::Rs256 => {
                Inner::Rs256(RsaKeyPair::from_pkcs8(der).map_err(|_| KeyError::Parse("RS256"))?)
            }
        };
        Ok(SigningKey {
            kid,
            inner,
            rng: SystemRandom::new(),
        })
    }

    /// The key id (`kid`) tokens signed with it carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm it signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            Inner::Es256(_) => Algorithm::Es256,
            Inner::EdDsa(_) => Algorithm::EdDsa,
            Inner::Rs256(_) => Algorithm::Rs256,
        }
    }

    /// Signs `message`; the signature in the JWS encoding of the algorithm.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            Inner::Es256(k) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
            Inner::EdDsa(k) => Ok(k.sign(message).as_ref().to_vec()),
            Inner::Rs256(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
        }
    }

    /// The public half, for verification and the JWKS.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        let (alg, jwk_fields, raw): (Algorithm, Value, Vec<u8>) = match &self.inner {
            Inner::Es256(k) => {
                let point = k.public_key().as_ref();
                // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
                if point.len() != 65 {
                    return Err(KeyError::Parse("ES256"));
                }
                (
                    Algorithm::Es256,
                    json!({"kty": "EC", "crv": "P-256",
                        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                        "y": URL_SAFE_NO_PAD.encode(&point[33..65])}),
                    point.to_vec(),
                )
            }
            Inner::EdDsa(k) => {
                let pk = k.public_key().as_ref();
                (
                    Algorithm::EdDsa,
                    json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(pk)}),
                    pk.to_vec(),
                )
            }
            Inner::Rs256(k) => {
                let c: PublicKeyComponents<Vec<u8>> = k.public_key().into();
                (
                    Algorithm::Rs256,
                    json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&c.n),
                        "e": URL_SAFE_NO_PAD.encode(&c.e)}),
                    k.public_key().as_ref().to_vec(),
                )
            }
        };
        let mut jwk = jwk_fields;
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("kid".into(), Value::String(self.kid.clone()));
            obj.insert("alg".into(), Value::String(alg.name().into()));
            obj.insert("use".into(), Value::String("sig".into()));
        }
        VerifyingKey::new(self.kid.clone(), alg, &raw, jwk)
    }
}

/// A public key, parsed once, with its JWK.
pub struct VerifyingKey {
    kid: String,
    alg: Algorithm,
    key: ParsedPublicKey,
    jwk: Value,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// From the raw public key: a SEC1 point (ES256), 32 bytes (EdDSA) or a PKCS#1
    /// RSAPublicKey (RS256).
    pub fn new(kid: String, alg: Algorithm, raw: &[u8], jwk: Value) -> Result<Self, KeyError> {
        let algorithm: &'static dyn signature::VerificationAlgorithm = match alg {
            Algorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::EdDsa => &signature::ED25519,
            Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        };
        let key = ParsedPublicKey::new(algorithm, raw).map_err(|_| KeyError::Parse(alg.name()))?;
        Ok(VerifyingKey { kid, alg, key, jwk })
    }

    /// From a public JWK (as published in a JWKS).
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let field = |name: &str| -> Option<Vec<u8>> {
            jwk.get(name)
                .and_then(Value::as_str)
                .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        };
        let kid = jwk
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(KeyError::Parse("JWK"))?
            .to_owned();
        let alg = jwk
            .get("alg")
            .and_then(Value::as_str)
            .and_then(Algorithm::from_name)
            .ok_or(KeyError::Parse("JWK"))?;
        let raw = match alg {
            Algorithm::Es256 => {
                let (x, y) = (field("x"), field("y"));
                match (x, y) {
                    (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                        let mut p = Vec::with_capacity(65);
                        p.push(4);
                        p.extend_from_slice(&x);
                        p.extend_from_slice(&y);
                        p
                    }
                    _ => return Err(KeyError::Parse("ES256")),
                }
            }
            Algorithm::EdDsa => field("x").ok_or(KeyError::Parse("EdDSA"))?,
            Algorithm::Rs256 => {
                let (n, e) = (
                    field("n").ok_or(KeyError::Parse("RS256"))?,
                    field("e").ok_or(KeyError::Parse("RS256"))?,
                );
                // X.509 SubjectPublicKeyInfo DER, which the RSA parser accepts.
                let pk = PublicKeyComponents {
                    n: &n[..],
                    e: &e[..],
                };
                pk.as_der()
                    .map_err(|_| KeyError::Parse("RS256"))?
                    .as_ref()
                    .to_vec()
            }
        };
        VerifyingKey::new(kid, alg, &raw, jwk.clone())
    }

    /// The key id (`kid`) it verifies tokens for.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm it verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Its public JWK, as published in the JWKS.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// Whether `signature` is a valid signature of `message` by this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}
