//! DPoP proofs (RFC 9449): parse and verify a `DPoP` proof JWT, and the JWK thumbprint
//! (RFC 7638) that binds a token to the proof's key.
//!
//! Pure: no clock, no storage. The caller passes the time, the request's method and URL and
//! the access token (if one is presented), and afterwards checks what needs state: the `jti`
//! was never seen before (a replay store) and the `nonce` is one the server gave out.
//!
//! [`verify_proof`] refuses, before any signature check:
//! - a proof longer than [`MAX_PROOF_LEN`], not three base64url parts, or whose header or
//!   claims are not a JSON object, repeat a member, or nest deeper than [`MAX_JSON_DEPTH`];
//! - a `typ` other than `dpop+jwt`, an `alg` not in [`SUPPORTED_ALGS`] (never `none` or a
//!   symmetric `HS*`), a `jku`, `x5u`, `x5c`, `x5t`, `x5t#S256` or `crit` header;
//! - a `jwk` that is missing, not of the `alg`'s key type, or carries a private member
//!   (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`);
//!
//! then the signature with that `jwk`, then the claims: `jti` (1 to [`MAX_JTI_LEN`] bytes),
//! `htm` equal to the method, `htu` equal to the URL once both lose query and fragment and
//! have scheme, host and default port normalised (RFC 9449 §4.3), `iat` within the window,
//! and `ath` = base64url(SHA-256(access token)) when a token is presented (and absent-or-any
//! when none is).

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::keys::{KeyError, SigningKey};

/// Longest proof accepted, in bytes (header and claims with their signature; a proof with an
/// RSA-4096 key is about 1.5 KiB).
pub const MAX_PROOF_LEN: usize = 4096;
/// Longest `jti` accepted, in bytes.
pub const MAX_JTI_LEN: usize = 256;
/// Deepest JSON nesting accepted in the header or the claims (the `jwk` object is depth 2).
pub const MAX_JSON_DEPTH: usize = 4;

/// The `alg` values accepted in a proof, as advertised in `dpop_signing_alg_values_supported`.
pub const SUPPORTED_ALGS: [&str; 5] = ["ES256", "ES384", "EdDSA", "RS256", "PS256"];

/// Why a proof was refused. Every variant is answered `invalid_dpop_proof`; the variant says
/// why, for logs and tests (it never carries the proof or a token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// Longer than [`MAX_PROOF_LEN`].
    #[error("the DPoP proof is too large")]
    TooLarge,
    /// Not a compact JWS whose header and claims are JSON objects without repeated members.
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    /// `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ is not dpop+jwt")]
    Type,
    /// `alg` is not an accepted asymmetric algorithm.
    #[error("the DPoP proof's algorithm is not accepted")]
    Algorithm,
    /// The header names a key to fetch (`jku`, `x5u`, `x5c`, …) or has `crit`.
    #[error("the DPoP proof's header has a member that is not accepted")]
    Header,
    /// No usable public `jwk`: missing, private, of the wrong type for `alg`, or invalid.
    #[error("the DPoP proof's jwk is not an acceptable public key")]
    Jwk,
    /// The signature does not verify with the header's `jwk`.
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    /// `jti` missing, empty, not a string or too long.
    #[error("the DPoP proof's jti is missing or invalid")]
    Jti,
    /// `htm` is not the request's method.
    #[error("the DPoP proof's htm does not match the request")]
    Method,
    /// `htu` is not the request's URL.
    #[error("the DPoP proof's htu does not match the request")]
    Uri,
    /// `iat` missing, not an integer, too old or in the future.
    #[error("the DPoP proof's iat is missing or outside the accepted window")]
    IssuedAt,
    /// `ath` missing or not the hash of the presented access token.
    #[error("the DPoP proof's ath does not match the access token")]
    AccessTokenHash,
    /// `nonce` present but not a string.
    #[error("the DPoP proof's nonce is not a string")]
    Nonce,
}

/// What the request a proof must match looks like, and the accepted `iat` window.
#[derive(Debug, Clone, Copy)]
pub struct ProofCheck<'a> {
    /// The HTTP method of the request (`POST`), compared exactly.
    pub method: &'a str,
    /// The request's absolute URL; query and fragment are ignored.
    pub uri: &'a str,
    /// Now, in seconds since the Unix epoch.
    pub now: i64,
    /// How old `iat` may be, in seconds.
    pub max_age: i64,
    /// How far in the future `iat` may be, in seconds (clock skew).
    pub max_skew: i64,
    /// The access token presented with the proof, whose hash `ath` must be.
    pub access_token: Option<&'a str>,
}

/// A proof that verified. The caller still checks `jti` against a replay store and `nonce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url: the `cnf.jkt` of a token.
    pub jkt: String,
    /// The proof's unique id.
    pub jti: String,
    /// When the proof says it was made, seconds since the Unix epoch.
    pub iat: i64,
    /// The server nonce the proof carries, if any.
    pub nonce: Option<String>,
}

/// Parses and verifies a DPoP proof against the request described by `check`.
pub fn verify_proof(proof: &str, check: &ProofCheck<'_>) -> Result<VerifiedProof, DpopError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::TooLarge);
    }
    let mut parts = proof.split('.');
    let (h, p, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() && !s.is_empty() => {
            (h, p, s)
        }
        _ => return Err(DpopError::Malformed),
    };
    let header = strict_object(h)?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(DpopError::Type);
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(ProofAlg::from_name)
        .ok_or(DpopError::Algorithm)?;
    if ["jku", "x5u", "x5c", "x5t", "x5t#S256", "crit"]
        .iter()
        .any(|m| header.contains_key(*m))
    {
        return Err(DpopError::Header);
    }
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or(DpopError::Jwk)?;
    let key = PublicJwk::parse(jwk, alg)?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| DpopError::Malformed)?;
    let signing_input = &proof[..h.len() + 1 + p.len()];
    if !key.verify(alg, signing_input.as_bytes(), &signature) {
        return Err(DpopError::Signature);
    }
    let claims = strict_object(p)?;
    let jti = match claims.get("jti").and_then(Value::as_str) {
        Some(j) if !j.is_empty() && j.len() <= MAX_JTI_LEN => j.to_owned(),
        _ => return Err(DpopError::Jti),
    };
    if claims.get("htm").and_then(Value::as_str) != Some(check.method) {
        return Err(DpopError::Method);
    }
    let htu = claims
        .get("htu")
        .and_then(Value::as_str)
        .ok_or(DpopError::Uri)?;
    match (normalize_htu(htu), normalize_htu(check.uri)) {
        (Some(a), Some(b)) if a == b => {}
        _ => return Err(DpopError::Uri),
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(DpopError::IssuedAt)?;
    if iat < check.now.saturating_sub(check.max_age)
        || iat > check.now.saturating_add(check.max_skew)
    {
        return Err(DpopError::IssuedAt);
    }
    let ath = claims.get("ath");
    if let Some(token) = check.access_token {
        let expected = access_token_hash(token);
        if ath.and_then(Value::as_str) != Some(expected.as_str()) {
            return Err(DpopError::AccessTokenHash);
        }
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(DpopError::Nonce),
    };
    Ok(VerifiedProof {
        jkt: key.thumbprint(),
        jti,
        iat,
        nonce,
    })
}

/// `ath`: base64url(SHA-256(access token)) (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// A URL as `htu` compares it: scheme and host lower-cased, the default port dropped, an empty
/// path made `/`, without query and fragment (RFC 9449 §4.3, RFC 3986 §6.2.2–6.2.3). `None`
/// for anything but an absolute `http`/`https` URL without user information.
pub fn normalize_htu(uri: &str) -> Option<String> {
    let mut url = url::Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.into())
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK (EC, OKP or RSA), base64url. `None` when the
/// JWK lacks a required member or has a private one.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let alg = match (
        jwk.get("kty").and_then(Value::as_str),
        jwk.get("crv").and_then(Value::as_str),
    ) {
        (Some("EC"), Some("P-256")) => ProofAlg::Es256,
        (Some("EC"), Some("P-384")) => ProofAlg::Es384,
        (Some("OKP"), Some("Ed25519")) => ProofAlg::EdDsa,
        (Some("RSA"), _) => ProofAlg::Rs256,
        _ => return None,
    };
    PublicJwk::parse(jwk, alg).ok().map(|k| k.thumbprint())
}

/// Makes a DPoP proof with `key` (a client's side; Castellan's tests and benchmarks use it).
/// `ath` is set when `access_token` is given, `nonce` when given.
pub fn make_proof(
    key: &SigningKey,
    htm: &str,
    htu: &str,
    iat: i64,
    jti: &str,
    access_token: Option<&str>,
    nonce: Option<&str>,
) -> Result<String, KeyError> {
    let vk = key.verifying_key()?;
    let mut jwk = Map::new();
    for m in ["kty", "crv", "x", "y", "n", "e"] {
        if let Some(v) = vk.jwk().get(m) {
            jwk.insert(m.into(), v.clone());
        }
    }
    let header = serde_json::json!({
        "typ": "dpop+jwt",
        "alg": key.algorithm().name(),
        "jwk": jwk,
    });
    let mut claims = serde_json::json!({"jti": jti, "htm": htm, "htu": htu, "iat": iat});
    if let Some(obj) = claims.as_object_mut() {
        if let Some(t) = access_token {
            obj.insert("ath".into(), Value::String(access_token_hash(t)));
        }
        if let Some(n) = nonce {
            obj.insert("nonce".into(), Value::String(n.into()));
        }
    }
    let h = serde_json::to_vec(&header).map_err(|_| KeyError::Sign)?;
    let c = serde_json::to_vec(&claims).map_err(|_| KeyError::Sign)?;
    let mut out = URL_SAFE_NO_PAD.encode(h);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(c));
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(out)
}

/// An accepted proof algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProofAlg {
    Es256,
    Es384,
    EdDsa,
    Rs256,
    Ps256,
}

impl ProofAlg {
    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "ES256" => ProofAlg::Es256,
            "ES384" => ProofAlg::Es384,
            "EdDSA" => ProofAlg::EdDsa,
            "RS256" => ProofAlg::Rs256,
            "PS256" => ProofAlg::Ps256,
            _ => return None,
        })
    }
}

/// The public members of an accepted JWK, decoded.
enum PublicJwk {
    Ec {
        crv: &'static str,
        x: String,
        y: String,
        point: Vec<u8>,
    },
    Okp {
        x: String,
        raw: Vec<u8>,
    },
    Rsa {
        n: String,
        e: String,
        n_raw: Vec<u8>,
        e_raw: Vec<u8>,
    },
}

/// Members that only a private (or symmetric) JWK has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl PublicJwk {
    fn parse(jwk: &Map<String, Value>, alg: ProofAlg) -> Result<Self, DpopError> {
        if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
            return Err(DpopError::Jwk);
        }
        let text = |name: &str| -> Result<(String, Vec<u8>), DpopError> {
            let s = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or(DpopError::Jwk)?;
            let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| DpopError::Jwk)?;
            Ok((s.to_owned(), raw))
        };
        let kty = jwk.get("kty").and_then(Value::as_str);
        let crv = jwk.get("crv").and_then(Value::as_str);
        match alg {
            ProofAlg::Es256 | ProofAlg::Es384 => {
                let (want, len) = if alg == ProofAlg::Es256 {
                    ("P-256", 32)
                } else {
                    ("P-384", 48)
                };
                if kty != Some("EC") || crv != Some(want) {
                    return Err(DpopError::Jwk);
                }
                let (x, xr) = text("x")?;
                let (y, yr) = text("y")?;
                if xr.len() != len || yr.len() != len {
                    return Err(DpopError::Jwk);
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&xr);
                point.extend_from_slice(&yr);
                Ok(PublicJwk::Ec {
                    crv: want,
                    x,
                    y,
                    point,
                })
            }
            ProofAlg::EdDsa => {
                if kty != Some("OKP") || crv != Some("Ed25519") {
                    return Err(DpopError::Jwk);
                }
                let (x, raw) = text("x")?;
                if raw.len() != 32 {
                    return Err(DpopError::Jwk);
                }
                Ok(PublicJwk::Okp { x, raw })
            }
            ProofAlg::Rs256 | ProofAlg::Ps256 => {
                if kty != Some("RSA") {
                    return Err(DpopError::Jwk);
                }
                let (n, n_raw) = text("n")?;
                let (e, e_raw) = text("e")?;
                // 2048 to 8192 bits (the verifier enforces it too); e at most 4 bytes.
                if !(256..=1024).contains(&n_raw.len()) || e_raw.is_empty() || e_raw.len() > 4 {
                    return Err(DpopError::Jwk);
                }
                Ok(PublicJwk::Rsa { n, e, n_raw, e_raw })
            }
        }
    }

    fn verify(&self, alg: ProofAlg, message: &[u8], sig: &[u8]) -> bool {
        match (self, alg) {
            (PublicJwk::Ec { point, .. }, ProofAlg::Es256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (PublicJwk::Ec { point, .. }, ProofAlg::Es384) => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (PublicJwk::Okp { raw, .. }, ProofAlg::EdDsa) => {
                UnparsedPublicKey::new(&signature::ED25519, raw)
                    .verify(message, sig)
                    .is_ok()
            }
            (PublicJwk::Rsa { n_raw, e_raw, .. }, ProofAlg::Rs256 | ProofAlg::Ps256) => {
                let params = if alg == ProofAlg::Rs256 {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &signature::RSA_PSS_2048_8192_SHA256
                };
                RsaPublicKeyComponents {
                    n: &n_raw[..],
                    e: &e_raw[..],
                }
                .verify(params, message, sig)
                .is_ok()
            }
            _ => false,
        }
    }

    /// RFC 7638 §3: the required members in lexicographic order, no whitespace, SHA-256.
    fn thumbprint(&self) -> String {
        let json = match self {
            PublicJwk::Ec { crv, x, y, .. } => {
                format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
            PublicJwk::Okp { x, .. } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
            PublicJwk::Rsa { n, e, .. } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(json.as_bytes()))
    }
}

/// Decodes a base64url part into a JSON object, refusing repeated members and deep nesting.
fn strict_object(b64: &str) -> Result<Map<String, Value>, DpopError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| DpopError::Malformed)?;
    match castellan_core::strict_json::parse(&bytes, MAX_JSON_DEPTH) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(DpopError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm;
    use proptest::prelude::*;
    use serde_json::json;

    const URL: &str = "https://auth.example.com/oauth/token";
    const NOW: i64 = 1_700_000_000;

    fn check(access_token: Option<&str>) -> ProofCheck<'_> {
        ProofCheck {
            method: "POST",
            uri: URL,
            now: NOW,
            max_age: 60,
            max_skew: 5,
            access_token,
        }
    }

    fn key(alg: Algorithm) -> SigningKey {
        SigningKey::generate(alg, "c".into()).unwrap().0
    }

    /// A proof with a hand-made header and claims, signed by `key`.
    fn forge(key: &SigningKey, header: &Value, claims: &Value) -> String {
        let mut out = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()));
        let sig = key.sign(out.as_bytes()).unwrap();
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig));
        out
    }

    fn public_jwk(key: &SigningKey) -> Value {
        let vk = key.verifying_key().unwrap();
        let mut jwk = vk.jwk().as_object().unwrap().clone();
        for m in ["kid", "alg", "use"] {
            jwk.remove(m);
        }
        Value::Object(jwk)
    }

    fn good_claims() -> Value {
        json!({"jti": "j1", "htm": "POST", "htu": URL, "iat": NOW})
    }

    #[test]
    fn every_signing_algorithm_verifies_and_gives_the_thumbprint() {
        for alg in Algorithm::ALL {
            let k = key(alg);
            let proof = make_proof(&k, "POST", URL, NOW, "j1", None, Some("n1")).unwrap();
            let v = verify_proof(&proof, &check(None)).unwrap();
            assert_eq!(v.jti, "j1");
            assert_eq!(v.iat, NOW);
            assert_eq!(v.nonce.as_deref(), Some("n1"));
            let jwk = public_jwk(&k);
            assert_eq!(Some(v.jkt), jwk_thumbprint(jwk.as_object().unwrap()));
        }
    }

    /// A proof signed outside [`SigningKey`] (ES384 and PS256, which Castellan only verifies).
    fn foreign_proof(alg: &str, jwk: Value, sign: &dyn Fn(&[u8]) -> Vec<u8>) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk});
        let mut out = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good_claims()).unwrap()));
        let sig = sign(out.as_bytes());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig));
        out
    }

    #[test]
    fn es384_and_ps256_proofs_verify() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
        use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair};
        let rng = SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .unwrap();
        let ec =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der.as_ref())
                .unwrap();
        let point = ec.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-384",
            "x": URL_SAFE_NO_PAD.encode(&point[1..49]), "y": URL_SAFE_NO_PAD.encode(&point[49..97])});
        let proof = foreign_proof("ES384", jwk.clone(), &|m| {
            ec.sign(&rng, m).unwrap().as_ref().to_vec()
        });
        let v = verify_proof(&proof, &check(None)).unwrap();
        assert_eq!(Some(v.jkt), jwk_thumbprint(jwk.as_object().unwrap()));

        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let c: PublicKeyComponents<Vec<u8>> = rsa.public_key().into();
        let jwk = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e)});
        let sign = |m: &[u8]| {
            let mut sig = vec![0u8; rsa.public_modulus_len()];
            rsa.sign(&signature::RSA_PSS_SHA256, &rng, m, &mut sig)
                .unwrap();
            sig
        };
        let proof = foreign_proof("PS256", jwk.clone(), &sign);
        assert!(verify_proof(&proof, &check(None)).is_ok());
        // The same PSS signature presented as RS256 does not verify.
        let as_rs256 = foreign_proof("RS256", jwk, &sign);
        assert_eq!(
            verify_proof(&as_rs256, &check(None)).unwrap_err(),
            DpopError::Signature
        );
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn rfc8037_ed25519_thumbprint() {
        // RFC 8037 Appendix A.3.
        let jwk = json!({"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(
            jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        );
    }

    #[test]
    fn ath_is_checked_when_a_token_is_presented() {
        let k = key(Algorithm::Es256);
        let proof = make_proof(&k, "POST", URL, NOW, "j", Some("tok"), None).unwrap();
        assert!(verify_proof(&proof, &check(Some("tok"))).is_ok());
        assert_eq!(
            verify_proof(&proof, &check(Some("other"))).unwrap_err(),
            DpopError::AccessTokenHash
        );
        let no_ath = make_proof(&k, "POST", URL, NOW, "j", None, None).unwrap();
        assert_eq!(
            verify_proof(&no_ath, &check(Some("tok"))).unwrap_err(),
            DpopError::AccessTokenHash
        );
        // RFC 9449 §7.1 example.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn htm_htu_and_iat_are_checked() {
        let k = key(Algorithm::Es256);
        let at = |htm: &str, htu: &str, iat: i64| {
            verify_proof(
                &make_proof(&k, htm, htu, iat, "j", None, None).unwrap(),
                &check(None),
            )
        };
        assert_eq!(at("GET", URL, NOW).unwrap_err(), DpopError::Method);
        assert_eq!(at("post", URL, NOW).unwrap_err(), DpopError::Method);
        assert_eq!(
            at("POST", "https://auth.example.com/oauth/other", NOW).unwrap_err(),
            DpopError::Uri
        );
        assert_eq!(
            at("POST", "https://evil.example.com/oauth/token", NOW).unwrap_err(),
            DpopError::Uri
        );
        assert_eq!(
            at("POST", "http://auth.example.com/oauth/token", NOW).unwrap_err(),
            DpopError::Uri
        );
        // Case of scheme and host, the default port, query and fragment do not matter.
        assert!(at(
            "POST",
            "HTTPS://Auth.Example.COM:443/oauth/token?x=1#f",
            NOW
        )
        .is_ok());
        assert_eq!(at("POST", URL, NOW - 61).unwrap_err(), DpopError::IssuedAt);
        assert!(at("POST", URL, NOW - 60).is_ok());
        assert!(at("POST", URL, NOW + 5).is_ok());
        assert_eq!(at("POST", URL, NOW + 6).unwrap_err(), DpopError::IssuedAt);
    }

    #[test]
    fn bad_claims_are_refused() {
        let k = key(Algorithm::Es256);
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&k)});
        let with = |f: &dyn Fn(&mut Map<String, Value>)| {
            let mut c = good_claims().as_object().unwrap().clone();
            f(&mut c);
            verify_proof(&forge(&k, &header, &Value::Object(c)), &check(None))
        };
        assert!(with(&|_| {}).is_ok());
        assert_eq!(
            with(&|c| {
                c.remove("jti");
            })
            .unwrap_err(),
            DpopError::Jti
        );
        assert_eq!(
            with(&|c| {
                c.insert("jti".into(), json!(""));
            })
            .unwrap_err(),
            DpopError::Jti
        );
        assert_eq!(
            with(&|c| {
                c.insert("jti".into(), json!(7));
            })
            .unwrap_err(),
            DpopError::Jti
        );
        assert_eq!(
            with(&|c| {
                c.insert("jti".into(), json!("x".repeat(257)));
            })
            .unwrap_err(),
            DpopError::Jti
        );
        assert_eq!(
            with(&|c| {
                c.remove("htm");
            })
            .unwrap_err(),
            DpopError::Method
        );
        assert_eq!(
            with(&|c| {
                c.remove("htu");
            })
            .unwrap_err(),
            DpopError::Uri
        );
        assert_eq!(
            with(&|c| {
                c.insert("htu".into(), json!("not a url"));
            })
            .unwrap_err(),
            DpopError::Uri
        );
        assert_eq!(
            with(&|c| {
                c.remove("iat");
            })
            .unwrap_err(),
            DpopError::IssuedAt
        );
        assert_eq!(
            with(&|c| {
                c.insert("iat".into(), json!("1700000000"));
            })
            .unwrap_err(),
            DpopError::IssuedAt
        );
        assert_eq!(
            with(&|c| {
                c.insert("iat".into(), json!(1.7e9));
            })
            .unwrap_err(),
            DpopError::IssuedAt
        );
        assert_eq!(
            with(&|c| {
                c.insert("nonce".into(), json!(1));
            })
            .unwrap_err(),
            DpopError::Nonce
        );
    }

    #[test]
    fn bad_headers_are_refused() {
        let k = key(Algorithm::Es256);
        let jwk = public_jwk(&k);
        let claims = good_claims();
        let try_header = |h: Value| verify_proof(&forge(&k, &h, &claims), &check(None));
        assert_eq!(
            try_header(json!({"typ": "jwt", "alg": "ES256", "jwk": jwk})).unwrap_err(),
            DpopError::Type
        );
        assert_eq!(
            try_header(json!({"alg": "ES256", "jwk": jwk})).unwrap_err(),
            DpopError::Type
        );
        for alg in [
            "none", "HS256", "HS384", "HS512", "ES512", "RS512", "", "es256",
        ] {
            assert_eq!(
                try_header(json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk})).unwrap_err(),
                DpopError::Algorithm,
                "{alg}"
            );
        }
        for member in ["jku", "x5u", "x5c", "x5t", "x5t#S256", "crit"] {
            let mut h = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
            h[member] = json!("https://attacker.example/key");
            assert_eq!(try_header(h).unwrap_err(), DpopError::Header, "{member}");
        }
        // A kid without jwk names nothing Castellan would look up.
        assert_eq!(
            try_header(json!({"typ": "dpop+jwt", "alg": "ES256", "kid": "k"})).unwrap_err(),
            DpopError::Jwk
        );
        // The jwk of another key type than alg.
        let ed = public_jwk(&key(Algorithm::EdDsa));
        assert_eq!(
            try_header(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": ed})).unwrap_err(),
            DpopError::Jwk
        );
        // Another key's jwk: the signature does not verify.
        let other = public_jwk(&key(Algorithm::Es256));
        assert_eq!(
            try_header(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": other})).unwrap_err(),
            DpopError::Signature
        );
    }

    #[test]
    fn private_and_symmetric_keys_in_jwk_are_refused() {
        let k = key(Algorithm::Es256);
        let claims = good_claims();
        for member in PRIVATE_MEMBERS {
            let mut jwk = public_jwk(&k);
            jwk[member] = json!("AAAA");
            let h = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
            assert_eq!(
                verify_proof(&forge(&k, &h, &claims), &check(None)).unwrap_err(),
                DpopError::Jwk,
                "{member}"
            );
        }
        let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
        let h = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": oct});
        assert!(verify_proof(&forge(&k, &h, &claims), &check(None)).is_err());
    }

    #[test]
    fn alg_none_with_empty_signature_is_refused() {
        let jwk = public_jwk(&key(Algorithm::Es256));
        let h = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk})).unwrap(),
        );
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good_claims()).unwrap());
        assert!(verify_proof(&format!("{h}.{p}."), &check(None)).is_err());
        assert!(verify_proof(&format!("{h}.{p}.AAAA"), &check(None)).is_err());
    }

    #[test]
    fn repeated_members_and_deep_nesting_are_refused() {
        let k = key(Algorithm::Es256);
        let jwk = serde_json::to_string(&public_jwk(&k)).unwrap();
        let sign_raw = |header: &str, claims: &str| {
            let mut out = URL_SAFE_NO_PAD.encode(header);
            out.push('.');
            out.push_str(&URL_SAFE_NO_PAD.encode(claims));
            let sig = k.sign(out.as_bytes()).unwrap();
            out.push('.');
            out.push_str(&URL_SAFE_NO_PAD.encode(sig));
            out
        };
        let header = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{jwk}}}"#);
        let claims = format!(r#"{{"jti":"j","htm":"POST","htu":"{URL}","iat":{NOW}}}"#);
        assert!(verify_proof(&sign_raw(&header, &claims), &check(None)).is_ok());
        let dup_claims =
            format!(r#"{{"jti":"j","htm":"GET","htm":"POST","htu":"{URL}","iat":{NOW}}}"#);
        assert_eq!(
            verify_proof(&sign_raw(&header, &dup_claims), &check(None)).unwrap_err(),
            DpopError::Malformed
        );
        let dup_header = format!(r#"{{"typ":"dpop+jwt","alg":"HS256","alg":"ES256","jwk":{jwk}}}"#);
        assert_eq!(
            verify_proof(&sign_raw(&dup_header, &claims), &check(None)).unwrap_err(),
            DpopError::Malformed
        );
        let deep = format!(
            r#"{{"jti":"j","htm":"POST","htu":"{URL}","iat":{NOW},"x":{}{}}}"#,
            "[".repeat(10),
            "]".repeat(10)
        );
        assert_eq!(
            verify_proof(&sign_raw(&header, &deep), &check(None)).unwrap_err(),
            DpopError::Malformed
        );
        // Brackets inside strings are not nesting.
        let in_string =
            format!(r#"{{"jti":"[[[[[[[[{{{{{{\"","htm":"POST","htu":"{URL}","iat":{NOW}}}"#);
        assert!(verify_proof(&sign_raw(&header, &in_string), &check(None)).is_ok());
    }

    #[test]
    fn oversized_proofs_are_refused_before_parsing() {
        let big = "a".repeat(MAX_PROOF_LEN + 1);
        assert_eq!(
            verify_proof(&big, &check(None)).unwrap_err(),
            DpopError::TooLarge
        );
    }

    #[test]
    fn normalize_htu_examples() {
        assert_eq!(
            normalize_htu("HTTP://Example.com:80").as_deref(),
            Some("http://example.com/")
        );
        assert_eq!(
            normalize_htu("https://example.com:8443/a?b#c").as_deref(),
            Some("https://example.com:8443/a")
        );
        assert_eq!(normalize_htu("ftp://example.com/"), None);
        assert_eq!(normalize_htu("https://u:p@example.com/"), None);
        assert_eq!(normalize_htu("/relative"), None);
    }

    proptest! {
        #[test]
        fn any_string_is_refused_without_panic(s in ".{0,600}") {
            prop_assert!(verify_proof(&s, &check(None)).is_err());
        }

        #[test]
        fn any_three_parts_are_refused_without_panic(
            h in proptest::collection::vec(any::<u8>(), 0..300),
            p in proptest::collection::vec(any::<u8>(), 0..300),
            s in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let proof = format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(h),
                URL_SAFE_NO_PAD.encode(p),
                URL_SAFE_NO_PAD.encode(s)
            );
            prop_assert!(verify_proof(&proof, &check(None)).is_err());
        }

        #[test]
        fn any_json_shape_is_refused_without_panic(header in arb_json(), claims in arb_json()) {
            let proof = format!(
                "{}.{}.AAAA",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            prop_assert!(verify_proof(&proof, &check(None)).is_err());
        }

        #[test]
        fn any_claims_signed_by_a_real_key_never_panic(claims in arb_json()) {
            let k = key(Algorithm::EdDsa);
            let h = json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": public_jwk(&k)});
            // Valid or not, it must answer.
            let _ = verify_proof(&forge(&k, &h, &claims), &check(None));
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop_oneof![
                Just("typ".to_owned()),
                Just("dpop+jwt".to_owned()),
                Just("ES256".to_owned()),
                Just("POST".to_owned()),
                Just(URL.to_owned()),
                ".{0,20}"
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("typ".to_owned()),
                        Just("alg".to_owned()),
                        Just("jwk".to_owned()),
                        Just("kty".to_owned()),
                        Just("jti".to_owned()),
                        Just("htm".to_owned()),
                        Just("htu".to_owned()),
                        Just("iat".to_owned()),
                        "[a-z]{1,5}"
                    ],
                    inner,
                    0..8
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
