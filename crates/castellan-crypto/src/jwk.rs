//! Public keys others hold, as JWKs (RFC 7517, RFC 7518 §6, RFC 8037), and verification of a
//! compact JWS with them: one place for "public JWK to verifying key", for keys Castellan
//! did not make (a client's `jwks`, a DPoP proof's `jwk`).
//!
//! Only asymmetric keys and algorithms: EC P-256 (`ES256`), P-384 (`ES384`), Ed25519
//! (`EdDSA`), RSA of 2048 bits or more (`RS256`/`RS384`/`RS512`, `PS256`/`PS384`/`PS512`). A
//! JWK holding a private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) or a symmetric
//! key is refused, so `alg: none` and HMAC keyed with a public key (RFC 8725 §2.1) are
//! impossible by construction.

use crate::jws::{parse, JwsError, VerifiedJws};
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// Most keys read from one JWK Set.
pub const MAX_KEYS: usize = 20;

/// A JWS algorithm Castellan verifies with keys others hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlgorithm {
    /// ECDSA P-256 SHA-256.
    Es256,
    /// ECDSA P-384 SHA-384.
    Es384,
    /// Ed25519.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    Rs512,
    /// RSASSA-PSS SHA-256.
    Ps256,
    /// RSASSA-PSS SHA-384.
    Ps384,
    /// RSASSA-PSS SHA-512.
    Ps512,
}

impl JwsAlgorithm {
    /// Every algorithm, in the order advertised.
    pub const ALL: [JwsAlgorithm; 9] = [
        JwsAlgorithm::Es256,
        JwsAlgorithm::Es384,
        JwsAlgorithm::EdDsa,
        JwsAlgorithm::Rs256,
        JwsAlgorithm::Rs384,
        JwsAlgorithm::Rs512,
        JwsAlgorithm::Ps256,
        JwsAlgorithm::Ps384,
        JwsAlgorithm::Ps512,
    ];

    /// The JOSE `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            JwsAlgorithm::Es256 => "ES256",
            JwsAlgorithm::Es384 => "ES384",
            JwsAlgorithm::EdDsa => "EdDSA",
            JwsAlgorithm::Rs256 => "RS256",
            JwsAlgorithm::Rs384 => "RS384",
            JwsAlgorithm::Rs512 => "RS512",
            JwsAlgorithm::Ps256 => "PS256",
            JwsAlgorithm::Ps384 => "PS384",
            JwsAlgorithm::Ps512 => "PS512",
        }
    }

    /// The algorithm named `s` (case-sensitive, RFC 7515 §4.1.1), if verified here.
    pub fn from_name(s: &str) -> Option<Self> {
        JwsAlgorithm::ALL.into_iter().find(|a| a.name() == s)
    }

    fn verification(self) -> &'static dyn VerificationAlgorithm {
        match self {
            JwsAlgorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            JwsAlgorithm::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
            JwsAlgorithm::EdDsa => &signature::ED25519,
            JwsAlgorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            JwsAlgorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            JwsAlgorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            JwsAlgorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            JwsAlgorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            JwsAlgorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        }
    }
}

/// Why a JWK was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// Not an object, a member of the wrong type, or a value that does not decode.
    #[error("the JWK is malformed")]
    Malformed,
    /// A private or symmetric key.
    #[error("the JWK holds private or symmetric key material")]
    NotPublic,
    /// A key type, curve or `alg` not accepted, or an RSA key under 2048 bits.
    #[error("the JWK's key type, curve or algorithm is not accepted")]
    Unsupported,
    /// A JWK Set without a `keys` array, or with too many keys.
    #[error("the JWK Set must be an object with a keys array of at most {MAX_KEYS} keys")]
    BadSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Material {
    /// SEC1 uncompressed point, with its curve's algorithm.
    Ec(JwsAlgorithm, Vec<u8>),
    /// 32 bytes.
    Ed25519(Vec<u8>),
    /// PKCS#1 RSAPublicKey DER.
    Rsa(Vec<u8>),
}

/// A public key from a JWK, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    kid: Option<String>,
    alg: Option<JwsAlgorithm>,
    material: Material,
}

const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl PublicJwk {
    /// Parses a public JWK, refusing private members and unaccepted keys.
    pub fn from_value(jwk: &Value) -> Result<Self, JwkError> {
        let obj = jwk.as_object().ok_or(JwkError::Malformed)?;
        if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
            return Err(JwkError::NotPublic);
        }
        let text = |name: &str| -> Result<Option<&str>, JwkError> {
            match obj.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(JwkError::Malformed),
            }
        };
        let bytes = |name: &str| -> Result<Vec<u8>, JwkError> {
            let s = text(name)?.ok_or(JwkError::Malformed)?;
            URL_SAFE_NO_PAD.decode(s).map_err(|_| JwkError::Malformed)
        };
        if text("use")?.is_some_and(|u| u != "sig") {
            return Err(JwkError::Unsupported);
        }
        let alg = match text("alg")? {
            None => None,
            Some(a) => Some(JwsAlgorithm::from_name(a).ok_or(JwkError::Unsupported)?),
        };
        let material = match text("kty")?.ok_or(JwkError::Malformed)? {
            "EC" => {
                let (curve_alg, len) = match text("crv")?.ok_or(JwkError::Malformed)? {
                    "P-256" => (JwsAlgorithm::Es256, 32),
                    "P-384" => (JwsAlgorithm::Es384, 48),
                    _ => return Err(JwkError::Unsupported),
                };
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != len || y.len() != len {
                    return Err(JwkError::Malformed);
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Material::Ec(curve_alg, point)
            }
            "OKP" => {
                if text("crv")? != Some("Ed25519") {
                    return Err(JwkError::Unsupported);
                }
                let x = bytes("x")?;
                if x.len() != 32 {
                    return Err(JwkError::Malformed);
                }
                Material::Ed25519(x)
            }
            "RSA" => {
                let (n, e) = (bytes("n")?, bytes("e")?);
                let n_bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                if !(2048..=8192).contains(&n_bits) || e.is_empty() || e.len() > 8 {
                    return Err(JwkError::Unsupported);
                }
                // X.509 SubjectPublicKeyInfo DER, which the RSA verifiers accept.
                let components = aws_lc_rs::rsa::PublicKeyComponents {
                    n: &n[..],
                    e: &e[..],
                };
                let der = aws_lc_rs::encoding::AsDer::as_der(&components)
                    .map_err(|_| JwkError::Unsupported)?;
                Material::Rsa(der.as_ref().to_vec())
            }
            "oct" => return Err(JwkError::NotPublic),
            _ => return Err(JwkError::Unsupported),
        };
        let jwk = PublicJwk {
            kid: text("kid")?.map(str::to_owned),
            alg,
            material,
        };
        if let Some(a) = alg {
            if !jwk.fits(a) {
                return Err(JwkError::Unsupported);
            }
        }
        Ok(jwk)
    }

    /// Parses a JWK Set (`{"keys": […]}`): every key must be accepted.
    pub fn set_from_value(set: &Value) -> Result<Vec<PublicJwk>, JwkError> {
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwkError::BadSet)?;
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return Err(JwkError::BadSet);
        }
        keys.iter().map(PublicJwk::from_value).collect()
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether this key can verify `alg` (its type and curve, and its own `alg` if declared).
    pub fn fits(&self, alg: JwsAlgorithm) -> bool {
        if self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        match &self.material {
            Material::Ec(curve_alg, _) => *curve_alg == alg,
            Material::Ed25519(_) => alg == JwsAlgorithm::EdDsa,
            Material::Rsa(_) => matches!(
                alg,
                JwsAlgorithm::Rs256
                    | JwsAlgorithm::Rs384
                    | JwsAlgorithm::Rs512
                    | JwsAlgorithm::Ps256
                    | JwsAlgorithm::Ps384
                    | JwsAlgorithm::Ps512
            ),
        }
    }

    /// Whether `signature` is `alg`'s valid signature of `message` by this key.
    pub fn verify(&self, alg: JwsAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        if !self.fits(alg) {
            return false;
        }
        let raw: &[u8] = match &self.material {
            Material::Ec(_, p) | Material::Ed25519(p) | Material::Rsa(p) => p,
        };
        UnparsedPublicKey::new(alg.verification(), raw)
            .verify(message, signature)
            .is_ok()
    }
}

/// Verifies a compact JWS with one of `keys`: the key named by the header's `kid`, or, with
/// no `kid`, each key that fits the header's `alg` in turn. `alg` must be one of
/// [`JwsAlgorithm`] (never `none`, never HMAC); `typ`, when expected, must match.
pub fn verify_with(
    token: &str,
    expected_typ: Option<&'static str>,
    keys: &[PublicJwk],
) -> Result<VerifiedJws, JwsError> {
    let parsed = parse(token)?;
    let alg = JwsAlgorithm::from_name(&parsed.header.alg).ok_or(JwsError::Algorithm)?;
    if let Some(t) = expected_typ {
        if !parsed
            .header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case(t))
        {
            return Err(JwsError::Type(t));
        }
    }
    let message = parsed.signing_input.as_bytes();
    let verified = match parsed.header.kid.as_deref() {
        Some(kid) => {
            let key = keys
                .iter()
                .find(|k| k.kid() == Some(kid))
                .ok_or(JwsError::UnknownKey)?;
            if !key.fits(alg) {
                return Err(JwsError::Algorithm);
            }
            key.verify(alg, message, &parsed.signature)
        }
        None => {
            let mut fitting = keys.iter().filter(|k| k.fits(alg)).peekable();
            if fitting.peek().is_none() {
                return Err(JwsError::UnknownKey);
            }
            fitting.any(|k| k.verify(alg, message, &parsed.signature))
        }
    };
    if !verified {
        return Err(JwsError::Signature);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(parsed.payload_b64)
        .map_err(|_| JwsError::Malformed)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&payload).map_err(|_| JwsError::Malformed)?;
    Ok(VerifiedJws {
        header: parsed.header,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, SigningKey};
    use serde_json::json;

    fn key(alg: Algorithm, kid: &str) -> (SigningKey, PublicJwk) {
        let (k, _) = SigningKey::generate(alg, kid.into()).unwrap();
        let jwk = PublicJwk::from_value(k.verifying_key().unwrap().jwk()).unwrap();
        (k, jwk)
    }

    fn token(k: &SigningKey, header: Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"c"}"#);
        let input = format!("{h}.{p}");
        let sig = k.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn each_castellan_algorithm_verifies_by_kid_and_without() {
        for alg in Algorithm::ALL {
            let (k, jwk) = key(alg, "a");
            let (_, other) = key(alg, "b");
            let keys = [other.clone(), jwk];
            let t = token(&k, json!({"alg": alg.name(), "kid": "a"}));
            assert_eq!(verify_with(&t, None, &keys).unwrap().claims["sub"], "c");
            let t = token(&k, json!({"alg": alg.name()}));
            assert!(verify_with(&t, None, &keys).is_ok());
            // Signed by another key.
            assert_eq!(
                verify_with(&t, None, &[other]).unwrap_err(),
                JwsError::Signature
            );
        }
    }

    #[test]
    fn none_hmac_and_confusion_are_refused() {
        let (k, jwk) = key(Algorithm::Rs256, "r");
        let keys = [jwk];
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"c"}"#);
        for alg in ["none", "HS256", "HS512", "rs256"] {
            let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"r"}}"#));
            let t = format!("{h}.{p}.AAAA");
            assert_eq!(
                verify_with(&t, None, &keys).unwrap_err(),
                JwsError::Algorithm
            );
        }
        // An RSA key asked to verify ES256.
        let t = token(&k, json!({"alg": "ES256", "kid": "r"}));
        assert_eq!(
            verify_with(&t, None, &keys).unwrap_err(),
            JwsError::Algorithm
        );
    }

    #[test]
    fn private_symmetric_and_weak_keys_are_refused() {
        let (_, jwk) = key(Algorithm::Es256, "e");
        assert!(jwk.fits(JwsAlgorithm::Es256));
        for bad in [
            json!({"kty": "oct", "k": "c2VjcmV0"}),
            json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}),
            json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xffu8; 128]), "e": "AQAB"}),
            json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}),
            json!({"kty": "OKP", "crv": "X25519", "x": URL_SAFE_NO_PAD.encode([1u8; 32])}),
            json!({"kty": "EC", "crv": "P-256", "x": "!!", "y": "AA"}),
            json!("not an object"),
            json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "use": "enc"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "alg": "ES256"}),
        ] {
            assert!(PublicJwk::from_value(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            PublicJwk::set_from_value(&json!({"keys": []})).unwrap_err(),
            JwkError::BadSet
        );
    }
}
