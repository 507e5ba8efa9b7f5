//! Every type that holds a secret, a code, a password or a token formats with `{:?}` without
//! it (house rule: no secret in logs or errors): each is filled with values marked `SECRET`
//! and its `Debug` must not contain the mark.

use crate::management::clients::{build_client, ClientDraft};
use crate::management::http::api_keys::ApiKeyRepresentation;
use crate::management::http::clients::ClientRepresentation;
use crate::oauth::http::consent::DecisionForm;
use crate::oauth::params::OAuthParams;
use crate::oauth::token::IssuedTokens;
use crate::people::http::account::{LogoutForm, RevokeForm};
use crate::people::http::login::LoginForm;
use crate::people::http::session::{Browser, SignedIn};
use crate::platform::config::{Config, DatabaseUrl};
use castellan_core::user::User;
use castellan_store::people::Session;
use serde_json::json;

const MARK: &str = "SECRET";

fn hidden(what: &str, shown: String) {
    assert!(!shown.contains(MARK), "{what} shows a secret: {shown}");
}

#[test]
fn oauth_params_show_no_secret_code_password_or_token() {
    let params = OAuthParams::parse_form(
        b"grant_type=password&client_id=c1&username=SECRETuser&password=SECRETpw\
          &client_secret=SECRETcs&code=SECRETcode&code_verifier=SECRETverifier\
          &refresh_token=SECRETrt&token=SECRETtok&client_assertion=SECRETjwt&state=SECRETst",
    )
    .unwrap();
    let shown = format!("{params:?}");
    hidden("OAuthParams", shown.clone());
    // What helps debugging is still there.
    assert!(shown.contains("grant_type") && shown.contains("password") && shown.contains("c1"));
}

#[test]
fn page_forms_show_no_password_or_csrf_token() {
    let login: LoginForm = serde_json::from_value(json!({
        "csrf": "SECRETcsrf", "email": "a@example.com", "password": "SECRETpw", "request": "x"
    }))
    .unwrap();
    hidden("LoginForm", format!("{login:?}"));
    let revoke: RevokeForm =
        serde_json::from_value(json!({"csrf": "SECRETcsrf", "consent": "c"})).unwrap();
    hidden("RevokeForm", format!("{revoke:?}"));
    let logout: LogoutForm = serde_json::from_value(json!({"csrf": "SECRETcsrf"})).unwrap();
    hidden("LogoutForm", format!("{logout:?}"));
    let decision: DecisionForm =
        serde_json::from_value(json!({"csrf": "SECRETcsrf", "decision": "allow"})).unwrap();
    hidden("DecisionForm", format!("{decision:?}"));
}

#[test]
fn browser_state_shows_no_session_cookie_or_csrf_token() {
    let now = chrono::Utc::now();
    let browser = Browser {
        signed_in: Some(SignedIn {
            session: Session {
                hash: [7; 32],
                id: "ses_1".into(),
                user_id: "usr_1".into(),
                auth_time: now,
                amr: castellan_core::authn::Amr::PASSWORD,
                expires_at: now,
                device: String::new(),
                address: String::new(),
            },
            user: User {
                id: "usr_1".into(),
                email: "a@example.com".into(),
                name: "A".into(),
                password_hash: "$argon2id$SECREThash".into(),
                created_at: now,
                is_admin: false,
                disabled_at: None,
                email_verified_at: None,
            },
            cookie: "SECRETsessioncookie".into(),
        }),
        csrf_cookie: Some("SECRETcsrfcookie".into()),
    };
    hidden("Browser", format!("{browser:?}"));
}

#[test]
fn answers_show_no_token_client_secret_or_api_key() {
    let tokens = IssuedTokens {
        access_token: "SECRETaccess".into(),
        token_type: "bearer",
        expires_in: 1,
        scope: "s".into(),
        created_at: 0,
        refresh_token: Some("SECRETrefresh".into()),
        id_token: Some("SECRETid".into()),
        organization_id: None,
        user_id: None,
        issued_token_type: None,
    };
    hidden("IssuedTokens", format!("{tokens:?}"));

    let config = Config::default();
    let draft = ClientDraft {
        name: "c".into(),
        ..ClientDraft::default()
    };
    let (client, _) = build_client(draft, &config, chrono::Utc::now()).unwrap();
    let rep = ClientRepresentation::new(
        &client,
        Some("SECRETclientsecret".into()),
        chrono::Utc::now(),
    );
    hidden("ClientRepresentation", format!("{rep:?}"));

    let now = chrono::Utc::now();
    let key = castellan_store::api_keys::ApiKey {
        id: "key_1".into(),
        hash: [1; 32],
        visible_prefix: "ck_test".into(),
        last_four: "abcd".into(),
        name: "k".into(),
        scope: "s".into(),
        organization_id: None,
        tier: "default".into(),
        created_at: now,
        created_by: "usr_1".into(),
        last_used_at: None,
        expires_at: None,
        status: castellan_store::api_keys::ApiKeyStatus::Active,
        rotated_from: None,
    };
    let rep = ApiKeyRepresentation::new(&key, Some("ck_test_SECRETbody_1234".into()), now);
    hidden("ApiKeyRepresentation", format!("{rep:?}"));
}

#[test]
fn the_database_url_shows_no_password() {
    let config = Config {
        database: DatabaseUrl::from("postgres://app:SECRETpw@db.example/castellan"),
        ..Config::default()
    };
    let shown = format!("{config:?}");
    hidden("Config", shown.clone());
    assert!(shown.contains("db.example/castellan"), "{shown}");
}
