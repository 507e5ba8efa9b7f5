//! `GET /oauth/revocations`: the feed resource servers poll
//! to learn what was revoked: who may read it, its parameters, and one entry for each kind of
//! revocation (a JWT, a family on refresh-token reuse, a connected app, a deleted client).
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_testkit::people::*;
use castellan_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn feed(app: &TestApp, bearer: Option<&str>, query: &str) -> (StatusCode, Value) {
    let mut req = app.http.get(app.url(&format!("/oauth/revocations{query}")));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_feed_needs_a_client_token_with_the_introspect_scope() {
    let app = TestApp::spawn().await;
    let (s, _) = feed(&app, None, "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = feed(&app, Some("not-a-token"), "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let plain = app
        .create_client(json!({"name": "api", "scope": "products:read"}))
        .await;
    let plain_token = app
        .token_for(
            plain["id"].as_str().unwrap(),
            plain["secret"].as_str().unwrap(),
            None,
        )
        .await;
    let (s, _) = feed(&app, Some(&plain_token), "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let rs = app
        .create_client(json!({"name": "resource server", "scope": "introspect"}))
        .await;
    let rs_token = app
        .token_for(
            rs["id"].as_str().unwrap(),
            rs["secret"].as_str().unwrap(),
            Some("introspect"),
        )
        .await;
    let (s, b) = feed(&app, Some(&rs_token), "").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b, json!({"entries": [], "next": 0}));
    let (s, b) = feed(&app, Some(&rs_token), "?since=41&limit=10").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["next"], 41);

    for bad in [
        "?since=-1",
        "?since=abc",
        "?limit=0",
        "?limit=5000",
        "?since=1&since=2",
    ] {
        let (s, b) = feed(&app, Some(&rs_token), bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
}

#[tokio::test]
async fn every_kind_of_revocation_appears_in_the_feed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;

    // A client revokes one of its JWT access tokens.
    let api = code_client(&app, json!({"grantTypes": ["client_credentials"]})).await;
    let jwt = app.token_for(&api.id, &api.secret, None).await;
    assert_eq!(revoke(&app, &api, &jwt).await, StatusCode::OK);
    let jti = claims(&jwt)["jti"].as_str().unwrap().to_owned();

    // A rotated-out refresh token is presented again: its family is revoked.
    let g = setup(&app).await;
    let (code, _) = issue_code(&app, &g.spec("offline_access products:read")).await;
    let (_, first) = exchange(&app, &g.client, &code).await;
    let rt = first["refresh_token"].as_str().unwrap();
    let gid = claims(first["access_token"].as_str().unwrap())["gid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = refresh(&app, &g.client, rt, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = refresh(&app, &g.client, rt, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The user revokes the connected app of another client.
    let partner = code_client(&app, json!({"name": "Partner"})).await;
    let spec = CodeSpec::new(&partner, &g.user, Some(&g.org), "products:read");
    let (code, _) = issue_code(&app, &spec).await;
    let (_, partner_tokens) = exchange(&app, &partner, &code).await;
    let partner_gid = claims(partner_tokens["access_token"].as_str().unwrap())["gid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, _) = issue_code(&app, &g.spec("account:write")).await;
    let (_, mine) = exchange(&app, &g.client, &code).await;
    let consents = app.store.consents_of_user(&g.user.id).await.unwrap();
    let consent = consents.iter().find(|c| c.client_id == partner.id).unwrap();
    let res = app
        .http
        .delete(app.url(&format!("/account/connected-apps/{}", consent.id)))
        .bearer_auth(mine["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // An administrator deletes a client.
    let res = app
        .http
        .delete(app.url(&format!("/api-clients/{}", api.id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());

    let (s, b) = feed(&app, Some(&admin), "").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let entries = b["entries"].as_array().unwrap();
    let seen: Vec<(String, String, Option<String>)> = entries
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
                e["subject"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let want = vec![
        ("jwt".to_owned(), jti, None),
        ("family".to_owned(), gid, None),
        ("family".to_owned(), partner_gid, None),
        (
            "connected_app".to_owned(),
            partner.id.clone(),
            Some(g.user.id.clone()),
        ),
        ("client".to_owned(), api.id.clone(), None),
    ];
    assert_eq!(seen, want);
    for e in entries {
        assert!(e["expires_at"].as_i64().unwrap() >= e["revoked_at"].as_i64().unwrap());
    }
    assert_eq!(b["next"], entries.last().unwrap()["cursor"]);

    // Read a page at a time from a cursor.
    let second = entries[1]["cursor"].as_i64().unwrap();
    let (_, page) = feed(&app, Some(&admin), &format!("?since={second}&limit=2")).await;
    let page = page["entries"].as_array().unwrap().clone();
    assert_eq!(page, entries[2..4].to_vec());
}
