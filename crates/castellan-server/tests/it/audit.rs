//! The audit log: security events are recorded where they happen (clients, API keys, sign-ins,
//! consents, members, refresh-token reuse, sessions, passwords) with who, from where, on which
//! organization and the outcome; `GET /audit-events` reads them with its own scope, filters
//! and paging; no secret, token or password is ever in an event; an OWNER's page shows only
//! their organizations' events; the upkeep purges events past retention.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::pages::*;
use castellan_core::user::{Membership, Role};
use castellan_store::audit::{ActorKind, AuditEvent, Outcome};
use castellan_testkit::people::{exchange as redeem, issue_code, refresh, setup, CodeSpec};
use castellan_testkit::TestApp;
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn events(app: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .get(app.url(&format!("/audit-events{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

/// The one event of `kind` on `target` in `page`.
fn one<'a>(page: &'a Value, kind: &str, target: &str) -> &'a Value {
    let found: Vec<&Value> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind && e["target"] == target)
        .collect();
    assert_eq!(found.len(), 1, "{kind} on {target} in {page:#}");
    found[0]
}

#[tokio::test]
async fn security_events_are_recorded_with_who_what_where_and_no_secret() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let admin_client = app.admin_id.clone();
    let (ann, orgs) = add_person(&app, "ann@example.com", &["Acme"]).await;
    let acme = orgs[0].clone();
    let (bob, _) = add_person(&app, "bob@example.com", &[]).await;

    // A client created, rotated and deleted through the management API.
    let (s, created) = post(
        &app,
        &admin,
        "/api-clients",
        json!({"name": "Audited", "scope": "products:read"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let client_id = created["id"].as_str().unwrap().to_owned();
    let first_secret = created["secret"].as_str().unwrap().to_owned();
    let (s, rotated) = post(
        &app,
        &admin,
        &format!("/api-clients/{client_id}/rotate-secret"),
        json!({"overlapSeconds": 60}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let second_secret = rotated["secret"].as_str().unwrap().to_owned();
    let s = app
        .http
        .delete(app.url(&format!("/api-clients/{client_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::OK);

    // An API key of Acme created and revoked.
    let (s, key) = post(
        &app,
        &admin,
        "/api-keys",
        json!({"name": "nightly", "scope": "view_api_keys", "organizationId": acme}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let key_id = key["id"].as_str().unwrap().to_owned();
    let key_text = key["key"].as_str().unwrap().to_owned();
    let (s, _) = post(
        &app,
        &admin,
        &format!("/api-keys/{key_id}/revoke"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Bob joins Acme, then is removed.
    let member = |method: reqwest::Method| {
        app.http
            .request(
                method,
                app.url(&format!("/organizations/{acme}/members/{bob}")),
            )
            .bearer_auth(&admin)
    };
    let s = member(reqwest::Method::PUT)
        .json(&json!({"role": "VIEWER"}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(s.is_success(), "{s}");
    let s = member(reqwest::Method::DELETE)
        .send()
        .await
        .unwrap()
        .status();
    assert!(s.is_success(), "{s}");

    // A wrong password, an unknown account, then a sign-in and a consent on the pages.
    let b = Browser::new(&app);
    let login = b.get("/login").await;
    let wrong = "not the password at all";
    for (email, password) in [("ann@example.com", wrong), ("nobody@example.com", wrong)] {
        let p = b
            .post(
                "/login",
                &[
                    ("csrf", &login.hidden("csrf")),
                    ("request", ""),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(p.status, 401);
    }
    let public = public_client(&app).await;
    let (_, challenge) = pkce();
    let login = b
        .get(&authorize_query(&[
            ("response_type", "code"),
            ("client_id", &public),
            ("redirect_uri", REDIRECT),
            ("scope", "products:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    let consent = sign_in(&b, &login, "ann@example.com", PASSWORD).await;
    let back = decide(&b, &consent, "approve", None).await;
    assert!(back.param("code").is_some());

    // A dynamic registration by the admin client, updated and deleted with its registration
    // access token.
    let (s, reg) = post(
        &app,
        &admin,
        "/oauth/register",
        json!({"client_name": "agent", "grant_types": ["client_credentials"], "software_id": "agent-x"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{reg}");
    let registered = reg["client_id"].as_str().unwrap().to_owned();
    let registration_token = reg["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = app
        .http
        .delete(app.url(&format!("/oauth/register/{registered}")))
        .bearer_auth(&registration_token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::NO_CONTENT);

    // A refresh token used twice.
    let g = setup(&app).await;
    let spec = CodeSpec::new(&g.client, &g.user, Some(&g.org), "offline_access");
    let (code, family) = issue_code(&app, &spec).await;
    let (_, tokens) = redeem(&app, &g.client, &code).await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (s, _) = refresh(&app, &g.client, &rt, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = refresh(&app, &g.client, &rt, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, page) = events(&app, &admin, "?limit=500").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let by_admin = |e: &Value| {
        assert_eq!(
            e["actor"],
            json!({"type": "client", "id": admin_client}),
            "{e}"
        );
        assert_eq!(e["address"], "127.0.0.1", "{e}");
        assert_eq!(e["outcome"], "success", "{e}");
    };
    for kind in ["client.created", "client.secret_rotated", "client.deleted"] {
        by_admin(one(&page, kind, &client_id));
    }
    assert_eq!(
        one(&page, "client.secret_rotated", &client_id)["detail"],
        "old secret accepted for 60 s"
    );
    for kind in ["api_key.created", "api_key.revoked"] {
        let e = one(&page, kind, &key_id);
        by_admin(e);
        assert_eq!(e["organizationId"], acme.as_str());
    }
    let role = one(&page, "member.role_changed", &bob);
    by_admin(role);
    assert_eq!(role["detail"], "role VIEWER");
    assert_eq!(role["organizationId"], acme.as_str());
    by_admin(one(&page, "member.removed", &bob));

    let failed = one(&page, "sign_in.failed", &ann);
    assert_eq!(failed["actor"], json!({"type": "system", "id": ""}));
    assert_eq!(failed["outcome"], "failure");
    assert_eq!(failed["detail"], "sign-in page: wrong password");
    let unknown: Vec<&Value> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"] == "sign-in page: unknown account")
        .collect();
    assert_eq!(unknown.len(), 1, "{page:#}");
    assert_eq!(unknown[0]["actor"]["type"], "system");
    assert_eq!(unknown[0]["outcome"], "failure");
    let ok = one(&page, "sign_in.succeeded", &ann);
    assert_eq!(ok["actor"]["id"], ann.as_str());
    assert_eq!(ok["address"], "127.0.0.1");
    let given: Vec<&Value> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "consent.given")
        .collect();
    assert_eq!(given.len(), 1);
    assert_eq!(given[0]["actor"]["id"], ann.as_str());
    assert_eq!(given[0]["organizationId"], acme.as_str());
    assert!(given[0]["detail"].as_str().unwrap().contains(&public));
    let made = one(&page, "client.created", &registered);
    assert_eq!(
        made["actor"],
        json!({"type": "client", "id": format!("client:{admin_client}")})
    );
    assert_eq!(made["detail"], "dynamic registration");
    let gone = one(&page, "client.deleted", &registered);
    assert_eq!(gone["actor"], json!({"type": "client", "id": registered}));
    assert_eq!(gone["address"], "127.0.0.1");
    let reuse = one(&page, "refresh_token.reuse_detected", &family);
    assert_eq!(reuse["address"], "127.0.0.1");
    assert_eq!(reuse["outcome"], "failure");
    assert_eq!(reuse["actor"], json!({"type": "client", "id": g.client.id}));
    assert_eq!(reuse["organizationId"], g.org.as_str());

    // No secret, key, password or token anywhere in the log.
    let all = page.to_string();
    for secret in [
        first_secret.as_str(),
        second_secret.as_str(),
        key_text.as_str(),
        wrong,
        PASSWORD,
        rt.as_str(),
        registration_token.as_str(),
        "nobody@example.com",
    ] {
        assert!(!all.contains(secret), "a secret is in the audit log");
    }
}

#[tokio::test]
async fn the_audit_api_needs_its_scope_filters_pages_and_refuses_bad_input() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for n in 0..30 {
        let e = AuditEvent {
            id: format!("evt_t{n:02}"),
            at: Utc::now() - Duration::minutes(60 - n),
            kind: if n % 3 == 0 {
                "api_key.revoked"
            } else {
                "client.created"
            }
            .into(),
            actor_kind: ActorKind::Person,
            actor_id: if n % 2 == 0 { "usr_even" } else { "usr_odd" }.into(),
            organization_id: (n < 10).then(|| "org_first".to_owned()),
            address: None,
            outcome: Outcome::Success,
            target: None,
            detail: String::new(),
        };
        app.store.record_audit_event(&e).await.unwrap();
    }
    let (s, p) = events(&app, &admin, "?limit=7&offset=7").await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (
            p["limit"].as_u64(),
            p["offset"].as_u64(),
            p["count"].as_u64(),
            p["total"].as_u64()
        ),
        (Some(7), Some(7), Some(7), Some(30))
    );
    assert_eq!(p["results"][0]["id"], "evt_t22");
    let total = |q: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            let (s, p) = events(app, admin, q).await;
            assert_eq!(s, StatusCode::OK, "{q}: {p}");
            p["total"].as_u64().unwrap()
        }
    };
    assert_eq!(total("?type=api_key.revoked").await, 10);
    assert_eq!(total("?type=api_key.*").await, 10);
    assert_eq!(total("?type=client.*&actor=usr_even").await, 10);
    assert_eq!(total("?organizationId=org_first").await, 10);
    let since =
        (Utc::now() - Duration::minutes(35)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (s, p) = events(&app, &admin, &format!("?since={since}")).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["total"], 5);

    // Bad filters are 400s that name the parameter.
    for (q, names) in [
        ("?type=nonsense", "`type`"),
        ("?type=client.%27--", "`type`"),
        ("?since=yesterday", "`since`"),
        ("?until=2026-13-01T00:00:00Z", "`until`"),
        ("?limit=-1", "query string"),
    ] {
        let (s, p) = events(&app, &admin, q).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {p}");
        assert!(p.to_string().contains(names), "{q}: {p}");
    }
    let (s, p) = events(&app, &admin, &format!("?actor={}", "a".repeat(300))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");

    // Without the scope: a client's token without it, a person's token even with it.
    let other = app
        .create_client(json!({"name": "viewer", "scope": "view_api_clients"}))
        .await;
    let t = app
        .token_for(
            other["id"].as_str().unwrap(),
            other["secret"].as_str().unwrap(),
            Some("view_api_clients"),
        )
        .await;
    let (s, _) = events(&app, &t, "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let g = setup(&app).await;
    let spec = CodeSpec::new(&g.client, &g.user, Some(&g.org), "account:read");
    let (code, _) = issue_code(&app, &spec).await;
    let (_, person) = redeem(&app, &g.client, &code).await;
    let (s, _) = events(&app, person["access_token"].as_str().unwrap(), "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let res = app.http.get(app.url("/audit-events")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_owner_sees_the_events_of_their_organizations_only() {
    let app = TestApp::spawn().await;
    let (owner, orgs) = add_person(&app, "olga@example.com", &["Acme", "Beta"]).await;
    let (manager, _) = add_person(&app, "max@example.com", &[]).await;
    for org in &orgs {
        app.store
            .upsert_membership(&Membership {
                organization_id: org.clone(),
                user_id: owner.clone(),
                role: Role::Owner,
            })
            .await
            .unwrap();
    }
    app.store
        .upsert_membership(&Membership {
            organization_id: orgs[0].clone(),
            user_id: manager.clone(),
            role: Role::Manager,
        })
        .await
        .unwrap();
    let event = |id: &str, org: Option<&str>, kind: &str| AuditEvent {
        id: id.to_owned(),
        at: Utc::now(),
        kind: kind.to_owned(),
        actor_kind: ActorKind::Person,
        actor_id: "usr_someone".to_owned(),
        organization_id: org.map(str::to_owned),
        address: Some("192.0.2.7".to_owned()),
        outcome: Outcome::Success,
        target: Some(format!("target-{id}")),
        detail: "<b>role</b>".to_owned(),
    };
    for e in [
        event("evt_a", Some(&orgs[0]), "api_key.created"),
        event("evt_b", Some(&orgs[1]), "member.removed"),
        event("evt_c", Some("org_elsewhere"), "api_key.revoked"),
        event("evt_d", None, "sign_in.failed"),
    ] {
        app.store.record_audit_event(&e).await.unwrap();
    }
    let b = Browser::new(&app);
    let login = b.get("/login").await;
    sign_in(&b, &login, "olga@example.com", PASSWORD).await;
    let page = b.get("/account/audit").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.headers["cache-control"], "no-store");
    for shown in ["target-evt_a", "target-evt_b", "Acme", "Beta"] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    for hidden in ["target-evt_c", "target-evt_d", "org_elsewhere"] {
        assert!(!page.body.contains(hidden), "{hidden}: {}", page.body);
    }
    // Text from an event is escaped, never markup.
    assert!(!page.body.contains("<b>role</b>"));
    // Her own sign-in (no organization) is not on an organization's page.
    assert!(!page.body.contains("sign_in.succeeded"));

    let acme_only = b
        .get(&format!("/account/audit?organization={}", orgs[0]))
        .await;
    assert!(acme_only.body.contains("target-evt_a"));
    assert!(!acme_only.body.contains("target-evt_b"));
    let members = b.get("/account/audit?type=member").await;
    assert!(members.body.contains("target-evt_b"));
    assert!(!members.body.contains("target-evt_a"));
    // An organization she does not own is not hers to read.
    let refused = b.get("/account/audit?organization=org_elsewhere").await;
    assert_eq!(refused.status, 404);
    assert!(!refused.body.contains("target-evt_c"));

    // A MANAGER owns nothing, and sees nothing.
    let m = Browser::new(&app);
    let login = m.get("/login").await;
    sign_in(&m, &login, "max@example.com", PASSWORD).await;
    let page = m.get("/account/audit").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("You own no organization"));
    assert!(!page.body.contains("target-evt"));
    assert_eq!(
        m.get(&format!("/account/audit?organization={}", orgs[0]))
            .await
            .status,
        404
    );
    // Signed out: to the login page.
    assert_eq!(
        Browser::new(&app)
            .get("/account/audit")
            .await
            .location
            .as_deref(),
        Some("/login")
    );
}

#[tokio::test]
async fn the_upkeep_purges_events_past_retention() {
    let app = TestApp::spawn_with(|c| c.audit.retention_days = 30).await;
    for (id, days_ago) in [("evt_old", 31), ("evt_recent", 29)] {
        app.store
            .record_audit_event(&AuditEvent {
                id: id.to_owned(),
                at: Utc::now() - Duration::days(days_ago),
                kind: "client.created".to_owned(),
                actor_kind: ActorKind::Operator,
                actor_id: "ops".to_owned(),
                organization_id: None,
                address: None,
                outcome: Outcome::Success,
                target: None,
                detail: String::new(),
            })
            .await
            .unwrap();
    }
    castellan_server::platform::upkeep::run_once(&app.state).await;
    let (left, _) = app
        .store
        .list_audit_events(&Default::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(
        left.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["evt_recent"]
    );
}
