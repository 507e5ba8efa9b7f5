//! Shared fixtures of the people-and-grants tests: users, organizations, clients able to use
//! the authorization-code grant, codes created directly in storage (what the authorization
//! endpoint does after a person approves: a consent, then a code hashed with SHA-256), and
//! helpers for the token, introspection and revocation endpoints.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::user::{Membership, Organization, Role, User};
use castellan_core::Secret;
use castellan_crypto::{hash_secret, jws};
use castellan_server::people::passwords::hash_password;
use castellan_store::people::{AuthorizationCode, Consent};
use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub use crate::clients::Cred;
pub use crate::oauth::claims;
use crate::TestApp;

/// The redirect URI of the clients made by [`code_client`].
pub const REDIRECT: &str = "https://app.example/cb";
/// The PKCE verifier of the codes made by [`CodeSpec::new`].
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The `nonce` of the codes made by [`CodeSpec::new`].
pub const NONCE: &str = "n-0S6_WzA2Mj";
/// Every scope [`code_client`] allows.
pub const FULL_SCOPE: &str =
    "openid offline_access email profile products:read products:write account:read account:write";

/// The S256 challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(hash_secret(verifier).0)
}

/// A new random id starting with `prefix`.
pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &castellan_crypto::generate_secret().expose()[..16]
    )
    .replace(['-', '_'], "x")
}

/// A confidential client allowed the authorization-code and refresh grants.
pub async fn code_client(app: &TestApp, extra: Value) -> Cred {
    let mut draft = json!({
        "name": "Partner app",
        "scope": FULL_SCOPE,
        "grantTypes": ["authorization_code", "refresh_token"],
        "redirectUris": [REDIRECT],
    });
    if let (Some(d), Some(e)) = (draft.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    app.new_client(draft).await
}

/// A user (with a real Argon2id hash of `password` when given).
pub async fn user(app: &TestApp, email: &str, password: Option<&str>) -> User {
    let password_hash = match password {
        Some(p) => hash_password(Secret::new(p)).await.unwrap(),
        None => "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
    };
    let u = User {
        id: new_id("u"),
        email: email.to_owned(),
        name: format!("Name of {email}"),
        password_hash,
        created_at: Utc::now(),
        is_admin: false,
        disabled_at: None,
        email_verified_at: None,
    };
    app.store.insert_user(&u).await.unwrap();
    u
}

/// Creates an organization named `name`; answers its id.
pub async fn org(app: &TestApp, name: &str) -> String {
    let o = Organization {
        id: new_id("o"),
        name: name.to_owned(),
        created_at: Utc::now(),
    };
    app.store.insert_organization(&o).await.unwrap();
    o.id
}

/// Creates an organization with the id `id` unless it exists (tests that name it first).
pub async fn org_with_id(app: &TestApp, id: &str) {
    if app.store.get_organization(id).await.unwrap().is_some() {
        return;
    }
    let o = Organization {
        id: id.to_owned(),
        name: id.to_owned(),
        created_at: Utc::now(),
    };
    app.store.insert_organization(&o).await.unwrap();
}

/// Makes `user` a member of `org` with `role`.
pub async fn member(app: &TestApp, org: &str, user: &str, role: Role) {
    app.store
        .upsert_membership(&Membership {
            organization_id: org.to_owned(),
            user_id: user.to_owned(),
            role,
        })
        .await
        .unwrap();
}

/// The user `u1` (no usable password) in a new organization `org-1` with `role`: fixed ids the
/// tests name in their expectations (identity headers, key owners).
pub async fn u1_in_org_1(app: &TestApp, role: Role) {
    let now = Utc::now();
    app.store
        .insert_user(&User {
            id: "u1".into(),
            email: "[email protected]".into(),
            name: "V".into(),
            password_hash: "x".into(),
            created_at: now,
            is_admin: false,
            disabled_at: None,
            email_verified_at: None,
        })
        .await
        .unwrap();
    org_with_id(app, "org-1").await;
    app.store
        .upsert_membership(&Membership {
            organization_id: "org-1".into(),
            user_id: "u1".into(),
            role,
        })
        .await
        .unwrap();
}

/// A `products:read` access token of `u1` in `org-1` for the client `client_id`, minted with
/// the server's own key as a person's grant would be.
pub async fn u1_token_in_org_1(app: &TestApp, client_id: &str) -> String {
    let c = app.store.get_client(client_id).await.unwrap().unwrap();
    let scope = castellan_core::ScopeSet::parse("products:read").unwrap();
    let issued = castellan_server::oauth::tokens::issue_access_token(
        &app.state,
        castellan_server::oauth::tokens::TokenGrant {
            client: &c,
            subject: "u1",
            scope: &scope,
            audience: &app.state.config.default_audience().into(),
            organization: Some("org-1"),
            jkt: None,
            act: None,
            expires_by: None,
            sign_in: None,
        },
        Utc::now(),
    )
    .await
    .unwrap();
    issued.token.into_exposed()
}

/// What the authorization endpoint would have bound a code to.
#[derive(Debug, Clone)]
pub struct CodeSpec {
    /// The client the code is for.
    pub client_id: String,
    /// The person who approved.
    pub user_id: String,
    /// The organization the grant is bound to, if any.
    pub organization_id: Option<String>,
    /// The space-separated scopes granted.
    pub scope: String,
    /// The redirect URI the code is bound to.
    pub redirect_uri: String,
    /// The PKCE challenge, if any.
    pub challenge: Option<String>,
    /// The OIDC `nonce`, if any.
    pub nonce: Option<String>,
    /// The resources asked for (RFC 8707), separated by spaces, if any.
    pub resource: Option<String>,
    /// When the person signed in.
    pub auth_time: DateTime<Utc>,
    /// When the code was issued.
    pub now: DateTime<Utc>,
    /// How long the code lives.
    pub lifetime: Duration,
    /// The DPoP key thumbprint the code is bound to (`dpop_jkt`), if any.
    pub dpop_jkt: Option<String>,
}

impl CodeSpec {
    /// A code of `client` for `user` in `org`: [`REDIRECT`], the S256 challenge of [`VERIFIER`],
    /// [`NONCE`], signed in 30 seconds ago, living 60 seconds.
    pub fn new(client: &Cred, user: &User, org: Option<&str>, scope: &str) -> Self {
        let now = Utc::now();
        CodeSpec {
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            organization_id: org.map(str::to_owned),
            scope: scope.to_owned(),
            redirect_uri: REDIRECT.to_owned(),
            challenge: Some(challenge(VERIFIER)),
            nonce: Some(NONCE.to_owned()),
            resource: None,
            auth_time: now - Duration::seconds(30),
            now,
            lifetime: Duration::seconds(60),
            dpop_jkt: None,
        }
    }
}

/// A code as issued after consent: the consent is recorded (widening), the code stored by its
/// SHA-256. Answers the code and its family id.
pub async fn issue_code(app: &TestApp, spec: &CodeSpec) -> (String, String) {
    let consent = app
        .store
        .record_consent(&Consent {
            id: new_id("k"),
            user_id: spec.user_id.clone(),
            client_id: spec.client_id.clone(),
            organization_id: spec.organization_id.clone(),
            scope: spec.scope.clone(),
            created_at: spec.now,
            updated_at: spec.now,
        })
        .await
        .unwrap();
    let code = castellan_crypto::generate_secret().into_exposed();
    let family = new_id("f");
    app.store
        .insert_code(&AuthorizationCode {
            hash: hash_secret(&code).0,
            client_id: spec.client_id.clone(),
            redirect_uri: spec.redirect_uri.clone(),
            code_challenge: spec.challenge.clone(),
            user_id: spec.user_id.clone(),
            organization_id: spec.organization_id.clone(),
            scope: spec.scope.clone(),
            nonce: spec.nonce.clone(),
            resources: spec
                .resource
                .clone()
                .and_then(|r| castellan_core::resource::Audience::from_text(&r)),
            auth_time: spec.auth_time,
            amr: castellan_core::authn::Amr::PASSWORD,
            session_id: None,
            consent_id: consent.id,
            family_id: family.clone(),
            created_at: spec.now,
            expires_at: spec.now + spec.lifetime,
            dpop_jkt: spec.dpop_jkt.clone(),
        })
        .await
        .unwrap();
    (code, family)
}

/// POSTs a form to the token endpoint with the client's credentials in the body.
pub async fn token(app: &TestApp, client: &Cred, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut body: Vec<(&str, &str)> = vec![
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
    ];
    if client.secret.is_empty() {
        body.pop();
    }
    body.extend_from_slice(form);
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&body)
        .send()
        .await
        .unwrap();
    let s = res.status();
    if s == StatusCode::OK {
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
    (s, res.json().await.unwrap_or(Value::Null))
}

/// The standard exchange of `code` with the right redirect URI and verifier.
pub async fn exchange(app: &TestApp, client: &Cred, code: &str) -> (StatusCode, Value) {
    token(
        app,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

/// The refresh grant with `rt`, optionally narrowed to `scope`.
pub async fn refresh(
    app: &TestApp,
    client: &Cred,
    rt: &str,
    scope: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    token(app, client, &form).await
}

/// Whether the access token introspects active (asked by the bootstrap admin client).
pub async fn is_active(app: &TestApp, access_token: &str) -> bool {
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&app.admin_id, Some(&app.admin_secret))
        .form(&[("token", access_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["active"].as_bool().unwrap()
}

/// Revocation with a form body with client_id, client_secret and token.
pub async fn revoke(app: &TestApp, client: &Cred, token: &str) -> StatusCode {
    app.http
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret.as_str()),
            ("token", token),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

/// Verifies an ID token against the server's JWKS; answers its header algorithm and claims.
pub async fn verify_id_token(app: &TestApp, id_token: &str) -> (String, Value) {
    let keys = app.jwks().await;
    let v = jws::verify(id_token, Some("JWT"), |kid| {
        keys.iter().find(|k| k.kid() == kid)
    })
    .expect("the id_token verifies against the JWKS");
    (v.header.alg.clone(), Value::Object(v.claims))
}

/// A client, a user who is a member of one organization, and that organization: what
/// [`Grant::spec`] describes a code of.
pub struct Grant {
    /// The client, allowed the authorization-code grant.
    pub client: Cred,
    /// The person.
    pub user: User,
    /// The id of their organization, where they are a manager.
    pub org: String,
}

/// A new [`Grant`]: a [`code_client`], a user without a usable password, and an organization they
/// manage.
pub async fn setup(app: &TestApp) -> Grant {
    let client = code_client(app, json!({})).await;
    let user = user(
        app,
        &format!("{}@example.com", new_id("p").to_lowercase()),
        None,
    )
    .await;
    let org = org(app, "Acme").await;
    member(app, &org, &user.id, Role::Manager).await;
    Grant { client, user, org }
}

impl Grant {
    /// The [`CodeSpec`] of a code for `scope` in this grant's organization.
    pub fn spec(&self, scope: &str) -> CodeSpec {
        CodeSpec::new(&self.client, &self.user, Some(&self.org), scope)
    }
}
