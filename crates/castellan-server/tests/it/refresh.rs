//! The refresh-token grant (RFC 6749 §6, RFC 9700 §4.14.2): rotation, reuse
//! detection revoking the family, scope narrowing (never widening), the inactivity lifetime
//! restarting at every use, and revocation of a refresh token with the client's
//! credentials in a form body.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_testkit::people::*;
use castellan_testkit::{ManualClock, TestApp};
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

async fn first_tokens(app: &TestApp, g: &Grant, scope: &str) -> Value {
    let (code, _) = issue_code(app, &g.spec(scope)).await;
    let (s, b) = exchange(app, &g.client, &code).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

fn rt(b: &Value) -> String {
    b["refresh_token"].as_str().unwrap().to_owned()
}

fn at(b: &Value) -> String {
    b["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_refresh_rotates_and_answers_like_close() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let first = first_tokens(&app, &g, "openid offline_access products:read").await;
    let (s, second) = refresh(&app, &g.client, &rt(&first), None).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_ne!(rt(&second), rt(&first));
    assert_eq!(second["scope"], "openid offline_access products:read");
    assert_eq!(second["organization_id"], g.org.as_str());
    assert_eq!(second["user_id"], g.user.id.as_str());
    assert_eq!(claims(&at(&second))["gid"], claims(&at(&first))["gid"]);
    // The ID token of a refresh carries no nonce.
    let (_, id) = verify_id_token(&app, second["id_token"].as_str().unwrap()).await;
    assert!(id.get("nonce").is_none(), "{id}");
    assert_eq!(id["sub"], g.user.id.as_str());

    let (s, third) = refresh(&app, &g.client, &rt(&second), None).await;
    assert_eq!(s, StatusCode::OK, "{third}");
    assert!(is_active(&app, &at(&third)).await);
}

/// OIDC Core §12.2: with `token.id_token_on_refresh = false` a refresh answers no ID token
/// (the sign-in's stands), and ID tokens may be ES256 (`token.id_token_algorithm`).
#[tokio::test]
async fn a_refresh_may_answer_no_id_token_and_id_tokens_may_be_es256() {
    let app = TestApp::spawn_with(|c| {
        c.token.id_token_on_refresh = false;
        c.token.id_token_algorithm = "ES256".into();
    })
    .await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let g = setup(&app).await;
    let first = first_tokens(&app, &g, "openid offline_access products:read").await;
    let (alg, id) = verify_id_token(&app, first["id_token"].as_str().unwrap()).await;
    assert_eq!(alg, "ES256");
    assert_eq!(id["sub"], g.user.id.as_str());

    let (s, second) = refresh(&app, &g.client, &rt(&first), None).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert!(second.get("id_token").is_none(), "{second}");
    assert_eq!(second["scope"], "openid offline_access products:read");
    assert!(is_active(&app, &at(&second)).await);
}

#[tokio::test]
async fn reusing_a_rotated_out_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let first = first_tokens(&app, &g, "offline_access products:read").await;
    let (_, second) = refresh(&app, &g.client, &rt(&first), None).await;
    assert!(is_active(&app, &at(&second)).await);

    let (s, b) = refresh(&app, &g.client, &rt(&first), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_grant");
    // The newest refresh token dies with its family, and so do the access tokens.
    let (s, b) = refresh(&app, &g.client, &rt(&second), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_grant");
    assert!(!is_active(&app, &at(&second)).await);
    assert!(!is_active(&app, &at(&first)).await);
}

#[tokio::test]
async fn scope_may_be_narrowed_never_widened() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let first = first_tokens(&app, &g, "offline_access products:read products:write").await;
    let (s, narrow) = refresh(&app, &g.client, &rt(&first), Some("products:read")).await;
    assert_eq!(s, StatusCode::OK, "{narrow}");
    assert_eq!(narrow["scope"], "products:read");
    assert_eq!(claims(&at(&narrow))["scope"], "products:read");
    // The family keeps its scope: the next refresh without a scope gets all of it again.
    let (s, full) = refresh(&app, &g.client, &rt(&narrow), None).await;
    assert_eq!(s, StatusCode::OK, "{full}");
    assert_eq!(full["scope"], "offline_access products:read products:write");

    let (s, b) = refresh(
        &app,
        &g.client,
        &rt(&full),
        Some("products:read account:write"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_scope");
    // A refused widening rotates nothing: the token still works.
    let (s, b) = refresh(&app, &g.client, &rt(&full), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn refresh_lifetime_restarts_at_every_use() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = TestApp::spawn_full(|_| {}, Arc::<ManualClock>::clone(&clock)).await;
    let g = setup(&app).await;
    let client = code_client(&app, json!({"refreshTokenValiditySeconds": 100})).await;
    let g = Grant { client, ..g };
    let first = first_tokens(&app, &g, "offline_access").await;

    clock.advance(Duration::seconds(80));
    let (s, second) = refresh(&app, &g.client, &rt(&first), None).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    // 160 s after the first token: past its lifetime, within the second's.
    clock.advance(Duration::seconds(80));
    let (s, third) = refresh(&app, &g.client, &rt(&second), None).await;
    assert_eq!(s, StatusCode::OK, "{third}");
    // Unused for longer than 100 s: dead.
    clock.advance(Duration::seconds(101));
    let (s, b) = refresh(&app, &g.client, &rt(&third), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_grant");
    assert!(b["error_description"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn unknown_foreign_or_missing_refresh_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let other = code_client(&app, json!({"name": "Other"})).await;
    let first = first_tokens(&app, &g, "offline_access").await;

    let (s, b) = refresh(&app, &g.client, "no-such-token", None).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (s, b) = refresh(&app, &other, &rt(&first), None).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{b}"
    );
    // Another client's attempt does not rotate the token.
    let (s, rotated) = refresh(&app, &g.client, &rt(&first), None).await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let (s, b) = token(&app, &g.client, &[("grant_type", "refresh_token")]).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    let no_refresh = code_client(&app, json!({"grantTypes": ["authorization_code"]})).await;
    let (s, b) = refresh(&app, &no_refresh, &rt(&rotated), None).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
}

#[tokio::test]
async fn a_client_without_the_refresh_grant_gets_no_refresh_token() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let client = code_client(&app, json!({"grantTypes": ["authorization_code"]})).await;
    let g = Grant { client, ..g };
    let b = first_tokens(&app, &g, "offline_access").await;
    assert!(b.get("refresh_token").is_none(), "{b}");
}

#[tokio::test]
async fn close_style_revocation_of_a_refresh_token_ends_its_family() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let first = first_tokens(&app, &g, "offline_access products:read").await;
    let (_, second) = refresh(&app, &g.client, &rt(&first), None).await;
    assert!(is_active(&app, &at(&second)).await);

    // Another client may not revoke it.
    let other = code_client(&app, json!({"name": "Other"})).await;
    assert_eq!(
        revoke(&app, &other, &rt(&second)).await,
        StatusCode::BAD_REQUEST
    );
    assert!(is_active(&app, &at(&second)).await);

    assert_eq!(revoke(&app, &g.client, &rt(&second)).await, StatusCode::OK);
    assert!(!is_active(&app, &at(&second)).await);
    assert!(!is_active(&app, &at(&first)).await);
    let (s, b) = refresh(&app, &g.client, &rt(&second), None).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Revoking again, or an unknown token, is still 200 (RFC 7009 §2.2).
    assert_eq!(revoke(&app, &g.client, &rt(&second)).await, StatusCode::OK);
    assert_eq!(revoke(&app, &g.client, "unknown").await, StatusCode::OK);
}

/// A refresh keeps the audience of its grant (RFC 8707 §2.2): without `resource` it is not
/// silently switched to the default audience, and a `resource` naming another is refused.
#[tokio::test]
async fn a_refresh_keeps_the_resource_of_its_grant() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let mut spec = g.spec("offline_access products:read");
    spec.resource = Some("https://orders.example".into());
    let (code, _) = issue_code(&app, &spec).await;
    let (s, first) = exchange(&app, &g.client, &code).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(claims(&at(&first))["aud"], "https://orders.example");
    let (s, second) = refresh(&app, &g.client, &rt(&first), None).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_eq!(claims(&at(&second))["aud"], "https://orders.example");
    for other in [
        app.state.config.issuer.as_str(),
        "https://third-party.example",
    ] {
        let (s, b) = token(
            &app,
            &g.client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt(&second)),
                ("resource", other),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["error"], "invalid_target");
    }
    // Naming the grant's own resource is fine.
    let (s, third) = token(
        &app,
        &g.client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt(&second)),
            ("resource", "https://orders.example"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{third}");
    assert_eq!(claims(&at(&third))["aud"], "https://orders.example");
}

/// Introspects `token` as `who` (HTTP Basic) with an optional `token_type_hint`.
async fn introspect_as(app: &TestApp, who: (&str, &str), token: &str, hint: Option<&str>) -> Value {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(who.0, Some(who.1))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// RFC 7662 §2.1: "token" may be a refresh token.
#[tokio::test]
async fn refresh_tokens_introspect_until_rotated_or_revoked() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let admin = (app.admin_id.as_str(), app.admin_secret.as_str());
    let first = first_tokens(&app, &g, "offline_access products:read").await;
    let before = Utc::now().timestamp();

    // Active, with or without the hint, and with a wrong hint too.
    for hint in [None, Some("refresh_token"), Some("access_token")] {
        let v = introspect_as(&app, admin, &rt(&first), hint).await;
        assert_eq!(v["active"], true, "{hint:?} {v}");
        assert_eq!(v["token_type"], "refresh_token");
        assert_eq!(v["scope"], "offline_access products:read");
        assert_eq!(v["client_id"], g.client.id.as_str());
        assert_eq!(v["sub"], g.user.id.as_str());
        assert_eq!(v["aud"], app.state.config.default_audience());
        assert!(v["exp"].as_i64().unwrap() > before, "{v}");
    }
    // An access token hinted as a refresh token is still found as what it is.
    let v = introspect_as(&app, admin, &at(&first), Some("refresh_token")).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["token_type"], "Bearer");

    // Its own client may ask; another client without `introspect` learns nothing.
    let own = (g.client.id.as_str(), g.client.secret.as_str());
    assert_eq!(
        introspect_as(&app, own, &rt(&first), None).await["active"],
        true
    );
    let other = code_client(&app, json!({"name": "Other"})).await;
    assert_eq!(
        introspect_as(&app, (&other.id, &other.secret), &rt(&first), None).await,
        json!({"active": false})
    );

    // Rotated out: inactive; its successor is active.
    let (s, second) = refresh(&app, &g.client, &rt(&first), None).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    for hint in [None, Some("refresh_token")] {
        let v = introspect_as(&app, admin, &rt(&first), hint).await;
        assert_eq!(v, json!({"active": false}));
    }
    assert_eq!(
        introspect_as(&app, admin, &rt(&second), None).await["active"],
        true
    );

    // Revoked (RFC 7009): inactive.
    assert_eq!(revoke(&app, &g.client, &rt(&second)).await, StatusCode::OK);
    for hint in [None, Some("refresh_token")] {
        let v = introspect_as(&app, admin, &rt(&second), hint).await;
        assert_eq!(v, json!({"active": false}));
    }
}

/// A refresh token of a client past its `deleteAt` (not yet purged) cannot be used, so it
/// introspects inactive, even to a resource server.
#[tokio::test]
async fn a_refresh_token_of_a_client_past_its_delete_date_introspects_inactive() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let admin = (app.admin_id.as_str(), app.admin_secret.as_str());
    let first = first_tokens(&app, &g, "offline_access products:read").await;
    assert_eq!(
        introspect_as(&app, admin, &rt(&first), None).await["active"],
        true
    );
    let mut client = app.store.get_client(&g.client.id).await.unwrap().unwrap();
    client.delete_at = Some(Utc::now() - Duration::seconds(1));
    assert!(app.store.update_client(&client).await.unwrap());
    app.state.clients.invalidate(&client.id);
    for hint in [None, Some("refresh_token")] {
        let v = introspect_as(&app, admin, &rt(&first), hint).await;
        assert_eq!(v, json!({"active": false}), "{hint:?}");
    }
}

/// A refresh token starts with its issue time and is stored under that time and most of its
/// hash, so new keys sort by time; one stored in the earlier format (43 characters, keyed by its
/// whole SHA-256) still refreshes, and presenting it again once rotated still revokes its family.
#[tokio::test]
async fn refresh_tokens_are_stored_under_time_ordered_keys_and_earlier_ones_still_work() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let first = first_tokens(&app, &g, "openid offline_access products:read").await;
    let token = rt(&first);
    assert_eq!(token.len(), 51, "{token}");
    let raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
    let mut millis = [0u8; 8];
    millis[2..].copy_from_slice(&raw[..6]);
    let issued = i64::from_be_bytes(millis);
    assert!(
        (Utc::now().timestamp_millis() - issued).abs() < 60_000,
        "{issued}"
    );
    let key = castellan_crypto::refresh_token_key(&token);
    assert_eq!(key[..6], raw[..6]);
    let stored = app.store.find_refresh_token(&key).await.unwrap().unwrap();
    assert_eq!(stored.client_id, g.client.id);
    // Nothing is stored under the whole hash of the token.
    let whole = castellan_crypto::hash_secret(&token).0;
    assert!(app
        .store
        .find_refresh_token(&whole)
        .await
        .unwrap()
        .is_none());

    // A token of the earlier format: the same grant, stored under the whole SHA-256 of a
    // 43-character secret.
    let legacy = castellan_crypto::generate_secret();
    let legacy = legacy.expose();
    let mut earlier = stored.clone();
    earlier.hash = castellan_crypto::hash_secret(legacy).0;
    app.store.insert_refresh_token(&earlier).await.unwrap();
    let (s, second) = refresh(&app, &g.client, legacy, None).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_eq!(rt(&second).len(), 51);
    assert!(is_active(&app, &at(&second)).await);
    let (s, again) = refresh(&app, &g.client, legacy, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{again}");
    assert_eq!(again["error"], "invalid_grant");
    assert!(!is_active(&app, &at(&second)).await);
    let (s, _) = refresh(&app, &g.client, &rt(&second), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
