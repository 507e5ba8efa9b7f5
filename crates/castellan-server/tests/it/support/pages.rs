//! Shared by the page tests: a cookie-keeping browser over reqwest (redirects off, forms read
//! and submitted by hand), people and organizations created through the store, PKCE pairs.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_core::user::{Membership, Organization, Role, User};
pub use castellan_testkit::pages::{page, unescape, Page};
use castellan_testkit::TestApp;
use serde_json::{json, Value};

pub const PASSWORD: &str = "correct horse battery";

/// A browser: keeps cookies, does not follow redirects, sends `Origin` like a real one.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    pub async fn get(&self, path_or_url: &str) -> Page {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{}", self.base, path_or_url)
        };
        page(self.http.get(url).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        page(
            self.http
                .post(format!("{}{}", self.base, path))
                .header("origin", &self.base)
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

/// A person with a password and memberships in new organizations named `orgs`; answers the
/// user id and the organization ids.
pub async fn add_person(app: &TestApp, email: &str, orgs: &[&str]) -> (String, Vec<String>) {
    let store = &app.store;
    let now = chrono::Utc::now();
    let id = format!("usr_{}", &uuidish());
    store
        .insert_user(&User {
            id: id.clone(),
            email: email.to_owned(),
            name: format!("Person {email}"),
            password_hash: castellan_server::people::passwords::hash_password(
                castellan_core::Secret::new(PASSWORD),
            )
            .await
            .unwrap(),
            created_at: now,
            is_admin: false,
            disabled_at: None,
            email_verified_at: None,
        })
        .await
        .unwrap();
    let mut org_ids = Vec::new();
    for name in orgs {
        let org_id = format!("org_{}", uuidish());
        store
            .insert_organization(&Organization {
                id: org_id.clone(),
                name: (*name).to_owned(),
                created_at: now,
            })
            .await
            .unwrap();
        store
            .upsert_membership(&Membership {
                organization_id: org_id.clone(),
                user_id: id.clone(),
                role: Role::Manager,
            })
            .await
            .unwrap();
        org_ids.push(org_id);
    }
    (id, org_ids)
}

fn uuidish() -> String {
    hex(&castellan_crypto::random_bytes::<8>())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A PKCE pair: (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(castellan_crypto::random_bytes::<32>());
    let challenge = URL_SAFE_NO_PAD.encode(castellan_crypto::hash_secret(&verifier).0);
    (verifier, challenge)
}

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const SCOPES: &str = "openid profile email offline_access products:read products:write";

/// A public client with PKCE, through the management API.
pub async fn public_client(app: &TestApp) -> String {
    let c = app
        .create_client(json!({
            "name": "Closient CLI",
            "scope": SCOPES,
            "clientKind": "public",
            "grantTypes": ["authorization_code", "refresh_token"],
            "redirectUris": [REDIRECT],
            "tokenEndpointAuthMethod": "none",
        }))
        .await;
    c["id"].as_str().unwrap().to_owned()
}

/// A confidential client; answers (id, secret).
pub async fn confidential_client(app: &TestApp, redirect_uris: &[&str]) -> (String, String) {
    let c: Value = app
        .create_client(json!({
            "name": "Close integration",
            "scope": SCOPES,
            "grantTypes": ["authorization_code", "refresh_token"],
            "redirectUris": redirect_uris,
            "tokenEndpointAuthMethod": "client_secret_post",
        }))
        .await;
    (
        c["id"].as_str().unwrap().to_owned(),
        c["secret"].as_str().unwrap().to_owned(),
    )
}

/// An authorize query string.
pub fn authorize_query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.extend_pairs(pairs.iter());
    format!("/oauth/authorize?{}", s.finish())
}

/// Signs in from the login page `login` (carrying the authorize request); answers the page
/// the browser is sent to afterwards (following the one redirect back to /oauth/authorize).
pub async fn sign_in(b: &Browser, login: &Page, email: &str, password: &str) -> Page {
    assert!(
        login.is_login_form(),
        "expected the login page: {}",
        login.body
    );
    let after = b
        .post(
            "/login",
            &[
                ("csrf", &login.hidden("csrf")),
                ("request", &login.hidden("request")),
                ("email", email),
                ("password", password),
            ],
        )
        .await;
    assert_eq!(after.status, 303, "sign-in failed: {}", after.body);
    let next = after.location.clone().unwrap();
    assert!(
        next.starts_with("/oauth/authorize?") || next == "/account",
        "{next}"
    );
    b.get(&next).await
}

/// Signs `email` in on the login page with the password alone, carrying no authorization
/// request (the browser goes to `/account`).
pub async fn sign_in_plain(b: &Browser, email: &str) {
    let login = b.get("/login").await;
    let after = b
        .post(
            "/login",
            &[
                ("csrf", &login.hidden("csrf")),
                ("request", ""),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(after.status, 303, "{}", after.body);
    assert_eq!(after.location.as_deref(), Some("/account"));
}

/// Submits the consent form.
pub async fn decide(b: &Browser, consent: &Page, decision: &str, org: Option<&str>) -> Page {
    assert!(
        consent.is_consent_form(),
        "expected the consent page: {}",
        consent.body
    );
    let csrf = consent.hidden("csrf");
    let request = consent.hidden("request");
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("request", request.as_str()),
        ("decision", decision),
    ];
    if let Some(o) = org {
        form.push(("organization", o));
    }
    b.post("/oauth/authorize/decision", &form).await
}

/// Exchanges a code as a public client (`code_verifier`, no secret); answers (status, body).
pub async fn exchange(app: &TestApp, client_id: &str, code: &str, verifier: &str) -> (u16, Value) {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}
