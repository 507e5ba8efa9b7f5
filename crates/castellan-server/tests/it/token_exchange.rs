//! Token exchange (RFC 8693) over HTTP: a client narrows its own token for another audience;
//! an agent given a delegation rule exchanges a person's token and the result names the agent
//! in `act` (nested for a chain), belongs to the person's grant (revoking it ends the new
//! token) and never outlives the subject token; `may_act` is honoured; and every refusal
//! answers the RFC's error and issues nothing.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use castellan_core::exchange::ACCESS_TOKEN_TYPE;
use castellan_core::user::Role;
use castellan_server::management::clients::{build_client, ClientDraft};
use castellan_server::platform::config::{Config, DelegationConfig};
use castellan_testkit::oauth::claims;
use castellan_testkit::people::{
    issue_code, member, org, revoke, token, user, Grant, REDIRECT, VERIFIER,
};
use castellan_testkit::{Cred, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const API: &str = "https://api.example.com/orders";

fn config(c: &mut Config) {
    c.token.resources = vec![API.into()];
}

/// A client allowed `client_credentials` and token exchange.
async fn exchanger(app: &TestApp, name: &str, scope: &str) -> Cred {
    app.new_client(json!({
        "name": name,
        "scope": scope,
        "grantTypes": ["client_credentials", EXCHANGE],
    }))
    .await
}

async fn exchange(app: &TestApp, client: &Cred, extra: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", EXCHANGE)];
    form.extend_from_slice(extra);
    token(app, client, &form).await
}

fn subject(t: &str) -> [(&str, &str); 2] {
    [
        ("subject_token", t),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
    ]
}

#[tokio::test]
async fn the_metadata_lists_the_grant_and_no_grant_that_does_not_work() {
    let app = TestApp::spawn().await;
    let doc = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    let grants = doc["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(EXCHANGE)));
    // The JWT bearer grant works only with a trusted issuer, and none is configured here.
    assert!(!grants.contains(&json!("urn:ietf:params:oauth:grant-type:jwt-bearer")));
}

#[tokio::test]
async fn a_client_narrows_its_own_token_for_another_audience() {
    let app = TestApp::spawn_with(config).await;
    let c = exchanger(&app, "job", "products:read orders:read").await;
    let (_, first) = token(&app, &c, &[("grant_type", "client_credentials")]).await;
    let t = first["access_token"].as_str().unwrap();
    let mut form = subject(t).to_vec();
    form.extend([("scope", "orders:read"), ("resource", API)]);
    let (status, body) = exchange(&app, &c, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "orders:read");
    assert!(body.get("refresh_token").is_none());
    let new = claims(body["access_token"].as_str().unwrap());
    assert_eq!(new["aud"], API);
    assert_eq!(new["sub"], c.id.as_str());
    assert_eq!(new["client_id"], c.id.as_str());
    assert!(new.get("act").is_none(), "nobody acts for anyone: {new}");
    assert!(new["exp"].as_i64().unwrap() <= claims(t)["exp"].as_i64().unwrap());
}

/// A person's token of the client `web`, with its refresh token.
async fn person_token(app: &TestApp, grant: &Grant) -> (String, String) {
    let (code, _) = issue_code(app, &grant.spec("offline_access products:read orders:read")).await;
    let (status, body) = token(
        app,
        &grant.client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// The ids the delegation rules of these tests name, given to clients made with them.
const WEB: &str = "web-app";
const AGENT: &str = "agent-1";
const TOOL: &str = "tool-1";

/// A client stored with a chosen id (a rule names it before it exists).
async fn fixed_client(app: &TestApp, id: &str, draft: Value) -> Cred {
    let draft: ClientDraft = serde_json::from_value(draft).unwrap();
    let (mut client, secret) = build_client(draft, &app.state.config, chrono::Utc::now()).unwrap();
    client.id = id.into();
    app.store.insert_client(&client).await.unwrap();
    Cred {
        id: id.into(),
        secret: secret.unwrap().expose().to_owned(),
    }
}

fn rule(client: &str, for_client: &str, scopes: &str, audiences: Vec<String>) -> DelegationConfig {
    DelegationConfig {
        client: client.into(),
        for_clients: vec![for_client.into()],
        scopes: scopes.into(),
        audiences,
    }
}

/// Castellan with `rules`, the app `web-app` and a person of it, and the agents `agent-1`
/// (allowed `agent_scope`) and `tool-1`.
async fn delegating(
    rules: Vec<DelegationConfig>,
    agent_scope: &str,
) -> (TestApp, Grant, Cred, Cred) {
    let app = TestApp::spawn_with(move |c| {
        config(c);
        c.token_exchange.delegations = rules;
    })
    .await;
    let web = fixed_client(
        &app,
        WEB,
        json!({"name": "web", "scope": "offline_access products:read orders:read",
            "grantTypes": ["authorization_code", "refresh_token", "client_credentials"],
            "redirectUris": [REDIRECT]}),
    )
    .await;
    let person = user(&app, "pat@example.com", None).await;
    let org = org(&app, "Acme").await;
    member(&app, &org, &person.id, Role::Manager).await;
    let grant = Grant {
        client: web,
        user: person,
        org,
    };
    let draft = |scope: &str| json!({"name": "agent", "scope": scope, "grantTypes": ["client_credentials", EXCHANGE]});
    let agent = fixed_client(&app, AGENT, draft(agent_scope)).await;
    let tool = fixed_client(&app, TOOL, draft("products:read")).await;
    (app, grant, agent, tool)
}

#[tokio::test]
async fn a_delegated_agent_acts_for_a_person_and_the_chain_of_actors_nests() {
    let (app, grant, agent, tool) = delegating(
        vec![
            rule(AGENT, WEB, "products:read", vec![]),
            rule(TOOL, AGENT, "products:read", vec![]),
        ],
        "products:read",
    )
    .await;
    let (person, refresh) = person_token(&app, &grant).await;

    // Nothing beyond the rule's scopes.
    let mut form = subject(&person).to_vec();
    form.push(("scope", "orders:read"));
    let (status, body) = exchange(&app, &agent, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope", "{body}");

    let (status, body) = exchange(&app, &agent, &subject(&person)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "products:read", "cut to the rule's scopes");
    assert_eq!(body["user_id"], grant.user.id.as_str());
    assert_eq!(body["organization_id"], grant.org.as_str());
    let by_agent = body["access_token"].as_str().unwrap().to_owned();
    let c1 = claims(&by_agent);
    assert_eq!(c1["sub"], grant.user.id.as_str());
    assert_eq!(c1["org"], grant.org.as_str());
    assert_eq!(c1["client_id"], agent.id.as_str());
    assert_eq!(c1["act"], json!({"sub": agent.id, "client_id": agent.id}));
    assert_eq!(c1["gid"], claims(&person)["gid"]);
    let seen = app.introspect(&by_agent).await;
    assert_eq!(seen["act"], c1["act"]);

    // The tool, acting with its own token as the actor, exchanges the agent's token.
    let (_, own) = token(&app, &tool, &[("grant_type", "client_credentials")]).await;
    let mut form = subject(&by_agent).to_vec();
    form.extend([
        ("actor_token", own["access_token"].as_str().unwrap()),
        ("actor_token_type", ACCESS_TOKEN_TYPE),
    ]);
    let (status, body) = exchange(&app, &tool, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let by_tool = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        claims(&by_tool)["act"],
        json!({"sub": tool.id, "client_id": tool.id, "act": {"sub": agent.id, "client_id": agent.id}})
    );

    // Revoking the person's grant ends every token exchanged from it.
    assert_eq!(revoke(&app, &grant.client, &refresh).await, StatusCode::OK);
    for t in [&by_agent, &by_tool] {
        assert_eq!(app.introspect(t).await["active"], false);
    }
    let (status, body) = exchange(&app, &agent, &subject(&person)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

#[tokio::test]
async fn may_act_lets_the_named_client_exchange() {
    let app = TestApp::spawn_with(config).await;
    let web = exchanger(&app, "web", "products:read").await;
    let agent = exchanger(&app, "agent", "products:read").await;
    let now = chrono::Utc::now().timestamp();
    let claims_of = |may_act: Value| {
        let c = castellan_core::token::AccessClaims {
            iss: app.state.config.issuer.clone(),
            sub: "user-1".into(),
            aud: app.state.config.default_audience().into(),
            exp: now + 600,
            iat: now,
            jti: castellan_server::oauth::tokens::new_jti(),
            client_id: web.id.clone(),
            scope: "products:read".into(),
            env: "local".into(),
            org: None,
            gid: None,
            cnf: None,
            tier: None,
            act: None,
            may_act: Some(may_act),
            auth_time: None,
            acr: None,
            amr: None,
        };
        let keys = app.state.keys.keys();
        castellan_crypto::jws::sign(keys.signer(app.state.access_alg).unwrap(), "at+jwt", &c)
            .unwrap()
    };
    let named = claims_of(json!({"client_id": agent.id}));
    let other = claims_of(json!({"client_id": "someone-else"}));
    let (status, body) = exchange(&app, &agent, &subject(&named)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = exchange(&app, &agent, &subject(&other)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

#[tokio::test]
async fn every_bad_exchange_is_refused_with_the_rfcs_error() {
    let app = TestApp::spawn_with(config).await;
    let c = exchanger(&app, "job", "products:read").await;
    let stranger = exchanger(&app, "stranger", "products:read").await;
    let (_, own) = token(&app, &c, &[("grant_type", "client_credentials")]).await;
    let t = own["access_token"].as_str().unwrap();
    let (_, theirs) = token(&app, &stranger, &[("grant_type", "client_credentials")]).await;
    let theirs = theirs["access_token"].as_str().unwrap();
    let revoked = {
        let (_, r) = token(&app, &c, &[("grant_type", "client_credentials")]).await;
        let r = r["access_token"].as_str().unwrap().to_owned();
        assert_eq!(revoke(&app, &c, &r).await, StatusCode::OK);
        r
    };
    let long = "a".repeat(20_000);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "invalid_request"),
        (vec![("subject_token", t)], "invalid_request"),
        (
            vec![
                ("subject_token", t),
                ("subject_token_type", "urn:x:unknown"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("subject_token", t),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
            ],
            "invalid_request",
        ),
        (
            [subject(t).to_vec(), vec![("actor_token", t)]].concat(),
            "invalid_request",
        ),
        (
            [
                subject(t).to_vec(),
                vec![(
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:refresh_token",
                )],
            ]
            .concat(),
            "invalid_request",
        ),
        (subject("garbage").to_vec(), "invalid_grant"),
        (subject("e30.e30.e30").to_vec(), "invalid_grant"),
        (subject(&long).to_vec(), "invalid_grant"),
        (subject(&revoked).to_vec(), "invalid_grant"),
        (subject(theirs).to_vec(), "invalid_grant"),
        (
            [subject(t).to_vec(), vec![("scope", "products:write")]].concat(),
            "invalid_scope",
        ),
        (
            [
                subject(t).to_vec(),
                vec![("resource", "https://elsewhere.example")],
            ]
            .concat(),
            "invalid_target",
        ),
        (
            [
                subject(t).to_vec(),
                vec![("audience", "https://elsewhere.example")],
            ]
            .concat(),
            "invalid_target",
        ),
        (
            [
                subject(t).to_vec(),
                vec![
                    ("actor_token", "garbage"),
                    ("actor_token_type", ACCESS_TOKEN_TYPE),
                ],
            ]
            .concat(),
            "invalid_grant",
        ),
    ];
    for (form, error) in cases {
        let (status, body) = exchange(&app, &c, &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}: {body}");
        assert_eq!(body["error"], error, "{form:?}: {body}");
        assert!(body.get("access_token").is_none());
    }
    // A client not given the grant.
    let plain = app
        .new_client(json!({"name": "plain", "scope": "products:read"}))
        .await;
    let (status, body) = exchange(&app, &plain, &subject(t)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unauthorized_client", "{body}");
}

#[tokio::test]
async fn a_dpop_bound_subject_token_needs_a_proof_of_its_key() {
    let app = TestApp::spawn_with(config).await;
    let c = exchanger(&app, "job", "products:read").await;
    let key = crate::support::dpop::Prover::new();
    let url = app.state.config.endpoint("/oauth/token");
    let post = |proof: Option<String>, form: Vec<(&'static str, String)>| {
        let form: Vec<(&str, String)> = form;
        let (app, c) = (&app, &c);
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            crate::support::dpop::post_token(app, c, proof, &form).await
        }
    };
    let (_, bound) = post(
        Some(key.proof("POST", &url)),
        vec![("grant_type", "client_credentials".into())],
    )
    .await;
    let bound = bound["access_token"].as_str().unwrap().to_owned();
    let form = || {
        vec![
            ("grant_type", EXCHANGE.to_owned()),
            ("subject_token", bound.clone()),
            ("subject_token_type", ACCESS_TOKEN_TYPE.to_owned()),
        ]
    };
    let (status, body) = post(None, form()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let other = crate::support::dpop::Prover::new();
    let (status, body) = post(Some(other.proof("POST", &url)), form()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = post(Some(key.proof("POST", &url)), form()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
}

/// A client cannot be given a grant the token endpoint does not answer.
#[tokio::test]
async fn the_management_api_refuses_grants_that_do_not_work() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for grant in ["urn:ietf:params:oauth:grant-type:jwt-bearer"] {
        let res = app
            .http
            .post(app.url("/api-clients"))
            .bearer_auth(&admin)
            .json(&json!({"name": "x", "scope": "products:read", "grantTypes": ["client_credentials", grant]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{grant}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("not supported"),
            "{body}"
        );
    }
    let ok = exchanger(&app, "fine", "products:read").await;
    assert!(!ok.id.is_empty());
}

/// The attack: a delegated agent changes the audience of a person's token to another API (or
/// to Castellan's own). An exchange may only narrow the audience, unless the rule names more.
#[tokio::test]
async fn a_delegated_exchange_cannot_widen_the_audience_unless_the_rule_says_so() {
    let (app, grant, agent, _) = delegating(
        vec![rule(AGENT, WEB, "products:read", vec![])],
        "products:read",
    )
    .await;
    let (person, _) = person_token(&app, &grant).await;
    let (status, body) = exchange(&app, &agent, &form_with(&person, API)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_target", "{body}");
    // Without a resource: the subject token's audience, nothing else.
    let (status, body) = exchange(&app, &agent, &subject(&person)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        claims(&person)["aud"]
    );
    let (app, grant, agent, _) = delegating(
        vec![rule(AGENT, WEB, "products:read", vec![API.into()])],
        "products:read",
    )
    .await;
    let (person, _) = person_token(&app, &grant).await;
    let (status, body) = exchange(&app, &agent, &form_with(&person, API)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["aud"], API);
}

fn form_with<'a>(person: &'a str, resource: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut form = subject(person).to_vec();
    form.push(("resource", resource));
    form
}

/// The attack: a rule wider than the agent's registered scopes hands it a scope it was never
/// given. The exchanged scope stays within the client's scopes too.
#[tokio::test]
async fn an_exchange_stays_within_the_clients_registered_scopes() {
    let (app, grant, agent, _) = delegating(
        vec![rule(AGENT, WEB, "products:read orders:read", vec![])],
        "products:read",
    )
    .await;
    let (person, _) = person_token(&app, &grant).await;
    let mut form = subject(&person).to_vec();
    form.push(("scope", "orders:read"));
    let (status, body) = exchange(&app, &agent, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope", "{body}");
    let (status, body) = exchange(&app, &agent, &subject(&person)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "products:read");
}

/// The attacks: an actor token that is not the client's own (naming someone else as the
/// actor), and a rule used on a client's own token (acting as that client).
#[tokio::test]
async fn actors_are_the_clients_own_and_client_tokens_are_never_delegated() {
    let (app, grant, agent, _) = delegating(
        vec![rule(AGENT, WEB, "products:read", vec![])],
        "products:read",
    )
    .await;
    let (person, _) = person_token(&app, &grant).await;
    let mut form = subject(&person).to_vec();
    form.extend([
        ("actor_token", person.as_str()),
        ("actor_token_type", ACCESS_TOKEN_TYPE),
    ]);
    let (status, body) = exchange(&app, &agent, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    // The app's own client_credentials token, though the rule names the app.
    let (status, own) = token(&app, &grant.client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    let t = own["access_token"].as_str().unwrap();
    let (status, body) = exchange(&app, &agent, &subject(t)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

#[test]
fn a_rule_names_its_scopes_and_its_audiences_are_configured_resources() {
    let base = "[[token_exchange.delegations]]\nclient = \"a\"\nfor_clients = [\"b\"]\n";
    assert!(Config::from_toml_str(base).is_err(), "scopes are required");
    assert!(Config::from_toml_str(&format!("{base}scopes = \"\"\n")).is_err());
    assert!(Config::from_toml_str(&format!("{base}scopes = \"products:read\"\n")).is_ok());
    assert!(Config::from_toml_str(&format!(
        "{base}scopes = \"products:read\"\naudiences = [\"https://nowhere.example\"]\n"
    ))
    .is_err());
}

/// A public client (it proves only its id) cannot be given token exchange.
#[tokio::test]
async fn a_public_client_cannot_be_given_token_exchange() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let res = app
        .http
        .post(app.url("/api-clients"))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "cli", "scope": "products:read", "clientKind": "public",
            "tokenEndpointAuthMethod": "none", "redirectUris": ["https://app.example/cb"],
            "grantTypes": ["authorization_code", EXCHANGE]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
