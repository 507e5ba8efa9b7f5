//! The authorization-code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636, OIDC
//! Core §3.1.3), non-interactively: codes are created in storage as the authorization
//! endpoint would after consent, then exchanged over HTTP with the client's credentials in
//! a form body.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_core::user::Role;
use castellan_server::oauth::id_token::at_hash;
use castellan_testkit::people::*;
use castellan_testkit::TestApp;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

fn assert_invalid_grant(s: StatusCode, b: &serde_json::Value, needle: &str) {
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "invalid_grant", "{b}");
    let d = b["error_description"].as_str().unwrap();
    assert!(d.contains(needle), "{d:?} should mention {needle:?}");
}

#[tokio::test]
async fn code_exchange_answers_like_close_with_organization_and_user() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let (code, family) = issue_code(&app, &g.spec("openid offline_access products:read")).await;
    let (s, b) = exchange(&app, &g.client, &code).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["scope"], "openid offline_access products:read");
    assert_eq!(b["organization_id"], g.org.as_str());
    assert_eq!(b["user_id"], g.user.id.as_str());
    assert!(b["expires_in"].as_u64().unwrap() > 0);
    assert!(b["created_at"].is_i64());
    assert!(b["refresh_token"].as_str().unwrap().len() >= 43);
    assert!(b["id_token"].is_string());
    let at = b["access_token"].as_str().unwrap();
    let c = claims(at);
    assert_eq!(c["sub"], g.user.id.as_str());
    assert_eq!(c["org"], g.org.as_str());
    assert_eq!(c["gid"], family.as_str());
    assert_eq!(c["client_id"], g.client.id.as_str());
    assert!(is_active(&app, at).await);

    // The refresh token is stored only as its key (its issue time and most of its SHA-256).
    let rt = b["refresh_token"].as_str().unwrap();
    let stored = app
        .store
        .find_refresh_token(&castellan_crypto::refresh_token_key(rt))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.family_id, family);
}

#[tokio::test]
async fn no_refresh_token_without_offline_access_and_no_id_token_without_openid() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let (code, _) = issue_code(&app, &g.spec("products:read")).await;
    let (s, b) = exchange(&app, &g.client, &code).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b.get("refresh_token").is_none(), "{b}");
    assert!(b.get("id_token").is_none(), "{b}");
    assert_eq!(b["user_id"], g.user.id.as_str());
}

#[tokio::test]
async fn id_token_verifies_against_the_jwks_with_at_hash_nonce_and_auth_time() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let spec = g.spec("openid email profile");
    let (code, _) = issue_code(&app, &spec).await;
    let (s, b) = exchange(&app, &g.client, &code).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (alg, c) = verify_id_token(&app, b["id_token"].as_str().unwrap()).await;
    assert_eq!(alg, "RS256");
    assert_eq!(c["iss"], app.state.config.issuer.as_str());
    assert_eq!(c["sub"], g.user.id.as_str());
    assert_eq!(c["aud"], g.client.id.as_str());
    assert_eq!(c["nonce"], NONCE);
    assert_eq!(c["auth_time"], spec.auth_time.timestamp());
    assert_eq!(
        c["at_hash"],
        at_hash(b["access_token"].as_str().unwrap()).as_str()
    );
    assert!(c["exp"].as_i64().unwrap() > c["iat"].as_i64().unwrap());
    assert_eq!(c["email"], g.user.email.as_str());
    assert_eq!(c["email_verified"], false);
    assert_eq!(c["name"], g.user.name.as_str());

    // Without email/profile, no such claims; without a nonce at authorize, none here.
    let mut spec = g.spec("openid");
    spec.nonce = None;
    let (code, _) = issue_code(&app, &spec).await;
    let (_, b) = exchange(&app, &g.client, &code).await;
    let (_, c) = verify_id_token(&app, b["id_token"].as_str().unwrap()).await;
    assert!(c.get("nonce").is_none(), "{c}");
    assert!(c.get("email").is_none(), "{c}");
    assert!(c.get("name").is_none(), "{c}");
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_its_first_use_issued() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let (code, _) = issue_code(&app, &g.spec("openid offline_access")).await;
    let (s, first) = exchange(&app, &g.client, &code).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let at = first["access_token"].as_str().unwrap();
    assert!(is_active(&app, at).await);

    let (s, b) = exchange(&app, &g.client, &code).await;
    assert_invalid_grant(s, &b, "already used");
    assert!(
        !is_active(&app, at).await,
        "the first access token is revoked"
    );
    let (s, b) = refresh(
        &app,
        &g.client,
        first["refresh_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_invalid_grant(s, &b, "revoked");
}

#[tokio::test]
async fn every_invalid_grant_rule_of_the_code() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let other = code_client(&app, json!({"name": "Other"})).await;

    // Unknown code.
    let (s, b) = exchange(&app, &g.client, "not-a-code").await;
    assert_invalid_grant(s, &b, "unknown");

    // Expired code.
    let mut spec = g.spec("openid");
    spec.now = chrono::Utc::now() - Duration::seconds(120);
    let (code, _) = issue_code(&app, &spec).await;
    let (s, b) = exchange(&app, &g.client, &code).await;
    assert_invalid_grant(s, &b, "expired");

    // Issued to another client.
    let (code, _) = issue_code(&app, &g.spec("openid")).await;
    let (s, b) = exchange(&app, &other, &code).await;
    assert_invalid_grant(s, &b, "another client");

    // redirect_uri differs, or is missing although authorize had one.
    let (code, _) = issue_code(&app, &g.spec("openid")).await;
    let (s, b) = token(
        &app,
        &g.client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_invalid_grant(s, &b, "redirect_uri");
    let (code, _) = issue_code(&app, &g.spec("openid")).await;
    let (s, b) = token(
        &app,
        &g.client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_invalid_grant(s, &b, "redirect_uri is required");

    // code_verifier malformed, not matching (missing: see
    // a_missing_code_verifier_is_invalid_request_and_does_not_spend_the_code).
    for (verifier, needle) in [
        (Some("short".to_owned()), "43 to 128"),
        (Some("x".repeat(43)), "does not match"),
    ] {
        let (code, _) = issue_code(&app, &g.spec("openid")).await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        if let Some(v) = &verifier {
            form.push(("code_verifier", v.as_str()));
        }
        let (s, b) = token(&app, &g.client, &form).await;
        assert_invalid_grant(s, &b, needle);
    }

    // A verifier although authorize had no challenge (PKCE downgrade).
    let mut spec = g.spec("openid");
    spec.challenge = None;
    let (code, _) = issue_code(&app, &spec).await;
    let (s, b) = exchange(&app, &g.client, &code).await;
    assert_invalid_grant(s, &b, "no code_challenge");
    // A confidential client without PKCE at all is accepted.
    let (code, _) = issue_code(&app, &spec).await;
    let (s, b) = token(
        &app,
        &g.client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // No code parameter at all is a malformed request.
    let (s, b) = token(&app, &g.client, &[("grant_type", "authorization_code")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["error"], "invalid_request");
}

#[tokio::test]
async fn a_missing_code_verifier_is_invalid_request_and_does_not_spend_the_code() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let (code, _) = issue_code(&app, &g.spec("openid")).await;
    let without = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    // RFC 6749 §5.2: a required parameter is missing.
    for _ in 0..2 {
        let (s, b) = token(&app, &g.client, &without).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["error"], "invalid_request", "{b}");
        let d = b["error_description"].as_str().unwrap();
        assert!(d.contains("code_verifier is required"), "{d:?}");
    }
    // The code was not spent: the complete request still works, once.
    let (s, b) = exchange(&app, &g.client, &code).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = exchange(&app, &g.client, &code).await;
    assert_invalid_grant(s, &b, "already used");

    // A wrong verifier stays invalid_grant and spends the code.
    let (code, _) = issue_code(&app, &g.spec("openid")).await;
    let wrong = "y".repeat(43);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", wrong.as_str()),
    ];
    let (s, b) = token(&app, &g.client, &form).await;
    assert_invalid_grant(s, &b, "does not match");
    let (s, b) = exchange(&app, &g.client, &code).await;
    assert_invalid_grant(s, &b, "already used");
}

#[tokio::test]
async fn pkce_is_mandatory_for_public_clients() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let public = code_client(
        &app,
        json!({"name": "SPA", "clientKind": "public", "tokenEndpointAuthMethod": "none"}),
    )
    .await;
    assert!(public.secret.is_empty());
    let mut spec = CodeSpec::new(&public, &g.user, Some(&g.org), "openid offline_access");
    let (code, _) = issue_code(&app, &spec).await;
    let (s, b) = exchange(&app, &public, &code).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    spec.challenge = None;
    let (code, _) = issue_code(&app, &spec).await;
    let (s, b) = token(
        &app,
        &public,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_invalid_grant(s, &b, "PKCE is required");
}

#[tokio::test]
async fn a_client_without_the_grant_or_a_user_who_left_is_refused() {
    let app = TestApp::spawn().await;
    let g = setup(&app).await;
    let cc_only = code_client(&app, json!({"grantTypes": ["client_credentials"]})).await;
    let spec = CodeSpec::new(&cc_only, &g.user, Some(&g.org), "openid");
    let (code, _) = issue_code(&app, &spec).await;
    let (s, b) = exchange(&app, &cc_only, &code).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "unauthorized_client");

    let (code, _) = issue_code(&app, &g.spec("openid")).await;
    app.store
        .remove_membership(&g.org, &g.user.id)
        .await
        .unwrap();
    let (s, b) = exchange(&app, &g.client, &code).await;
    assert_invalid_grant(s, &b, "organization");
    member(&app, &g.org, &g.user.id, Role::Viewer).await;
}

#[tokio::test]
async fn discovery_names_the_code_flow() {
    let app = TestApp::spawn().await;
    let doc: serde_json::Value = app.get_json("/.well-known/openid-configuration").await;
    let issuer = app.state.config.issuer.clone();
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{issuer}/oauth/authorize")
    );
    assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/oauth/userinfo"));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    for g in [
        "authorization_code",
        "refresh_token",
        "password",
        "client_credentials",
    ] {
        assert!(
            doc["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(g)),
            "{g}"
        );
    }
    for c in ["auth_time", "nonce", "at_hash", "email", "name"] {
        assert!(
            doc["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(c)),
            "{c}"
        );
    }
}

/// Whatever scope a code was issued for, a person without the admin flag gets
/// no administrative scope from it, nor from its refreshes.
#[tokio::test]
async fn a_code_never_carries_an_administrative_scope_for_a_person_without_the_flag() {
    let app = TestApp::spawn().await;
    let client = code_client(
        &app,
        json!({"scope": format!("{FULL_SCOPE} manage_api_keys view_api_keys introspect")}),
    )
    .await;
    let user = user(&app, "member@example.com", None).await;
    let org = org(&app, "Acme").await;
    member(&app, &org, &user.id, Role::Owner).await;
    let spec = CodeSpec::new(
        &client,
        &user,
        Some(&org),
        "openid offline_access products:read manage_api_keys view_api_keys introspect",
    );
    let (code, _) = issue_code(&app, &spec).await;
    let (s, b) = exchange(&app, &client, &code).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["scope"], "openid offline_access products:read");
    let at = b["access_token"].as_str().unwrap();
    assert_eq!(claims(at)["scope"], "openid offline_access products:read");
    let res = app
        .http
        .get(app.url("/api-keys"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let rt = b["refresh_token"].as_str().unwrap();
    let (s, r) = refresh(&app, &client, rt, None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["scope"], "openid offline_access products:read");
    let (s, r) = refresh(
        &app,
        &client,
        r["refresh_token"].as_str().unwrap(),
        Some("manage_api_keys"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{r}");
}
