//! The JWT bearer grant (RFC 7523 §2.1) with trusted issuers: assertions about a person (by id
//! or by email) or a service of the issuer become access tokens; identity assertion
//! authorization grants (ID-JAG) bound the scope and resource and must be the presenting
//! client's; and assertions of any other shape, issuer, algorithm, key, age or reuse are
//! `invalid_grant` with nothing issued.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::doc_server::{Answer, DocServer};
use castellan_crypto::{jws, Algorithm, SigningKey};
use castellan_server::oauth::trusted_issuers::{SubjectMapping, TrustedIssuer};
use castellan_server::platform::config::Config;
use castellan_testkit::oauth::claims;
use castellan_testkit::people::{token, user};
use castellan_testkit::{Cred, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const API: &str = "https://api.example.com/orders";

/// The public side of the test issuer's key, as a trusted issuer's configuration takes it.
struct IdpKey {
    jwk: Value,
    alg: &'static str,
}

fn trusted(
    name: &str,
    iss: &str,
    k: &IdpKey,
    subject: SubjectMapping,
    id_jag: bool,
) -> TrustedIssuer {
    let jwk = k.jwk.clone();
    TrustedIssuer {
        name: name.into(),
        issuer: iss.into(),
        jwks_uri: None,
        jwks: Some(json!({"keys": [jwk]}).to_string()),
        algorithms: vec![k.alg.into()],
        audiences: Vec::new(),
        subject,
        clients: Vec::new(),
        max_lifetime_seconds: 300,
        id_jag,
    }
}

struct Idp {
    key: SigningKey,
    app: TestApp,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn jti() -> String {
    castellan_crypto::generate_secret().expose()[..22].to_owned()
}

impl Idp {
    async fn start(edit: impl FnOnce(&mut Config, &IdpKey)) -> Idp {
        let (key, _) = SigningKey::generate(Algorithm::Es256, "idp-1".into()).unwrap();
        let k = IdpKey {
            jwk: key.verifying_key().unwrap().jwk().clone(),
            alg: key.algorithm().name(),
        };
        let app = TestApp::spawn_with(move |c| {
            c.token.resources = vec![API.into()];
            edit(c, &k);
        })
        .await;
        Idp { key, app }
    }

    fn claims(&self, iss: &str, sub: &str) -> Value {
        json!({"iss": iss, "sub": sub, "aud": self.app.state.config.issuer,
            "exp": now() + 60, "iat": now(), "jti": jti()})
    }

    fn sign(&self, typ: &str, claims: &Value) -> String {
        jws::sign(&self.key, typ, claims).unwrap()
    }
}

async fn client(app: &TestApp) -> Cred {
    app.new_client(
        json!({"name": "agent", "scope": "products:read orders:read", "grantTypes": [GRANT]}),
    )
    .await
}

async fn grant(
    app: &TestApp,
    c: &Cred,
    assertion: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", GRANT), ("assertion", assertion)];
    form.extend_from_slice(extra);
    token(app, c, &form).await
}

const IDP: &str = "https://idp.example.com";

#[tokio::test]
async fn a_persons_assertion_by_id_or_email_gives_their_token_once() {
    let idp = Idp::start(|c, k| {
        c.jwt_bearer.issuers = vec![
            trusted("idp", IDP, k, SubjectMapping::UserId, false),
            trusted(
                "mail",
                "https://mail-idp.example.com",
                k,
                SubjectMapping::Email,
                false,
            ),
        ];
    })
    .await;
    let app = &idp.app;
    let doc = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert!(doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!(GRANT)));
    let person = user(app, "ann@example.com", None).await;
    let c = client(app).await;

    let assertion = idp.sign("JWT", &idp.claims(IDP, &person.id));
    let (status, body) = grant(app, &c, &assertion, &[("scope", "products:read")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], person.id.as_str());
    assert!(body.get("refresh_token").is_none());
    let t = claims(body["access_token"].as_str().unwrap());
    assert_eq!(t["sub"], person.id.as_str());
    assert_eq!(t["client_id"], c.id.as_str());
    assert!(t["gid"].is_string(), "a person's grant: {t}");
    assert_eq!(t["scope"], "products:read");
    // The same assertion again.
    let (status, body) = grant(app, &c, &assertion, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");

    let mail = |email: &str, verified: Option<bool>| {
        let mut v = idp.claims("https://mail-idp.example.com", "employee-42");
        v["email"] = json!(email);
        if let Some(b) = verified {
            v["email_verified"] = json!(b);
        }
        idp.sign("JWT", &v)
    };
    let (status, body) = grant(app, &c, &mail("Ann@Example.com", Some(true)), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], person.id.as_str());
    user(app, "kim@example.com", None).await;
    // The attacks: an address the issuer did not verify (a person may set their profile's to
    // anyone's), and one that only folds to the victim's (a Kelvin sign for the K).
    for assertion in [
        mail("ann@example.com", Some(false)),
        mail("ann@example.com", None),
        mail("\u{212A}im@example.com", Some(true)),
    ] {
        let (status, body) = grant(app, &c, &assertion, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
}

#[tokio::test]
async fn a_service_assertion_gives_a_token_for_the_issuers_service() {
    let idp = Idp::start(|c, k| {
        c.jwt_bearer.issuers = vec![trusted("ci", IDP, k, SubjectMapping::Service, false)];
    })
    .await;
    let c = client(&idp.app).await;
    let (status, body) = grant(
        &idp.app,
        &c,
        &idp.sign("JWT", &idp.claims(IDP, "deploy-bot")),
        &[("resource", API)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let t = claims(body["access_token"].as_str().unwrap());
    assert_eq!(t["sub"], "ci:deploy-bot");
    assert_eq!(t["aud"], API);
    assert!(body.get("user_id").is_none());
}

#[tokio::test]
async fn an_id_jag_bounds_the_token_and_must_be_the_clients() {
    let idp = Idp::start(|c, k| {
        c.jwt_bearer.issuers = vec![trusted("corp", IDP, k, SubjectMapping::Email, true)];
    })
    .await;
    let app = &idp.app;
    let person = user(app, "bob@example.com", None).await;
    let c = client(app).await;
    let jag = |client_id: &str| {
        let mut v = idp.claims(IDP, "bob@example.com");
        v["email"] = json!("bob@example.com");
        v["email_verified"] = json!(true);
        v["client_id"] = json!(client_id);
        v["scope"] = json!("orders:read");
        v["resource"] = json!(API);
        v
    };
    let (status, body) = grant(app, &c, &idp.sign("oauth-id-jag+jwt", &jag(&c.id)), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let t = claims(body["access_token"].as_str().unwrap());
    assert_eq!(t["sub"], person.id.as_str());
    assert_eq!(t["aud"], API);
    assert_eq!(t["scope"], "orders:read");
    for (assertion, extra, error) in [
        (idp.sign("JWT", &jag(&c.id)), vec![], "invalid_grant"),
        (
            idp.sign("oauth-id-jag+jwt", &jag("another-client")),
            vec![],
            "invalid_grant",
        ),
        (
            idp.sign("oauth-id-jag+jwt", &jag(&c.id)),
            vec![("scope", "products:read")],
            "invalid_scope",
        ),
        (
            idp.sign("oauth-id-jag+jwt", &jag(&c.id)),
            vec![("resource", "https://api.example.com/other")],
            "invalid_target",
        ),
    ] {
        let (status, body) = grant(app, &c, &assertion, &extra).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], error, "{body}");
    }
}

#[tokio::test]
async fn the_issuers_keys_may_be_fetched_from_its_jwks_uri() {
    let docs = DocServer::start().await;
    let uri = docs.url("/jwks.json");
    let u = uri.clone();
    let idp = Idp::start(move |c, k| {
        let mut t = trusted("ci", IDP, k, SubjectMapping::Service, false);
        t.jwks = None;
        t.jwks_uri = Some(u);
        c.jwt_bearer.issuers = vec![t];
    })
    .await;
    docs.set(
        "/jwks.json",
        Answer::json(json!({"keys": [idp.key.verifying_key().unwrap().jwk()]}).to_string()),
    );
    let c = client(&idp.app).await;
    let (status, body) = grant(&idp.app, &c, &idp.sign("JWT", &idp.claims(IDP, "bot")), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn every_bad_assertion_is_invalid_grant_and_issues_nothing() {
    let idp = Idp::start(|c, k| {
        c.jwt_bearer.issuers = vec![trusted("idp", IDP, k, SubjectMapping::UserId, false)];
    })
    .await;
    let app = &idp.app;
    let person = user(app, "cy@example.com", None).await;
    let c = client(app).await;
    let (other, _) = SigningKey::generate(Algorithm::Es256, "idp-1".into()).unwrap();
    let (ed, _) = SigningKey::generate(Algorithm::EdDsa, "idp-1".into()).unwrap();
    let good = idp.claims(IDP, &person.id);
    let with = |k: &str, v: Value| {
        let mut g = good.clone();
        g[k] = v;
        g["jti"] = json!(jti());
        g
    };
    let without = |k: &str| {
        let mut g = good.clone();
        g["jti"] = json!(jti());
        g.as_object_mut().unwrap().remove(k);
        g
    };
    let none_alg = {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&with("jti", json!(jti()))).unwrap());
        format!("{h}.{p}.")
    };
    let cases = vec![
        ("garbage", "not-a-jwt".to_owned()),
        ("huge", "a".repeat(20_000)),
        ("alg none", none_alg),
        (
            "untrusted issuer",
            idp.sign("JWT", &with("iss", json!("https://evil.example"))),
        ),
        (
            "another key",
            jws::sign(&other, "JWT", &with("jti", json!(jti()))).unwrap(),
        ),
        (
            "an algorithm not pinned",
            jws::sign(&ed, "JWT", &with("jti", json!(jti()))).unwrap(),
        ),
        ("expired", idp.sign("JWT", &with("exp", json!(now() - 600)))),
        (
            "long-lived",
            idp.sign("JWT", &with("exp", json!(now() + 3600))),
        ),
        (
            "from the future",
            idp.sign("JWT", &with("iat", json!(now() + 600))),
        ),
        ("no jti", idp.sign("JWT", &without("jti"))),
        ("no exp", idp.sign("JWT", &without("exp"))),
        (
            "another audience",
            idp.sign("JWT", &with("aud", json!("https://other.example"))),
        ),
        (
            "an unknown person",
            idp.sign("JWT", &with("sub", json!("usr_nobody"))),
        ),
        (
            "a sub of the wrong type",
            idp.sign("JWT", &with("sub", json!(["x"]))),
        ),
        (
            "another client's (azp)",
            idp.sign("JWT", &with("azp", json!("someone-else"))),
        ),
        (
            "another client's (client_id)",
            idp.sign("JWT", &with("client_id", json!("someone-else"))),
        ),
        (
            "an access token, not an assertion",
            idp.sign("at+jwt", &with("jti", json!(jti()))),
        ),
        (
            "bound to a key the request does not prove",
            idp.sign(
                "JWT",
                &with(
                    "cnf",
                    json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
                ),
            ),
        ),
    ];
    for (what, assertion) in cases {
        let (status, body) = grant(app, &c, &assertion, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["error"], "invalid_grant", "{what}: {body}");
        assert!(body.get("access_token").is_none(), "{what}");
    }
    let (status, body) = token(app, &c, &[("grant_type", GRANT)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request", "{body}");
}

/// Where an issuer is trusted, its JWT is a subject token of a token exchange too, under
/// every rule of the JWT bearer grant. The attacks: a client given only token exchange (to
/// skip the grant's gate), scopes beyond the client's (taken from the JWT), the JWT used
/// twice, and an actor token beside it.
#[tokio::test]
async fn a_trusted_issuers_jwt_is_exchanged_under_the_grants_rules() {
    let idp = Idp::start(|c, k| {
        c.jwt_bearer.issuers = vec![trusted("corp", IDP, k, SubjectMapping::UserId, false)];
    })
    .await;
    let app = &idp.app;
    let person = user(app, "dee@example.com", None).await;
    let exchange = "urn:ietf:params:oauth:grant-type:token-exchange";
    let only_exchange = app
        .new_client(json!({"name": "x", "scope": "products:read", "grantTypes": [exchange]}))
        .await;
    let agent = app
        .new_client(
            json!({"name": "agent", "scope": "products:read", "grantTypes": [exchange, GRANT]}),
        )
        .await;
    let jwt_for = |client_id: &str| {
        let mut c = idp.claims(IDP, &person.id);
        c["client_id"] = json!(client_id);
        c["scope"] = json!("products:read manage_api_clients");
        idp.sign("JWT", &c)
    };
    let form = |jwt: &str| {
        vec![
            ("grant_type", exchange.to_owned()),
            ("subject_token", jwt.to_owned()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:jwt".to_owned(),
            ),
        ]
    };
    let send = |client: &Cred, form: Vec<(&'static str, String)>| {
        let c = client.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(a, b)| (*a, b.as_str())).collect();
            token(app, &c, &form).await
        }
    };
    let (status, body) = send(&only_exchange, form(&jwt_for(&only_exchange.id))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "unauthorized_client", "{body}");

    let jwt = jwt_for(&agent.id);
    let (status, body) = send(&agent, form(&jwt)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(
        body["scope"], "products:read",
        "the client's scopes, not the JWT's"
    );
    let t = claims(body["access_token"].as_str().unwrap());
    assert_eq!(t["sub"], person.id.as_str());
    assert_eq!(t["act"], json!({"sub": agent.id, "client_id": agent.id}));
    assert!(t["gid"].is_string(), "a person's grant: {t}");
    // Used once.
    let (status, body) = send(&agent, form(&jwt)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    // No actor token beside it.
    let mut with_actor = form(&jwt_for(&agent.id));
    with_actor.push(("actor_token", "x".to_owned()));
    with_actor.push((
        "actor_token_type",
        "urn:ietf:params:oauth:token-type:access_token".to_owned(),
    ));
    let (status, body) = send(&agent, with_actor).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request", "{body}");
}

/// An issuer's `clients` list: only those clients may present its assertions.
#[tokio::test]
async fn an_issuers_assertions_are_for_its_listed_clients_only() {
    let idp = Idp::start(|c, k| {
        let mut t = trusted("ci", IDP, k, SubjectMapping::Service, false);
        t.clients = vec!["only-this-one".into()];
        c.jwt_bearer.issuers = vec![t];
    })
    .await;
    let c = client(&idp.app).await;
    let (status, body) = grant(&idp.app, &c, &idp.sign("JWT", &idp.claims(IDP, "bot")), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
}
