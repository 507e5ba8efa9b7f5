//! The audience rule at the guard, replayed: a token for another API is refused, whether its
//! `aud` is one string or an array naming several resources (RFC 8707), and a token whose
//! array names this API among others passes — for JWTs checked locally and for opaque tokens
//! through introspection's `aud`.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::dpop::{catalog, issuer, jti, now, ISSUER};
use castellan_crypto::{jws, Algorithm, SigningKey};
use reqwest::StatusCode;
use serde_json::{json, Value};

const API: &str = "https://catalog.example";

async fn get(base: &str, token: &str) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .get(format!("{base}/products"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_jwt_passes_only_when_one_of_its_audiences_is_this_api() {
    let (key, _) = SigningKey::generate(Algorithm::Es256, "as-1".into()).unwrap();
    let issuer_url = issuer(&key, json!({"active": false})).await;
    let base = catalog(&issuer_url, |c, _| c.resource = Some(API.into())).await;
    let token = |aud: Value| {
        jws::sign(
            &key,
            "at+jwt",
            &json!({
                "iss": ISSUER, "sub": "a", "aud": aud, "exp": now() + 600, "iat": now(),
                "jti": jti(), "client_id": "a", "scope": "products:read", "env": "local",
            }),
        )
        .unwrap()
    };
    for (aud, want) in [
        (json!(API), "ok"),
        (json!(["https://mcp.example", API]), "ok"),
        (json!("https://third-party.example"), "wrong_audience"),
        (
            json!(["https://third-party.example", ISSUER]),
            "wrong_audience",
        ),
        (json!([]), "malformed_token"),
        (json!([API, 7]), "malformed_token"),
    ] {
        let (status, b) = get(&base, &token(aud.clone())).await;
        if want == "ok" {
            assert_eq!(status, StatusCode::OK, "{aud}: {b}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{aud}");
            assert_eq!(b["reason"], want, "{aud}");
        }
    }
}

#[tokio::test]
async fn an_opaque_token_passes_only_when_introspection_names_this_api_among_its_audiences() {
    let (key, _) = SigningKey::generate(Algorithm::Es256, "as-1".into()).unwrap();
    for (aud, ok) in [
        (json!(["https://mcp.example", API]), true),
        (
            json!(["https://mcp.example", "https://third-party.example"]),
            false,
        ),
        (json!(7), false),
    ] {
        let answer = json!({
            "active": true, "client_id": "a", "sub": "a", "scope": "products:read",
            "iss": ISSUER, "aud": aud, "env": "local", "exp": now() + 600,
        });
        let issuer_url = issuer(&key, answer).await;
        let base = catalog(&issuer_url, |c, _| c.resource = Some(API.into())).await;
        let (status, b) = get(&base, &format!("ot_local_{}", "B".repeat(43))).await;
        if ok {
            assert_eq!(status, StatusCode::OK, "{aud}: {b}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{aud}");
            assert_eq!(b["reason"], "wrong_audience", "{aud}");
        }
    }
}
