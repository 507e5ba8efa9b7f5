//! Token exchange's two options over HTTP (`[token_exchange] id_token_subjects` and
//! `refresh_tokens`): both off by default; an ID token is exchanged only by its client or a
//! delegated one, only while its grant is live, within the person's consent, and only if this
//! server signed it as an ID token; a refresh token comes only under a delegation rule, renews
//! the exchanged token as it was (its `act`, no ID token) in a family delegated from the
//! subject's grant, which revoking the subject's grant ends and revoking it leaves alone.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use castellan_core::exchange::{ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE};
use castellan_core::user::Role;
use castellan_server::management::clients::{build_client, ClientDraft};
use castellan_server::platform::config::{Config, DelegationConfig};
use castellan_testkit::oauth::claims;
use castellan_testkit::people::{
    exchange as redeem_code, is_active, issue_code, member, org, refresh, revoke, token, user,
    CodeSpec, REDIRECT,
};
use castellan_testkit::{Cred, TestApp};
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{json, Value};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const WEB: &str = "web-app";
const AGENT: &str = "agent-1";
const TOOL: &str = "tool-1";
const SCOPE: &str = "openid offline_access products:read orders:read account:read";

/// A client stored with a chosen id (a rule names it before it exists).
async fn fixed_client(app: &TestApp, id: &str, draft: Value) -> Cred {
    let draft: ClientDraft = serde_json::from_value(draft).unwrap();
    let (mut client, secret) = build_client(draft, &app.state.config, Utc::now()).unwrap();
    client.id = id.into();
    app.store.insert_client(&client).await.unwrap();
    Cred {
        id: id.into(),
        secret: secret.unwrap().expose().to_owned(),
    }
}

struct World {
    app: TestApp,
    web: Cred,
    agent: Cred,
    tool: Cred,
    person: castellan_core::user::User,
    org: String,
}

/// Castellan configured by `options`, with `web-app` (allowed the code flow, refresh and
/// exchange), a person who manages an organization, and `agent-1` (exchange and refresh) that
/// a rule lets act for `web-app`'s people within `products:read offline_access openid`, and
/// `tool-1`, which a rule lets act for `agent-1`'s within `offline_access products:read`.
async fn world(options: impl FnOnce(&mut Config) + Send + 'static) -> World {
    let app = TestApp::spawn_with(move |c| {
        c.token_exchange.delegations = vec![
            DelegationConfig {
                client: AGENT.into(),
                for_clients: vec![WEB.into()],
                scopes: "openid offline_access products:read".into(),
                audiences: vec![],
            },
            DelegationConfig {
                client: TOOL.into(),
                for_clients: vec![AGENT.into()],
                scopes: "offline_access products:read".into(),
                audiences: vec![],
            },
        ];
        options(c);
    })
    .await;
    let web = fixed_client(
        &app,
        WEB,
        json!({"name": "web", "scope": format!("{SCOPE} manage_orders"),
            "grantTypes": ["authorization_code", "refresh_token", EXCHANGE],
            "redirectUris": [REDIRECT]}),
    )
    .await;
    let agent = fixed_client(
        &app,
        AGENT,
        json!({"name": "agent", "scope": "openid offline_access products:read",
            "grantTypes": ["client_credentials", "refresh_token", EXCHANGE]}),
    )
    .await;
    let tool = fixed_client(
        &app,
        TOOL,
        json!({"name": "tool", "scope": "offline_access products:read",
            "grantTypes": ["client_credentials", "refresh_token", EXCHANGE]}),
    )
    .await;
    let person = user(&app, "pat@example.com", None).await;
    let org = org(&app, "Acme").await;
    member(&app, &org, &person.id, Role::Manager).await;
    World {
        app,
        web,
        agent,
        tool,
        person,
        org,
    }
}

/// The person's tokens at `web-app` after the code flow: the whole answer.
async fn signed_in(w: &World) -> Value {
    let spec = CodeSpec::new(&w.web, &w.person, Some(&w.org), SCOPE);
    let (code, _) = issue_code(&w.app, &spec).await;
    let (status, body) = redeem_code(&w.app, &w.web, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn exchange(w: &World, client: &Cred, extra: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", EXCHANGE)];
    form.extend_from_slice(extra);
    token(&w.app, client, &form).await
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap().to_owned()
}

/// The form fields presenting `token` as the subject token of type `token_type`.
fn presenting<'a>(token: &'a str, token_type: &'static str) -> [(&'a str, &'a str); 2] {
    [("subject_token", token), ("subject_token_type", token_type)]
}

/// The answer is a refusal with `invalid_grant`.
fn refused((status, body): &(StatusCode, Value)) {
    assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

/// Removes the person's consent to `web-app` the way the account page does.
async fn disconnect(w: &World) {
    let consent = w.app.store.consents_of_user(&w.person.id).await.unwrap()[0]
        .id
        .clone();
    let spec = CodeSpec::new(&w.web, &w.person, Some(&w.org), "account:write");
    let (code, _) = issue_code(&w.app, &spec).await;
    let (_, b) = redeem_code(&w.app, &w.web, &code).await;
    let status = w
        .app
        .http
        .delete(w.app.url(&format!("/account/connected-apps/{consent}")))
        .bearer_auth(s(&b, "access_token"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn id_tokens_are_not_subject_tokens_unless_configured() {
    let w = world(|_| {}).await;
    let id_token = s(&signed_in(&w).await, "id_token");
    let form = presenting(&id_token, ID_TOKEN_TYPE);
    let (status, body) = exchange(&w, &w.web, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(!body["error_description"]
        .as_str()
        .unwrap()
        .contains(ID_TOKEN_TYPE));
}

#[tokio::test]
async fn a_client_exchanges_its_id_token_within_the_persons_consent_until_it_is_removed() {
    let w = world(|c| c.token_exchange.id_token_subjects = true).await;
    let answer = signed_in(&w).await;
    let id_token = s(&answer, "id_token");
    let id_claims = claims(&id_token);
    assert_eq!(id_claims["gid"], claims(&s(&answer, "access_token"))["gid"]);
    let base = presenting(&id_token, ID_TOKEN_TYPE);
    // Nothing beyond the consent.
    let mut wider = base.to_vec();
    wider.push(("scope", "products:write"));
    let (status, body) = exchange(&w, &w.web, &wider).await;
    assert_eq!(body["error"], "invalid_scope", "{status} {body}");

    let mut narrow = base.to_vec();
    narrow.push(("scope", "products:read orders:read"));
    let (status, body) = exchange(&w, &w.web, &narrow).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(body["scope"], "products:read orders:read");
    assert_eq!(body["user_id"], w.person.id.as_str());
    assert_eq!(body["organization_id"], w.org.as_str());
    assert!(
        body.get("refresh_token").is_none(),
        "not configured: {body}"
    );
    assert!(body.get("id_token").is_none(), "{body}");
    let t = s(&body, "access_token");
    let c = claims(&t);
    assert_eq!(c["sub"], w.person.id.as_str());
    assert_eq!(c["org"], w.org.as_str());
    assert_eq!(c["client_id"], WEB);
    assert_eq!(c["act"], json!({"sub": WEB, "client_id": WEB}));
    assert!(c["exp"].as_i64().unwrap() <= id_claims["exp"].as_i64().unwrap());
    // The grant the ID token was issued in.
    assert_eq!(c["gid"], id_claims["gid"]);
    assert!(is_active(&w.app, &t).await);

    // Revoking that grant ends the exchanged token, and the ID token exchanges no more.
    assert_eq!(
        revoke(&w.app, &w.web, &s(&answer, "refresh_token")).await,
        StatusCode::OK
    );
    assert!(!is_active(&w.app, &t).await);
    refused(&exchange(&w, &w.web, &base).await);
}

#[tokio::test]
async fn an_id_token_exchanges_no_more_once_its_consent_is_removed_or_its_client_deleted() {
    let w = world(|c| c.token_exchange.id_token_subjects = true).await;
    let id_token = s(&signed_in(&w).await, "id_token");
    let base = presenting(&id_token, ID_TOKEN_TYPE);
    let (status, body) = exchange(&w, &w.agent, &base).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    disconnect(&w).await;
    refused(&exchange(&w, &w.agent, &base).await);

    let w = world(|c| c.token_exchange.id_token_subjects = true).await;
    let id_token = s(&signed_in(&w).await, "id_token");
    let base = presenting(&id_token, ID_TOKEN_TYPE);
    let admin = w.app.admin_token().await;
    let status = w
        .app
        .http
        .delete(w.app.url(&format!("/api-clients/{WEB}")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
    refused(&exchange(&w, &w.agent, &base).await);
}

#[tokio::test]
async fn an_id_token_gives_no_administrative_scope_to_a_person_without_the_flag() {
    let w = world(|c| {
        c.token_exchange.id_token_subjects = true;
    })
    .await;
    // The consent holds an administrative scope (stored before the flag was cleared).
    let answer = signed_in(&w).await;
    let consent = w.app.store.consents_of_user(&w.person.id).await.unwrap()[0].clone();
    w.app
        .store
        .record_consent(&castellan_store::people::Consent {
            scope: "manage_orders".into(),
            ..consent
        })
        .await
        .unwrap();
    let form = [
        ("subject_token", answer["id_token"].as_str().unwrap()),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("scope", "manage_orders"),
    ];
    let (status, body) = exchange(&w, &w.web, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_scope", "{body}");
}

#[tokio::test]
async fn an_id_token_is_exchanged_only_by_its_client_or_a_delegated_one_and_only_if_genuine() {
    let w = world(|c| c.token_exchange.id_token_subjects = true).await;
    let answer = signed_in(&w).await;
    let id_token = s(&answer, "id_token");
    let access = s(&answer, "access_token");
    let stranger = w
        .app
        .new_client(json!({"name": "stranger", "scope": "products:read",
            "grantTypes": ["client_credentials", EXCHANGE]}))
        .await;
    let form = |t: &'static str, token: String| {
        vec![
            ("subject_token".to_owned(), token),
            ("subject_token_type".to_owned(), t.to_owned()),
        ]
    };
    let send = |client: &Cred, f: Vec<(String, String)>| {
        let client = client.clone();
        let w = &w;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            exchange(w, &client, &f).await
        }
    };
    // A stranger with no rule.
    let (status, body) = send(&stranger, form(ID_TOKEN_TYPE, id_token.clone())).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // The agent's rule caps the scope.
    let (status, body) = send(&w.agent, form(ID_TOKEN_TYPE, id_token.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid offline_access products:read");
    assert!(body.get("id_token").is_none(), "{body}");
    assert_eq!(
        claims(&s(&body, "access_token"))["act"],
        json!({"sub": AGENT, "client_id": AGENT})
    );

    // An access token passed off as an ID token.
    let (status, body) = send(&w.web, form(ID_TOKEN_TYPE, access)).await;
    assert_eq!(body["error"], "invalid_grant", "{status} {body}");
    // A forged signature: the payload changed.
    let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
    let mut payload = claims(&id_token);
    payload["sub"] = json!("someone-else");
    parts[1] = b64(&payload);
    let (status, body) = send(&w.web, form(ID_TOKEN_TYPE, parts.join("."))).await;
    assert_eq!(body["error"], "invalid_grant", "{status} {body}");
    // Signed by this server but expired, or for another issuer, or from the future.
    let now = Utc::now().timestamp();
    let base = claims(&id_token);
    let signed_as = |typ: &str, edit: &dyn Fn(&mut Value)| {
        let mut c = base.clone();
        edit(&mut c);
        let keys = w.app.state.keys.keys();
        let key = keys.signer(castellan_crypto::Algorithm::Rs256).unwrap();
        castellan_crypto::jws::sign(key, typ, &c).unwrap()
    };
    let signed = |edit: &dyn Fn(&mut Value)| signed_as("JWT", edit);
    let genuine = signed(&|_| {});
    let (status, body) = send(&w.web, form(ID_TOKEN_TYPE, genuine)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the re-signed token is genuine: {body}"
    );
    // The same claims under the type of Castellan's other JWTs.
    for typ in ["at+jwt", "castellan-device+jwt"] {
        let (status, body) = send(&w.web, form(ID_TOKEN_TYPE, signed_as(typ, &|_| {}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{typ}: {body}");
        assert_eq!(body["error"], "invalid_grant", "{typ}: {body}");
    }
    // A claim changed (`None`: removed): no grant, another grant, expired, another issuer,
    // issued in the future, no subject.
    let forged = [
        ("gid", None),
        ("gid", Some(json!("f-unknown"))),
        ("exp", Some(json!(now - 1))),
        ("iss", Some(json!("https://other.example"))),
        ("iat", Some(json!(now + 3600))),
        ("sub", None),
    ];
    for (field, value) in forged {
        let edit = |c: &mut Value| match &value {
            Some(v) => c[field] = v.clone(),
            None => {
                c.as_object_mut().unwrap().remove(field);
            }
        };
        let (status, body) = send(&w.web, form(ID_TOKEN_TYPE, signed(&edit))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field} {value:?}: {body}");
        assert_eq!(body["error"], "invalid_grant", "{field} {value:?}: {body}");
    }
    // Garbage of any size.
    for junk in ["", "a.b.c", &"x".repeat(20_000)] {
        let (status, body) = send(&w.web, form(ID_TOKEN_TYPE, junk.to_owned())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[tokio::test]
async fn an_exchange_gives_no_refresh_token_unless_configured() {
    let w = world(|_| {}).await;
    let access = s(&signed_in(&w).await, "access_token");
    let form = presenting(&access, ACCESS_TOKEN_TYPE);
    let (status, body) = exchange(&w, &w.agent, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid offline_access products:read");
    assert!(body.get("refresh_token").is_none(), "{body}");
    // The subject's grant.
    assert_eq!(
        claims(&s(&body, "access_token"))["gid"],
        claims(&access)["gid"]
    );
}

#[tokio::test]
async fn a_configured_refresh_token_renews_the_exchanged_token_in_a_delegated_family() {
    let w = world(|c| c.token_exchange.refresh_tokens = true).await;
    let answer = signed_in(&w).await;
    let access = s(&answer, "access_token");
    let web_refresh = s(&answer, "refresh_token");
    let form = presenting(&access, ACCESS_TOKEN_TYPE);
    // Without offline_access in the exchanged scope, none.
    let mut narrow = form.to_vec();
    narrow.push(("scope", "products:read"));
    let (status, body) = exchange(&w, &w.agent, &narrow).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    // A client exchanging its own person's token is not delegated: none either.
    let (status, body) = exchange(&w, &w.web, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");

    let (status, body) = exchange(&w, &w.agent, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rt = s(&body, "refresh_token");
    let first = claims(&s(&body, "access_token"));
    assert_ne!(first["gid"], claims(&access)["gid"], "a family of its own");
    let act = json!({"sub": AGENT, "client_id": AGENT});
    assert_eq!(first["act"], act);

    // Another client cannot use it.
    let (status, body) = refresh(&w.app, &w.web, &rt, None).await;
    assert_eq!(body["error"], "invalid_grant", "{status} {body}");
    // The agent renews the token as it was: same person, organization, actor; its scope
    // holds openid, and still no ID token.
    let (status, body) = refresh(&w.app, &w.agent, &rt, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["scope"].as_str().unwrap().contains("openid"), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");
    let renewed = claims(&s(&body, "access_token"));
    assert_eq!(renewed["sub"], w.person.id.as_str());
    assert_eq!(renewed["org"], w.org.as_str());
    assert_eq!(renewed["client_id"], AGENT);
    assert_eq!(renewed["act"], act);
    assert_eq!(renewed["gid"], first["gid"]);
    let rt2 = s(&body, "refresh_token");
    // The refresh token cannot widen past what the exchange gave.
    let (_, body) = refresh(&w.app, &w.agent, &rt2, Some("orders:read")).await;
    assert_eq!(body["error"], "invalid_scope", "{body}");

    // Revoking the agent's grant leaves the person's own grant alone.
    assert_eq!(revoke(&w.app, &w.agent, &rt2).await, StatusCode::OK);
    let (status, body) = refresh(&w.app, &w.agent, &rt2, None).await;
    assert_eq!(body["error"], "invalid_grant", "{status} {body}");
    let (status, body) = refresh(&w.app, &w.web, &web_refresh, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let web_access = s(&body, "access_token");
    let web_refresh = s(&body, "refresh_token");

    // A second delegation, and a second link from it (a chain), which gets no refresh token
    // of its own: it joins the agent's family. Revoking the person's grant ends both.
    let again = presenting(&web_access, ACCESS_TOKEN_TYPE);
    let (status, body) = exchange(&w, &w.agent, &again).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rt3 = s(&body, "refresh_token");
    let agent_access = s(&body, "access_token");
    let (status, body) = exchange(&w, &w.tool, &presenting(&agent_access, ACCESS_TOKEN_TYPE)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let tool_access = s(&body, "access_token");
    let chained = claims(&tool_access);
    assert_eq!(
        chained["act"],
        json!({"sub": TOOL, "client_id": TOOL, "act": {"sub": AGENT, "client_id": AGENT}})
    );
    assert_eq!(chained["gid"], claims(&agent_access)["gid"]);
    assert!(is_active(&w.app, &tool_access).await);
    assert_eq!(revoke(&w.app, &w.web, &web_refresh).await, StatusCode::OK);
    assert!(!is_active(&w.app, &agent_access).await);
    assert!(!is_active(&w.app, &tool_access).await);
    refused(&refresh(&w.app, &w.agent, &rt3, None).await);
}

#[tokio::test]
async fn a_refresh_renews_a_delegation_only_while_the_rule_stands() {
    let w = world(|c| c.token_exchange.refresh_tokens = true).await;
    let access = s(&signed_in(&w).await, "access_token");
    let form = presenting(&access, ACCESS_TOKEN_TYPE);
    let (status, body) = exchange(&w, &w.agent, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rt = s(&body, "refresh_token");
    // Another replica on the same database, its rule narrowed: the renewal is cut to it.
    let narrowed = w
        .app
        .replica(|c| {
            c.token_exchange.delegations[0].scopes = "offline_access products:read".into();
        })
        .await;
    let (status, body) = refresh(&narrowed, &w.agent, &rt, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "offline_access products:read");
    let rt = s(&body, "refresh_token");
    // The rule removed, or no longer giving offline_access: no renewal.
    let removed = w
        .app
        .replica(|c| c.token_exchange.delegations.clear())
        .await;
    refused(&refresh(&removed, &w.agent, &rt, None).await);
    let online = w
        .app
        .replica(|c| c.token_exchange.delegations[0].scopes = "products:read".into())
        .await;
    refused(&refresh(&online, &w.agent, &rt, None).await);
    // The agent no longer given token exchange (read afresh by a new replica): no renewal.
    let mut agent = w.app.store.get_client(AGENT).await.unwrap().unwrap();
    agent
        .grant_types
        .retain(|g| *g != castellan_core::client::GrantType::TokenExchange);
    assert!(w.app.store.update_client(&agent).await.unwrap());
    let without = w.app.replica(|_| {}).await;
    refused(&refresh(&without, &w.agent, &rt, None).await);
    // Refused before rotation: the token is still good where the rule stands.
    let (status, body) = refresh(&narrowed, &w.agent, &rt, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_delegated_refresh_token_keeps_the_dpop_key_of_the_exchange() {
    let w = world(|c| c.token_exchange.refresh_tokens = true).await;
    let access = s(&signed_in(&w).await, "access_token");
    let key = crate::support::dpop::Prover::new();
    let url = w.app.state.config.endpoint("/oauth/token");
    let post = |proof: Option<String>, form: Vec<(&'static str, String)>| {
        let w = &w;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            crate::support::dpop::post_token(&w.app, &w.agent, proof, &form).await
        }
    };
    let (status, body) = post(
        Some(key.proof("POST", &url)),
        vec![
            ("grant_type", EXCHANGE.into()),
            ("subject_token", access.clone()),
            ("subject_token_type", ACCESS_TOKEN_TYPE.into()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let rt = s(&body, "refresh_token");
    let renew = || {
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", rt.clone()),
        ]
    };
    // The agent is confidential, yet its delegated refresh token needs the key.
    refused(&post(None, renew()).await);
    let other = crate::support::dpop::Prover::new();
    let (_, body) = post(Some(other.proof("POST", &url)), renew()).await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let (status, body) = post(Some(key.proof("POST", &url)), renew()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
}

#[tokio::test]
async fn with_both_options_an_id_token_gives_no_refresh_token_and_ends_with_its_grant() {
    let w = world(|c| {
        c.token_exchange.refresh_tokens = true;
        c.token_exchange.id_token_subjects = true;
    })
    .await;
    let answer = signed_in(&w).await;
    let form = presenting(answer["id_token"].as_str().unwrap(), ID_TOKEN_TYPE);
    let (status, body) = exchange(&w, &w.agent, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["scope"].as_str().unwrap().contains("offline_access"),
        "{body}"
    );
    assert!(body.get("refresh_token").is_none(), "{body}");
    let t = s(&body, "access_token");
    // The person's grant ends (the app revokes its refresh token).
    assert_eq!(
        revoke(&w.app, &w.web, &s(&answer, "refresh_token")).await,
        StatusCode::OK
    );
    assert!(!is_active(&w.app, &t).await);
    refused(&exchange(&w, &w.agent, &form).await);
}

#[tokio::test]
async fn a_person_who_left_the_organization_renews_no_delegation() {
    let w = world(|c| c.token_exchange.refresh_tokens = true).await;
    let access = s(&signed_in(&w).await, "access_token");
    let form = presenting(&access, ACCESS_TOKEN_TYPE);
    let (status, body) = exchange(&w, &w.agent, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rt = s(&body, "refresh_token");
    w.app
        .store
        .remove_membership(&w.org, &w.person.id)
        .await
        .unwrap();
    refused(&refresh(&w.app, &w.agent, &rt, None).await);
}
