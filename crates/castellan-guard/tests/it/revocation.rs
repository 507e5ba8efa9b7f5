//! Revocation reaches the guard: JWTs are verified locally,
//! and the guard polls Castellan's revocation feed, so a revoked JWT, a revoked family, a
//! revoked connected app or a deleted client is refused within one poll interval; when the
//! feed cannot be read for longer than `revocation_max_stale_seconds`, JWTs get 503.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support;

use crate::support::{bearer, guard_config, serve, with_introspection};
use castellan_guard::example::catalog_router;
use castellan_guard::{Guard, GuardConfig};
use castellan_testkit::people::{
    code_client, exchange, issue_code, refresh, revoke, setup, CodeSpec, Cred,
};
use castellan_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The poll interval of these tests (seconds) and the staleness bound.
const POLL: u64 = 1;
const MAX_STALE: u64 = 3;

fn feed_config(app: &TestApp) -> GuardConfig {
    let mut c = guard_config(app);
    // The admin client holds the `introspect` scope the feed needs.
    with_introspection(&mut c, app, None);
    c.revocation_feed_url = Some(app.url("/oauth/revocations"));
    c.revocation_poll_seconds = POLL;
    c.revocation_max_stale_seconds = MAX_STALE;
    c
}

async fn products(base: &str, token: &str) -> (StatusCode, Value) {
    let res = bearer(
        reqwest::Client::new().get(format!("{base}/products")),
        token,
    )
    .send()
    .await
    .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

/// Waits until `token` is refused 401 `revoked`; panics past the documented bound (one poll
/// interval), with a second of slack for the requests themselves.
async fn refused_within_the_bound(base: &str, token: &str) {
    let start = Instant::now();
    let bound = Duration::from_secs(POLL) + Duration::from_millis(1500);
    loop {
        let (s, b) = products(base, token).await;
        if s == StatusCode::UNAUTHORIZED {
            assert_eq!(b["error"], "invalid_token", "{b}");
            assert_eq!(b["reason"], "revoked", "{b}");
            return;
        }
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(
            start.elapsed() < bound,
            "still accepted {:?} after the revocation",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn reader(app: &TestApp) -> Cred {
    let c = app
        .create_client(json!({"name": "reader", "scope": "products:read"}))
        .await;
    Cred {
        id: c["id"].as_str().unwrap().to_owned(),
        secret: c["secret"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn a_revoked_jwt_is_refused_within_the_poll_interval() {
    let app = TestApp::spawn().await;
    let guard = Guard::new(feed_config(&app)).unwrap();
    let base = serve(catalog_router(guard.clone())).await;
    let r = reader(&app).await;
    let token = app.token_for(&r.id, &r.secret, None).await;
    let other = app.token_for(&r.id, &r.secret, None).await;
    // Verified and cached: the cache must not keep it alive after the revocation.
    assert_eq!(products(&base, &token).await.0, StatusCode::OK);
    assert_eq!(revoke(&app, &r, &token).await, StatusCode::OK);
    refused_within_the_bound(&base, &token).await;
    // The client's other token is untouched.
    assert_eq!(products(&base, &other).await.0, StatusCode::OK);
    assert!(guard.revocation_feed_reads() >= 1);

    // A deleted client's tokens go too.
    let res = app
        .http
        .delete(app.url(&format!("/api-clients/{}", r.id)))
        .bearer_auth(app.admin_token().await)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    refused_within_the_bound(&base, &other).await;
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_family_at_the_guard() {
    let app = TestApp::spawn().await;
    let base = serve(catalog_router(Guard::new(feed_config(&app)).unwrap())).await;
    let g = setup(&app).await;
    let (code, _) = issue_code(&app, &g.spec("offline_access products:read")).await;
    let (s, first) = exchange(&app, &g.client, &code).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let rt = first["refresh_token"].as_str().unwrap();
    let (s, second) = refresh(&app, &g.client, rt, None).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    let first_at = first["access_token"].as_str().unwrap();
    let second_at = second["access_token"].as_str().unwrap();
    assert_eq!(products(&base, first_at).await.0, StatusCode::OK);
    assert_eq!(products(&base, second_at).await.0, StatusCode::OK);
    // The rotated-out refresh token comes back: the whole family is revoked.
    let (s, _) = refresh(&app, &g.client, rt, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    refused_within_the_bound(&base, second_at).await;
    refused_within_the_bound(&base, first_at).await;
}

#[tokio::test]
async fn a_revoked_connected_app_loses_its_tokens_at_the_guard() {
    let app = TestApp::spawn().await;
    let base = serve(catalog_router(Guard::new(feed_config(&app)).unwrap())).await;
    let g = setup(&app).await;
    let partner = code_client(&app, json!({"name": "Partner"})).await;
    let spec = CodeSpec::new(&partner, &g.user, Some(&g.org), "products:read");
    let (code, _) = issue_code(&app, &spec).await;
    let (_, tokens) = exchange(&app, &partner, &code).await;
    let partner_at = tokens["access_token"].as_str().unwrap();
    let (code, _) = issue_code(&app, &g.spec("account:write products:read")).await;
    let (_, mine) = exchange(&app, &g.client, &code).await;
    let mine = mine["access_token"].as_str().unwrap();
    assert_eq!(products(&base, partner_at).await.0, StatusCode::OK);

    let consents = app.store.consents_of_user(&g.user.id).await.unwrap();
    let consent = consents.iter().find(|c| c.client_id == partner.id).unwrap();
    let res = app
        .http
        .delete(app.url(&format!("/account/connected-apps/{}", consent.id)))
        .bearer_auth(mine)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    refused_within_the_bound(&base, partner_at).await;
    // The user's own app is another connected app: untouched.
    assert_eq!(products(&base, mine).await.0, StatusCode::OK);

    // Consenting again later gives tokens that work.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (code, _) = issue_code(&app, &spec).await;
    let (_, again) = exchange(&app, &partner, &code).await;
    let again = again["access_token"].as_str().unwrap();
    assert_eq!(products(&base, again).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_feed_unread_beyond_max_stale_fails_closed_with_503() {
    let app = TestApp::spawn().await;
    let base = serve(catalog_router(Guard::new(feed_config(&app)).unwrap())).await;
    let r = reader(&app).await;
    let token = app.token_for(&r.id, &r.secret, None).await;
    assert_eq!(products(&base, &token).await.0, StatusCode::OK);
    // Castellan goes away: the keys and the verified token stay cached, the feed is not read.
    app.stop().await;
    assert_eq!(products(&base, &token).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(MAX_STALE + 2)).await;
    let (s, b) = products(&base, &token).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert_eq!(b["reason"], "revocations_unavailable");
}

#[tokio::test]
async fn a_feed_never_read_refuses_jwts_with_503() {
    let app = TestApp::spawn().await;
    let mut c = feed_config(&app);
    c.revocation_feed_url = Some(
        support::closed_port_url()
            .await
            .replace("introspect", "revocations"),
    );
    let base = serve(catalog_router(Guard::new(c).unwrap())).await;
    let r = reader(&app).await;
    let token = app.token_for(&r.id, &r.secret, None).await;
    let (s, b) = products(&base, &token).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert_eq!(b["reason"], "revocations_unavailable");
}
