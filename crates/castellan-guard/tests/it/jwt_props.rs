//! Property tests of the guard's whole JWT check (RFC 9068 §4) through the public
//! [`Guard::check_bearer`]: a guard fetching its JWKS from a local server, a fixed clock, and
//! tokens signed here. Claims with any times, issuer or environment get exactly the failure
//! an oracle predicts; tampered, re-typed, unsigned or unknown-key tokens are refused with
//! their failure; arbitrary bearer strings are refused; nothing panics.
//!
//! `cargo test -p castellan-guard --test it jwt_props::`; `PROPTEST_CASES=10000` for a longer run.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::token::Inactive;
use castellan_core::Environment;
use castellan_crypto::clock::ManualClock;
use castellan_crypto::{jws, Algorithm, SigningKey};
use castellan_guard::{Failure, Guard, GuardConfig};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

const ISSUER: &str = "http://as.test";
const NOW: i64 = 1_800_000_000;
const LEEWAY: i64 = 60;

struct Fixture {
    rt: tokio::runtime::Runtime,
    guard: Guard,
    /// Published in the JWKS, one per algorithm.
    keys: Vec<SigningKey>,
    /// Not published.
    stranger: SigningKey,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let keys: Vec<SigningKey> = Algorithm::ALL
            .iter()
            .map(|a| SigningKey::generate(*a, format!("kid-{a}")).unwrap().0)
            .collect();
        let (stranger, _) = SigningKey::generate(Algorithm::Es256, "kid-stranger".into()).unwrap();
        let jwks = json!({"keys": keys.iter().map(|k| k.verifying_key().unwrap().jwk().clone()).collect::<Vec<_>>()});
        let url = rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = axum::Router::new().route(
                "/jwks.json",
                axum::routing::get(move || async move { axum::Json(jwks) }),
            );
            tokio::spawn(async move { axum::serve(listener, app).await });
            format!("http://{addr}/jwks.json")
        });
        let mut config = GuardConfig::new(ISSUER, Environment::Local);
        config.jwks_url = Some(url);
        config.leeway_seconds = u32::try_from(LEEWAY).unwrap();
        // Every case is verified afresh, not answered from the verified-token cache.
        config.cache.token_capacity = 0;
        let clock = Arc::new(ManualClock::new(Utc.timestamp_opt(NOW, 0).unwrap()));
        let guard = Guard::with_clock(config, clock).unwrap();
        Fixture {
            rt,
            guard,
            keys,
            stranger,
        }
    })
}

fn check(token: &str) -> Result<(), Failure> {
    let f = fixture();
    f.rt.block_on(f.guard.check_bearer(token)).map(|_| ())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn claims(iss: &str, env: &str, exp: i64, iat: i64, nbf: Option<i64>) -> Value {
    let mut c = json!({
        "iss": iss, "sub": "user-1", "aud": ISSUER, "exp": exp, "iat": iat, "jti": "j1",
        "client_id": "client-1", "scope": "products:read", "env": env,
    });
    if let Some(nbf) = nbf {
        c["nbf"] = json!(nbf);
    }
    c
}

fn good_claims() -> Value {
    claims(ISSUER, "local", NOW + 600, NOW - 10, None)
}

fn sign(i: usize, claims: &Value) -> String {
    jws::sign(&fixture().keys[i % 3], "at+jwt", claims).unwrap()
}

fn sign_with_header(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    format!("{input}.{}", b64(&key.sign(input.as_bytes()).unwrap()))
}

/// What the check must answer, in its order: issuer, environment, expiry, `iat`, `nbf`.
fn oracle(iss_ok: bool, env_ok: bool, exp: i64, iat: i64, nbf: Option<i64>) -> Result<(), Failure> {
    let refuse = |i| Err(Failure::Token(i));
    if !iss_ok {
        refuse(Inactive::WrongIssuer)
    } else if !env_ok {
        refuse(Inactive::WrongEnvironment)
    } else if exp <= NOW {
        refuse(Inactive::Expired)
    } else if iat > NOW + LEEWAY || nbf.is_some_and(|n| n > NOW + LEEWAY) {
        refuse(Inactive::NotYetValid)
    } else {
        Ok(())
    }
}

/// Times near the boundaries, anywhere in i64, and the extremes.
fn time() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => (NOW - 2 * LEEWAY)..(NOW + 2 * LEEWAY),
        2 => any::<i64>(),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(0i64),
    ]
}

fn issuer() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(ISSUER.to_owned()),
        1 => prop::sample::select(vec![
            "http://as.test/", "https://as.test", "HTTP://AS.TEST", "http://as.test ", "",
        ]).prop_map(str::to_owned),
        1 => ".{0,30}",
    ]
}

fn environment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("local".to_owned()),
        1 => prop::sample::select(vec![
            "production", "live", "testing", "test", "LOCAL", "local ", "",
        ]).prop_map(str::to_owned),
        1 => "[a-z]{0,12}",
    ]
}

/// Cases per property: 512, or `PROPTEST_CASES` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Any times, issuer and environment: exactly the oracle's answer, never a panic.
    #[test]
    fn claims_get_the_failure_the_oracle_predicts(
        i in 0usize..3, iss in issuer(), env in environment(),
        exp in time(), iat in time(), nbf in prop::option::of(time()),
    ) {
        let want = oracle(iss == ISSUER, env == "local", exp, iat, nbf);
        let token = sign(i, &claims(&iss, &env, exp, iat, nbf));
        prop_assert_eq!(check(&token), want);
    }

    /// Just past the boundaries: expired at `exp` itself, not valid yet one second past the
    /// leeway, valid at the leeway.
    #[test]
    fn time_boundaries(i in 0usize..3, past in 0i64..1_000_000, ahead in 1i64..1_000_000) {
        let expired = sign(i, &claims(ISSUER, "local", NOW - past, NOW - past - 600, None));
        prop_assert_eq!(check(&expired), Err(Failure::Token(Inactive::Expired)));
        let early = NOW + LEEWAY + ahead;
        let iat = sign(i, &claims(ISSUER, "local", early + 600, early, None));
        prop_assert_eq!(check(&iat), Err(Failure::Token(Inactive::NotYetValid)));
        let nbf = sign(i, &claims(ISSUER, "local", early + 600, NOW, Some(early)));
        prop_assert_eq!(check(&nbf), Err(Failure::Token(Inactive::NotYetValid)));
        let within = NOW + ahead % (LEEWAY + 1);
        let ok = sign(i, &claims(ISSUER, "local", within + 600, within, Some(within)));
        prop_assert_eq!(check(&ok), Ok(()));
    }

    /// Claims of the wrong JSON type (a time as a string or a fraction, a missing claim).
    #[test]
    fn ill_typed_or_missing_claims_are_malformed(
        i in 0usize..3,
        field in prop::sample::select(vec!["exp", "iat", "nbf", "iss", "sub", "env", "scope", "client_id"]),
        value in prop_oneof![
            Just(json!("1800000600")), Just(json!(1.8e9 + 600.5)), Just(json!(null)),
            Just(json!([1])), Just(json!({})), Just(json!(true)), Just(json!(u64::MAX)),
        ],
        remove in any::<bool>(),
    ) {
        let mut c = good_claims();
        if remove {
            prop_assume!(field != "nbf");
            c.as_object_mut().unwrap().remove(field);
        } else {
            // A string is the right type for the string claims.
            prop_assume!(!value.is_string() || ["exp", "iat", "nbf"].contains(&field));
            c[field] = value;
        }
        prop_assert_eq!(check(&sign(i, &c)), Err(Failure::Token(Inactive::Malformed)));
    }

    /// A payload changed under a valid signature: other claims re-encoded, or one base64url
    /// character of the payload segment replaced.
    #[test]
    fn tampered_payloads_are_bad_signatures(
        i in 0usize..3,
        change in prop::sample::select(vec!["exp", "sub", "scope", "iss", "env", "org"]),
        pos in any::<prop::sample::Index>(),
        c in prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".chars().collect::<Vec<_>>()),
    ) {
        let token = sign(i, &good_claims());
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = good_claims();
        forged[change] = match change {
            "exp" => json!(NOW + 86_400 * 365),
            "scope" => json!("products:read admin"),
            _ => json!("someone-else"),
        };
        let swapped = format!("{}.{}.{}", parts[0], b64(forged.to_string().as_bytes()), parts[2]);
        prop_assert_eq!(check(&swapped), Err(Failure::Token(Inactive::BadSignature)));

        let mut payload: Vec<char> = parts[1].chars().collect();
        let at = pos.index(payload.len());
        prop_assume!(payload[at] != c);
        payload[at] = c;
        let payload: String = payload.into_iter().collect();
        let flipped = format!("{}.{payload}.{}", parts[0], parts[2]);
        prop_assert_eq!(check(&flipped), Err(Failure::Token(Inactive::BadSignature)));
    }

    /// Any one byte of a valid token changed to any other ASCII character is refused.
    #[test]
    fn any_single_byte_change_is_refused(i in 0usize..3, pos in any::<prop::sample::Index>(), c in 0u8..128) {
        let mut bytes = sign(i, &good_claims()).into_bytes();
        let at = pos.index(bytes.len());
        prop_assume!(bytes[at] != c);
        bytes[at] = c;
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(check(&changed).is_err(), "accepted: {}", changed);
    }

    /// `alg: none` or a foreign algorithm, another `typ` (RFC 9068 §4: `at+jwt` only), or a
    /// `kid` the JWKS does not have.
    #[test]
    fn headers_the_guard_does_not_accept(
        i in 0usize..3,
        alg in prop::sample::select(vec!["none", "None", "HS256", "ES384", "PS256", ""]),
        typ in prop::option::of(prop::sample::select(vec!["JWT", "jwt", "id+jwt", "at+jwt+x", "", "application/jwt"])),
        kid in "[a-z0-9-]{0,20}",
    ) {
        let f = fixture();
        let key = &f.keys[i % 3];
        let good = good_claims();
        // alg none with an empty signature is not even three non-empty parts.
        let h = json!({"alg": alg, "typ": "at+jwt", "kid": key.kid()});
        let none = format!("{}.{}.", b64(h.to_string().as_bytes()), b64(good.to_string().as_bytes()));
        prop_assert_eq!(check(&none), Err(Failure::Token(Inactive::Malformed)));
        prop_assert_eq!(check(&sign_with_header(key, &h, &good)), Err(Failure::Algorithm));

        let mut h = json!({"alg": key.algorithm().name(), "kid": key.kid()});
        if let Some(t) = typ {
            h["typ"] = json!(t);
        }
        prop_assert_eq!(check(&sign_with_header(key, &h, &good)), Err(Failure::Token(Inactive::Malformed)));

        prop_assume!(f.keys.iter().all(|k| k.kid() != kid));
        let h = json!({"alg": key.algorithm().name(), "typ": "at+jwt", "kid": kid});
        prop_assert_eq!(check(&sign_with_header(key, &h, &good)), Err(Failure::Token(Inactive::UnknownKey)));
    }

    /// Any bearer string at all: refused, never a panic.
    #[test]
    fn arbitrary_bearer_strings_are_refused(s in prop_oneof![".{0,200}", "[A-Za-z0-9_.-]{0,300}", "ot_[a-z]{0,6}_[A-Za-z0-9_-]{40,46}"]) {
        prop_assert!(check(&s).is_err());
    }
}

/// A token signed by a key the issuer never published, after the guard refetched its JWKS.
#[test]
fn a_key_the_issuer_never_published_is_unknown() {
    let f = fixture();
    let token = jws::sign(&f.stranger, "at+jwt", &good_claims()).unwrap();
    assert_eq!(check(&token), Err(Failure::Token(Inactive::UnknownKey)));
    // And with the kid of a published key: the signature, not the kid, gives it away.
    let h = json!({"alg": "ES256", "typ": "at+jwt", "kid": f.keys[0].kid()});
    assert_eq!(
        check(&sign_with_header(&f.stranger, &h, &good_claims())),
        Err(Failure::Token(Inactive::BadSignature))
    );
    assert_eq!(check(&sign(0, &good_claims())), Ok(()));
}

/// Longer than the verifier accepts, even when validly signed.
#[test]
fn huge_tokens_are_refused() {
    let mut c = good_claims();
    c["pad"] = json!("x".repeat(jws::MAX_TOKEN_LEN));
    assert_eq!(
        check(&sign(1, &c)),
        Err(Failure::Token(Inactive::Malformed))
    );
    let t = format!("{}.{}", sign(0, &good_claims()), "A".repeat(10_000));
    assert!(check(&t).is_err());
}
