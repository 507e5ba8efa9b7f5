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

/// A token Castellan issued for two resources (`resource` twice, RFC 8707) carries both in
/// `aud`: the guard of either passes it, the guard of a third refuses it, as a JWT and as an
/// opaque token through introspection.
#[tokio::test]
async fn a_castellan_token_for_two_resources_passes_the_guard_of_either_only() {
    const MCP: &str = "https://mcp.example";
    const OTHER: &str = "https://billing.example";
    let app = castellan_testkit::TestApp::spawn_with(|c| {
        c.token.resources = vec![API.into(), MCP.into(), OTHER.into()];
    })
    .await;
    for format in ["jwt", "opaque"] {
        let client = app
            .create_client(
                json!({"name": "agent", "scope": "products:read", "tokenFormat": format}),
            )
            .await;
        let res = app
            .http
            .post(app.url("/oauth/token"))
            .basic_auth(client["id"].as_str().unwrap(), client["secret"].as_str())
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", API),
                ("resource", MCP),
            ])
            .send()
            .await
            .unwrap();
        let b: Value = res.json().await.unwrap();
        let token = b["access_token"].as_str().unwrap().to_owned();
        if format == "jwt" {
            assert_eq!(
                castellan_testkit::oauth::claims(&token)["aud"],
                json!([API, MCP])
            );
        }
        for (resource, ok) in [(API, true), (MCP, true), (OTHER, false)] {
            let mut c = crate::support::guard_config(&app);
            crate::support::with_introspection(&mut c, &app, None);
            c.resource = Some(resource.into());
            let base = crate::support::serve(castellan_guard::example::catalog_router(
                castellan_guard::Guard::new(c).unwrap(),
            ))
            .await;
            let (status, b) = get(&base, &token).await;
            if ok {
                assert_eq!(status, StatusCode::OK, "{format} at {resource}: {b}");
            } else {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{format} at {resource}");
                assert_eq!(b["reason"], "wrong_audience", "{format} at {resource}");
            }
        }
    }
}

/// The guard's 401 names the metadata document Castellan serves for the guard's resource
/// (RFC 9728 §3.1: the well-known segment between host and path), as forward-auth names its
/// own, and that document describes that resource.
#[tokio::test]
async fn the_challenge_names_the_metadata_document_of_the_guards_resource() {
    const RESOURCE: &str = "https://catalog.example/api";
    let app = castellan_testkit::TestApp::spawn_with(|c| {
        c.token.resources = vec![RESOURCE.into()];
    })
    .await;
    let mut c = crate::support::guard_config(&app);
    c.resource = Some(RESOURCE.into());
    let base = crate::support::serve(castellan_guard::example::catalog_router(
        castellan_guard::Guard::new(c).unwrap(),
    ))
    .await;
    let res = reqwest::get(format!("{base}/products")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let path = "/.well-known/oauth-protected-resource/api";
    let issuer = &app.state.config.issuer;
    assert_eq!(www, format!("Bearer resource_metadata=\"{issuer}{path}\""));
    let doc: Value = reqwest::get(app.url(path))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["resource"], RESOURCE);
}
