//! Clients' rate-limit tiers (policies are assigned to keys and clients by tier): set through
//! the management API and the CLI's draft, stored, answered; the token endpoint counts a
//! client's requests under its tier; forward-auth counts an access token's calls under its
//! client's tier, apart from the client's token requests; a tier configured `"off"` counts
//! nothing.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_limit::{PolicyConfig, Window};
use castellan_server::gateway::config::GatewayRoute;
use castellan_server::platform::config::Config;
use castellan_testkit::TestApp;
use serde_json::{json, Value};

/// Tier `two` (2 per hour), tier `internal` (off), and one gateway route.
fn tiers(c: &mut Config) {
    c.rate_limit.policies.insert(
        "two_per_hour".into(),
        PolicyConfig {
            windows: vec![Window::new(2, 3_600)],
        },
    );
    c.rate_limit
        .tiers
        .insert("two".into(), "two_per_hour".into());
    c.rate_limit.tiers.insert("internal".into(), "off".into());
    let route = |path: &str, scope: Option<&str>| GatewayRoute {
        method: "GET".into(),
        path: path.into(),
        public: false,
        scope: scope.map(Into::into),
        min_role: None,
        organization_header: None,
        organization_param: None,
        tenant: false,
    };
    c.gateway.routes = vec![
        route("/products/*", Some("products:read")),
        route("/shop/*", None),
    ];
}

async fn client(app: &TestApp, tier: Option<&str>) -> (String, String, Value) {
    let mut draft = json!({"name": "partner", "scope": "products:read"});
    if let Some(t) = tier {
        draft["tier"] = json!(t);
    }
    let c = app.create_client(draft).await;
    (
        c["id"].as_str().unwrap().to_owned(),
        c["secret"].as_str().unwrap().to_owned(),
        c,
    )
}

async fn token_request(app: &TestApp, id: &str, secret: &str) -> reqwest::Response {
    app.http
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

async fn forward(app: &TestApp, token: &str) -> reqwest::Response {
    forward_to(app, token, "/products/1").await
}

async fn forward_to(app: &TestApp, token: &str, uri: &str) -> reqwest::Response {
    app.http
        .get(app.url("/forward-auth"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Uri", uri)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The client as the management API answers it.
async fn answered(app: &TestApp, id: &str) -> Value {
    let admin = app.admin_token().await;
    app.http
        .get(app.url(&format!("/api-clients/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn access_token(res: reqwest::Response) -> String {
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn client_count(app: &TestApp) -> usize {
    app.store
        .query_clients(&Default::default())
        .await
        .unwrap()
        .results
        .len()
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_tier_is_set_stored_and_answered() {
    let app = TestApp::spawn_with(tiers).await;
    let (id, _, created) = client(&app, Some("two")).await;
    assert_eq!(created["tier"], "two");
    let stored = app.store.get_client(&id).await.unwrap().unwrap();
    assert_eq!(stored.tier.as_deref(), Some("two"));
    assert_eq!(answered(&app, &id).await["tier"], "two");
    let admin = app.admin_token().await;

    // No tier, or `default` named: tier `default`, stored as none.
    let (plain, _, created) = client(&app, None).await;
    assert_eq!(created["tier"], "default");
    let (named, _, created) = client(&app, Some("default")).await;
    assert_eq!(created["tier"], "default");
    for id in [plain, named] {
        let stored = app.store.get_client(&id).await.unwrap().unwrap();
        assert_eq!(stored.tier, None);
    }

    // A tier that is not configured is refused, naming the field, and nothing is stored.
    let before = client_count(&app).await;
    let res = app
        .http
        .post(app.url("/api-clients"))
        .bearer_auth(&admin)
        .json(&json!({"name": "x", "scope": "products:read", "tier": "gold"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body = res.text().await.unwrap();
    assert!(body.contains("tier") && body.contains("gold"), "{body}");
    let after = client_count(&app).await;
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_counts_a_client_under_its_tier() {
    let app = TestApp::spawn_with(tiers).await;
    let (id, secret, _) = client(&app, Some("two")).await;
    for remaining in ["1", "0"] {
        let res = token_request(&app, &id, &secret).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            header(&res, "ratelimit-policy").as_deref(),
            Some("2;w=3600")
        );
        assert_eq!(
            header(&res, "ratelimit-remaining").as_deref(),
            Some(remaining)
        );
    }
    let refused = token_request(&app, &id, &secret).await;
    assert_eq!(refused.status(), 429);
    assert!(header(&refused, "retry-after").is_some());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["policy"], "two_per_hour");

    // A client of tier `default` has the default tier's policy and its own bucket.
    let (other, other_secret, _) = client(&app, None).await;
    let res = token_request(&app, &other, &other_secret).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "ratelimit-policy").as_deref(),
        Some("300;w=60, 10000;w=86400")
    );

    // A client on a tier configured "off" is not counted: its answers show the per-IP
    // token policy, and it is never refused for its own count.
    let (free, free_secret, _) = client(&app, Some("internal")).await;
    for _ in 0..4 {
        let res = token_request(&app, &free, &free_secret).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            header(&res, "ratelimit-policy").as_deref(),
            Some("600;w=60")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_counts_an_access_token_under_its_client_tier() {
    let app = TestApp::spawn_with(tiers).await;
    let (id, secret, _) = client(&app, Some("two")).await;
    // One of the tier's two token requests; the gateway counts calls apart from it.
    let token = app.token_for(&id, &secret, None).await;
    for remaining in ["1", "0"] {
        let res = forward(&app, &token).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            header(&res, "x-castellan-client-id").as_deref(),
            Some(id.as_str())
        );
        assert_eq!(
            header(&res, "ratelimit-policy").as_deref(),
            Some("2;w=3600")
        );
        assert_eq!(
            header(&res, "ratelimit-remaining").as_deref(),
            Some(remaining)
        );
    }
    let refused = forward(&app, &token).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        header(&refused, "ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert!(header(&refused, "retry-after").is_some());
    // The client's token requests still have their own count.
    let res = token_request(&app, &id, &secret).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "ratelimit-remaining").as_deref(), Some("0"));

    // Tier "off": calls pass uncounted and carry no rate-limit header.
    let (free, free_secret, _) = client(&app, Some("internal")).await;
    let token = app.token_for(&free, &free_secret, None).await;
    for _ in 0..4 {
        let res = forward(&app, &token).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit-policy"), None);
    }

    // Tier `default`: the default tier's policy.
    let (plain, plain_secret, _) = client(&app, None).await;
    let token = app.token_for(&plain, &plain_secret, None).await;
    let res = forward(&app, &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "ratelimit-policy").as_deref(),
        Some("300;w=60, 10000;w=86400")
    );
    assert_eq!(header(&res, "ratelimit-remaining").as_deref(), Some("299"));
}

/// A public client's own tokens (sales channels: no secret needed) are not counted at
/// the gateway, whatever its tier: anyone may obtain one, so a shared count would let one
/// caller use up every shopper's calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_clients_own_tokens_are_not_counted_at_the_gateway() {
    let app = TestApp::spawn_with(tiers).await;
    let channel = app
        .create_client(json!({
            "name": "storefront",
            "scope": "market:id:*",
            "clientKind": "public",
            "publicClientCredentials": true,
            "tier": "two"
        }))
        .await;
    let id = channel["id"].as_str().unwrap();
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": id,
            "scope": "market:id:xYZkjABcde"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token = access_token(res).await;
    for _ in 0..4 {
        let res = forward_to(&app, &token, "/shop/cart").await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "x-castellan-client-id").as_deref(), Some(id));
        assert_eq!(header(&res, "ratelimit-policy"), None);
    }
}

/// A client whose stored tier is no longer configured is counted under tier `default`, and
/// its representation still answers the stored name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_on_a_tier_no_longer_configured_falls_back_to_default() {
    let app = TestApp::spawn_with(tiers).await;
    let draft = castellan_server::management::clients::ClientDraft {
        name: "old".into(),
        scope: "products:read".into(),
        ..Default::default()
    };
    let (mut stored, secret) = castellan_server::management::clients::build_client(
        draft,
        &app.state.config,
        app.state.clock.now(),
    )
    .unwrap();
    stored.tier = Some("gone".into());
    app.store.insert_client(&stored).await.unwrap();
    let secret = secret.unwrap().into_exposed();

    let res = token_request(&app, &stored.id, &secret).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "ratelimit-policy").as_deref(),
        Some("300;w=60, 10000;w=86400")
    );
    let token = access_token(res).await;
    let res = forward(&app, &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "ratelimit-policy").as_deref(),
        Some("300;w=60, 10000;w=86400")
    );
    assert_eq!(answered(&app, &stored.id).await["tier"], "gone");
}

/// A person's token through an app is counted per person and app: one person using up the
/// app's tier leaves another person, and the app's own token, their own counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_of_one_app_are_counted_apart() {
    let app = TestApp::spawn_with(tiers).await;
    let (id, secret, _) = client(&app, Some("two")).await;
    let c = app.store.get_client(&id).await.unwrap().unwrap();
    let scope = castellan_core::ScopeSet::parse("products:read").unwrap();
    let person_token = |subject: &'static str| {
        let state = app.state.clone();
        let c = c.clone();
        let scope = scope.clone();
        async move {
            castellan_server::oauth::tokens::issue_access_token(
                &state,
                castellan_server::oauth::tokens::TokenGrant {
                    client: &c,
                    subject,
                    scope: &scope,
                    audience: &state.config.default_audience().into(),
                    organization: None,
                    jkt: None,
                    act: None,
                    expires_by: None,
                    sign_in: None,
                },
                state.clock.now(),
            )
            .await
            .unwrap()
            .token
            .into_exposed()
        }
    };
    let first = person_token("person-1").await;
    let second = person_token("person-2").await;
    let statuses = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(forward(&app, &first).await.status().as_u16());
        }
        v
    };
    assert_eq!(statuses, [200, 200, 429]);
    let res = forward(&app, &second).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "x-castellan-subject").as_deref(),
        Some("person-2")
    );
    assert_eq!(header(&res, "ratelimit-remaining").as_deref(), Some("1"));
    let own = app.token_for(&id, &secret, None).await;
    let res = forward(&app, &own).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "ratelimit-remaining").as_deref(), Some("1"));
}
