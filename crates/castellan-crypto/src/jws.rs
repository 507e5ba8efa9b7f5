//! Compact JWS (RFC 7515) signing and verification for JWTs (RFC 7519, RFC 9068 `at+jwt`).
//!
//! Verification refuses `alg: none` and any algorithm other than the one of the key named by
//! `kid` (RFC 8725 §3.1), and any token larger than [`MAX_TOKEN_LEN`].

use crate::keys::{Algorithm, KeyError, SigningKey, VerifyingKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest compact JWS accepted for verification, in bytes.
pub const MAX_TOKEN_LEN: usize = 8192;

/// Why a compact JWS was refused before its claims were looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not three base64url parts, or a part that does not decode to what it should.
    #[error("the token is not a compact JWS (three base64url parts)")]
    Malformed,
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("the token is larger than {MAX_TOKEN_LEN} bytes")]
    TooLarge,
    /// An `alg` Castellan does not verify, or not the algorithm of the named key.
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// No `kid`, or one no trusted key has.
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify with the named key.
    #[error("the token's signature does not verify")]
    Signature,
    /// A `typ` other than the expected one (the expected value is carried).
    #[error("the token's type is not {0}")]
    Type(&'static str),
}

/// The JOSE header of a compact JWS (RFC 7515 §4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    /// The signing algorithm's JOSE name.
    pub alg: String,
    /// The media type of the token (`at+jwt` for access tokens, RFC 9068).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// The id of the key that signed, looked up in the JWKS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

/// A token whose signature verified. Its claims are not yet checked (expiry, issuer …).
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    /// The token's header.
    pub header: Header,
    /// The token's claims, as signed.
    pub claims: Map<String, Value>,
}

/// Signs `claims` with `key`, with header `{"alg", "typ", "kid"}`.
pub fn sign<C: Serialize>(key: &SigningKey, typ: &str, claims: &C) -> Result<String, KeyError> {
    let claims_json = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
    sign_json(key, typ, &claims_json)
}

/// [`sign`] for claims already serialized as a JSON object (`claims_json`).
pub fn sign_json(key: &SigningKey, typ: &str, claims_json: &[u8]) -> Result<String, KeyError> {
    let header = Header {
        alg: key.algorithm().name().to_owned(),
        typ: Some(typ.to_owned()),
        kid: Some(key.kid().to_owned()),
    };
    let header_json = serde_json::to_vec(&header).map_err(|_| KeyError::Sign)?;
    let mut out = String::with_capacity((header_json.len() + claims_json.len()) * 4 / 3 + 8 + 120);
    URL_SAFE_NO_PAD.encode_string(&header_json, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(claims_json, &mut out);
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&sig, &mut out);
    Ok(out)
}

/// The parts of a compact JWS, decoded but not verified.
pub struct Parsed<'a> {
    /// The decoded header.
    pub header: Header,
    /// `<header>.<payload>` exactly as received: what the signature covers.
    pub signing_input: &'a str,
    /// The payload, still base64url-encoded.
    pub payload_b64: &'a str,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS without verifying it.
pub fn parse(token: &str) -> Result<Parsed<'_>, JwsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError::TooLarge);
    }
    let mut it = token.split('.');
    let (h, p, s) = match (it.next(), it.next(), it.next(), it.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !s.is_empty() => (h, p, s),
        _ => return Err(JwsError::Malformed),
    };
    let header_bytes = URL_SAFE_NO_PAD.decode(h).map_err(|_| JwsError::Malformed)?;
    let header: Header = serde_json::from_slice(&header_bytes).map_err(|_| JwsError::Malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwsError::Malformed)?;
    Ok(Parsed {
        header,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload_b64: p,
        signature,
    })
}

/// Verifies `token` with the key `lookup` finds for its `kid`, requiring `typ` when given.
pub fn verify<'k>(
    token: &str,
    expected_typ: Option<&'static str>,
    lookup: impl FnOnce(&str) -> Option<&'k VerifyingKey>,
) -> Result<VerifiedJws, JwsError> {
    let parsed = parse(token)?;
    let alg = Algorithm::from_name(&parsed.header.alg).ok_or(JwsError::Algorithm)?;
    if let Some(t) = expected_typ {
        let ok = parsed.header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case(t) || typ.eq_ignore_ascii_case(&format!("application/{t}"))
        });
        if !ok {
            return Err(JwsError::Type(t));
        }
    }
    let kid = parsed.header.kid.as_deref().ok_or(JwsError::UnknownKey)?;
    let key = lookup(kid).ok_or(JwsError::UnknownKey)?;
    if key.algorithm() != alg {
        return Err(JwsError::Algorithm);
    }
    if !key.verify(parsed.signing_input.as_bytes(), &parsed.signature) {
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

/// Decodes the payload of a compact JWS without verifying it (for `castellan doctor`).
pub fn decode_unverified(token: &str) -> Result<(Header, Map<String, Value>), JwsError> {
    let parsed = parse(token)?;
    let payload = URL_SAFE_NO_PAD
        .decode(parsed.payload_b64)
        .map_err(|_| JwsError::Malformed)?;
    let claims = serde_json::from_slice(&payload).map_err(|_| JwsError::Malformed)?;
    Ok((parsed.header, claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(alg: Algorithm) {
        let (key, der) = SigningKey::generate(alg, format!("k-{alg}")).unwrap();
        let vk = key.verifying_key().unwrap();
        let token = sign(&key, "at+jwt", &json!({"sub": "abc", "n": 1})).unwrap();
        let v = verify(&token, Some("at+jwt"), |kid| {
            (kid == vk.kid()).then_some(&vk)
        })
        .unwrap();
        assert_eq!(v.claims["sub"], "abc");
        // The JWK alone verifies too (as a resource server would).
        let from_jwk = VerifyingKey::from_jwk(vk.jwk()).unwrap();
        assert!(verify(&token, None, |_| Some(&from_jwk)).is_ok());
        // The stored form parses back to the same key.
        let again = SigningKey::from_pkcs8(alg, key.kid().into(), &der).unwrap();
        assert_eq!(again.verifying_key().unwrap().jwk(), vk.jwk());
        // Tampering breaks it.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"root","n":1}"#);
        parts[1] = &forged;
        let tampered = parts.join(".");
        assert_eq!(
            verify(&tampered, None, |_| Some(&vk)).unwrap_err(),
            JwsError::Signature
        );
        assert_eq!(
            verify(&token, Some("id+jwt"), |_| Some(&vk)).unwrap_err(),
            JwsError::Type("id+jwt")
        );
    }

    #[test]
    fn es256_roundtrip() {
        roundtrip(Algorithm::Es256);
    }

    #[test]
    fn eddsa_roundtrip() {
        roundtrip(Algorithm::EdDsa);
    }

    #[test]
    fn rs256_roundtrip() {
        roundtrip(Algorithm::Rs256);
    }

    #[test]
    fn alg_none_and_alg_confusion_are_refused() {
        let (key, _) = SigningKey::generate(Algorithm::Es256, "k".into()).unwrap();
        let vk = key.verifying_key().unwrap();
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        let none = format!("{h}.{p}.");
        assert!(verify(&none, None, |_| Some(&vk)).is_err());
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"k"}"#);
        let confused = format!("{h}.{p}.AAAA");
        assert_eq!(
            verify(&confused, None, |_| Some(&vk)).unwrap_err(),
            JwsError::Algorithm
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for t in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "é.é.é",
            &"a".repeat(10_000),
        ] {
            assert!(verify(t, None, |_| None).is_err(), "{t:.20}");
        }
    }
}
