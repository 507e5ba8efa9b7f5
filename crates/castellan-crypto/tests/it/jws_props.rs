//! Property tests of the compact JWS parser and verifier (RFC 7515, RFC 8725 §3.1, RFC 9068
//! `typ`): untrusted input never panics and is refused; a token signed here verifies, and any
//! change to it — one byte, `alg: none`, another `typ` or `kid`, extra or missing segments,
//! characters outside base64url, oversized segments — is refused with its error.
//!
//! `cargo test -p castellan-crypto --test it jws_props::`; `PROPTEST_CASES=10000` for a longer run.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_crypto::jws::{self, JwsError, MAX_TOKEN_LEN};
use castellan_crypto::{Algorithm, SigningKey, VerifyingKey};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::OnceLock;

const TYP: &str = "at+jwt";

/// One signing key per algorithm, made once (RSA generation is slow).
fn keys() -> &'static [(SigningKey, VerifyingKey); 3] {
    static KEYS: OnceLock<[(SigningKey, VerifyingKey); 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        Algorithm::ALL.map(|alg| {
            let (k, _) = SigningKey::generate(alg, format!("kid-{alg}")).unwrap();
            let v = k.verifying_key().unwrap();
            (k, v)
        })
    })
}

fn key(i: usize) -> &'static (SigningKey, VerifyingKey) {
    &keys()[i % 3]
}

/// Verifies as the server and the guard do: `typ` `at+jwt`, the key found by `kid`.
fn verify(token: &str) -> Result<jws::VerifiedJws, JwsError> {
    jws::verify(token, Some(TYP), |kid| {
        keys().iter().map(|(_, v)| v).find(|v| v.kid() == kid)
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS with any header, signed by `signer` (so only the header is at fault).
fn signed_with_header(signer: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let sig = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&sig))
}

fn claims_strategy() -> impl Strategy<Value = Value> {
    ("[a-z0-9-]{1,24}", "[a-z:]{0,40}", any::<u32>()).prop_map(|(sub, scope, exp)| {
        json!({"iss": "http://as", "sub": sub, "scope": scope, "exp": exp, "env": "local"})
    })
}

fn valid_token(i: usize, claims: &Value) -> String {
    jws::sign(&key(i).0, TYP, claims).unwrap()
}

/// Cases per property: 256, or `PROPTEST_CASES` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_text_is_refused_without_panic(s in ".{0,300}") {
        prop_assert!(verify(&s).is_err());
        let _ = jws::parse(&s);
        let _ = jws::decode_unverified(&s);
    }

    #[test]
    fn any_bytes_are_refused_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let s = String::from_utf8_lossy(&bytes);
        prop_assert!(verify(&s).is_err());
        let _ = jws::decode_unverified(&s);
    }

    /// Three base64url segments of arbitrary bytes: the shape is right, nothing else is.
    #[test]
    fn jws_shaped_garbage_is_refused(
        h in proptest::collection::vec(any::<u8>(), 0..80),
        p in proptest::collection::vec(any::<u8>(), 0..200),
        s in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let t = format!("{}.{}.{}", b64(&h), b64(&p), b64(&s));
        prop_assert!(verify(&t).is_err());
        let _ = jws::decode_unverified(&t);
    }

    /// A well-formed header naming a real key and algorithm, with a signature that is not one.
    #[test]
    fn a_forged_signature_is_refused(i in 0usize..3, claims in claims_strategy(),
                                     sig in proptest::collection::vec(any::<u8>(), 1..600)) {
        let v = &key(i).1;
        let header = json!({"alg": v.algorithm().name(), "typ": TYP, "kid": v.kid()});
        let t = format!("{}.{}.{}", b64(header.to_string().as_bytes()),
                        b64(claims.to_string().as_bytes()), b64(&sig));
        prop_assert_eq!(verify(&t).unwrap_err(), JwsError::Signature);
    }

    #[test]
    fn tokens_signed_here_verify(i in 0usize..3, claims in claims_strategy()) {
        let t = valid_token(i, &claims);
        let v = verify(&t).unwrap();
        prop_assert_eq!(Value::Object(v.claims), claims.clone());
        // `typ` is compared without case, and with its `application/` form (RFC 9068 §4).
        for typ in ["AT+JWT", "application/at+jwt"] {
            let h = json!({"alg": key(i).1.algorithm().name(), "typ": typ, "kid": key(i).1.kid()});
            prop_assert!(verify(&signed_with_header(&key(i).0, &h, &claims)).is_ok());
        }
    }

    /// Changing any one byte of a valid token — header, payload, signature or a dot — to any
    /// other ASCII character is refused.
    #[test]
    fn any_single_byte_change_is_refused(i in 0usize..3, claims in claims_strategy(),
                                         pos in any::<prop::sample::Index>(), c in 0u8..128) {
        let t = valid_token(i, &claims);
        let mut bytes = t.into_bytes();
        let at = pos.index(bytes.len());
        prop_assume!(bytes[at] != c);
        bytes[at] = c;
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(verify(&changed).is_err(), "accepted: {}", changed);
    }

    /// Flipping one bit of the decoded signature (a signature that is valid base64url).
    #[test]
    fn any_signature_bit_flip_is_refused(i in 0usize..3, claims in claims_strategy(),
                                         pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let t = valid_token(i, &claims);
        let (input, sig) = t.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let at = pos.index(sig.len());
        sig[at] ^= 1 << bit;
        let forged = format!("{input}.{}", b64(&sig));
        prop_assert_eq!(verify(&forged).unwrap_err(), JwsError::Signature);
    }

    /// Another payload under a valid signature.
    #[test]
    fn a_swapped_payload_is_refused(i in 0usize..3, a in claims_strategy(), b in claims_strategy()) {
        prop_assume!(a != b);
        let t = valid_token(i, &a);
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], b64(b.to_string().as_bytes()), parts[2]);
        prop_assert_eq!(verify(&forged).unwrap_err(), JwsError::Signature);
    }

    /// `alg: none` (any spelling) and algorithms Castellan never signs with, whether the
    /// signature is empty, random or a real signature of another algorithm.
    #[test]
    fn alg_none_and_foreign_algorithms_are_refused(
        alg in prop::sample::select(vec!["none", "None", "NONE", "nOnE", "", "HS256", "HS512",
                                         "ES384", "PS256", "RS512", "es256", "eddsa", "ES256 "]),
        i in 0usize..3, claims in claims_strategy(),
        sig in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let kid = key(i).1.kid();
        let header = json!({"alg": alg, "typ": TYP, "kid": kid});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        for t in [format!("{input}."), format!("{input}.{}", b64(&sig)),
                  signed_with_header(&key(i).0, &header, &claims)] {
            let e = verify(&t).unwrap_err();
            prop_assert!(matches!(e, JwsError::Algorithm | JwsError::Malformed), "{e:?}");
        }
    }

    /// The header names one real algorithm, the key named by `kid` is of another (RFC 8725
    /// §2.1, algorithm confusion), and the signature is made with that other algorithm's key.
    #[test]
    fn a_key_of_another_algorithm_is_refused(i in 0usize..3, j in 1usize..3, claims in claims_strategy()) {
        let (signer, named) = (&key(i + j).0, &key(i).1);
        let header = json!({"alg": signer.algorithm().name(), "typ": TYP, "kid": named.kid()});
        let t = signed_with_header(signer, &header, &claims);
        prop_assert_eq!(verify(&t).unwrap_err(), JwsError::Algorithm);
    }

    /// RFC 9068 §4: the access-token `typ` is required; any other or none is refused.
    #[test]
    fn a_wrong_or_missing_typ_is_refused(
        typ in prop::option::of(prop_oneof![
            Just("JWT".to_owned()), Just("jwt".to_owned()), Just("id+jwt".to_owned()),
            Just("at+jwt ".to_owned()), Just("application/jwt".to_owned()),
            Just("application/at+jwt+x".to_owned()), "[a-z+/]{0,16}",
        ]),
        i in 0usize..3, claims in claims_strategy(),
    ) {
        if let Some(t) = &typ {
            prop_assume!(!t.eq_ignore_ascii_case(TYP) && !t.eq_ignore_ascii_case("application/at+jwt"));
        }
        let v = &key(i).1;
        let mut header = json!({"alg": v.algorithm().name(), "kid": v.kid()});
        if let Some(t) = typ {
            header["typ"] = json!(t);
        }
        let t = signed_with_header(&key(i).0, &header, &claims);
        prop_assert_eq!(verify(&t).unwrap_err(), JwsError::Type(TYP));
        // Also when `typ` is not a string at all.
        header["typ"] = json!(7);
        prop_assert!(verify(&signed_with_header(&key(i).0, &header, &claims)).is_err());
    }

    /// A `kid` no key has, or none, even with a valid signature by a known key.
    #[test]
    fn an_unknown_or_missing_kid_is_refused(kid in prop::option::of(".{0,40}"), i in 0usize..3,
                                             claims in claims_strategy()) {
        if let Some(k) = &kid {
            prop_assume!(keys().iter().all(|(_, v)| v.kid() != k));
        }
        let v = &key(i).1;
        let mut header = json!({"alg": v.algorithm().name(), "typ": TYP});
        if let Some(k) = kid {
            header["kid"] = json!(k);
        }
        let t = signed_with_header(&key(i).0, &header, &claims);
        prop_assert_eq!(verify(&t).unwrap_err(), JwsError::UnknownKey);
    }

    /// Characters outside the base64url alphabet (padding, `+`, `/`, spaces, controls,
    /// non-ASCII) anywhere in a valid token.
    #[test]
    fn non_base64url_characters_are_refused(
        i in 0usize..3, claims in claims_strategy(), pos in any::<prop::sample::Index>(),
        c in prop::sample::select(vec!['=', '+', '/', ' ', '\n', '\t', '\0', '%', '!', '~', '*',
                                       'é', '\u{200b}', '\u{ff21}']),
        replace in any::<bool>(),
    ) {
        let t = valid_token(i, &claims);
        let mut chars: Vec<char> = t.chars().collect();
        let at = pos.index(chars.len());
        if replace {
            chars[at] = c;
        } else {
            chars.insert(at, c);
        }
        let changed: String = chars.into_iter().collect();
        prop_assert!(verify(&changed).is_err(), "accepted: {:?}", changed);
    }

    /// A fourth (or fifth) segment, or a missing one.
    #[test]
    fn extra_or_missing_segments_are_refused(i in 0usize..3, claims in claims_strategy(),
                                             extra in proptest::collection::vec("[A-Za-z0-9_-]{0,20}", 1..3)) {
        let t = valid_token(i, &claims);
        let more = format!("{t}.{}", extra.join("."));
        prop_assert_eq!(verify(&more).unwrap_err(), JwsError::Malformed);
        let (two, _) = t.rsplit_once('.').unwrap();
        prop_assert_eq!(verify(two).unwrap_err(), JwsError::Malformed);
        prop_assert_eq!(verify(&format!("{two}.")).unwrap_err(), JwsError::Malformed);
        let (_, rest) = t.split_once('.').unwrap();
        prop_assert_eq!(verify(&format!(".{rest}")).unwrap_err(), JwsError::Malformed);
    }

    /// Anything longer than MAX_TOKEN_LEN is refused before it is decoded, whether the extra
    /// length is in the header, the payload or the signature — even when validly signed.
    #[test]
    fn huge_segments_are_refused(i in 0usize..3, which in 0usize..3, extra in 0usize..20_000,
                                 claims in claims_strategy()) {
        let t = valid_token(i, &claims);
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let grow = MAX_TOKEN_LEN + 1 - t.len().min(MAX_TOKEN_LEN) + extra;
        parts[which].push_str(&"A".repeat(grow));
        let huge = parts.join(".");
        prop_assert_eq!(verify(&huge).unwrap_err(), JwsError::TooLarge);
        prop_assert_eq!(jws::parse(&huge).err(), Some(JwsError::TooLarge));
        // A validly signed token whose payload alone is too large.
        let mut big = claims.clone();
        big["pad"] = json!("x".repeat(MAX_TOKEN_LEN + extra % 1_000));
        let signed = valid_token(i, &big);
        prop_assert_eq!(verify(&signed).unwrap_err(), JwsError::TooLarge);
    }

    /// Headers and payloads that are base64url but not JSON objects of the right shape.
    #[test]
    fn non_json_or_ill_typed_parts_are_refused(
        i in 0usize..3,
        header in prop_oneof![
            Just(json!([])), Just(json!("ES256")), Just(json!(null)), Just(json!({})),
            Just(json!({"alg": 1})), Just(json!({"alg": null, "kid": "kid-ES256"})),
            Just(json!({"alg": "ES256", "kid": ["kid-ES256"], "typ": TYP})),
        ],
        payload in prop_oneof![Just(b"null".to_vec()), Just(b"[]".to_vec()), Just(b"\"x\"".to_vec()),
                               Just(b"{".to_vec()), Just(Vec::new()),
                               proptest::collection::vec(any::<u8>(), 0..64)],
    ) {
        prop_assume!(serde_json::from_slice::<serde_json::Map<String, Value>>(&payload).is_err());
        let t = signed_with_header(&key(i).0, &header, &json!({"sub": "x"}));
        prop_assert!(verify(&t).is_err());
        // A valid header and signature over a payload that is not a JSON object.
        let v = &key(i).1;
        let h = json!({"alg": v.algorithm().name(), "typ": TYP, "kid": v.kid()});
        let input = format!("{}.{}", b64(h.to_string().as_bytes()), b64(&payload));
        let sig = key(i).0.sign(input.as_bytes()).unwrap();
        let t = format!("{input}.{}", b64(&sig));
        prop_assert_eq!(verify(&t).unwrap_err(), JwsError::Malformed);
        prop_assert!(jws::decode_unverified(&t).is_err());
    }
}
