//! Client secret rotation over HTTP (`POST /api-clients/{id}/rotate-secret`): the new secret is
//! answered once (`no-store`), the previous one works until its overlap ends (the configured
//! one, the asked one, or none at all), only the last two secrets ever work, and every refused
//! rotation (no secret, registered client, bad overlap, unknown client, wrong scope) changes
//! nothing.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use castellan_crypto::Clock;
use castellan_testkit::{Cred, ManualClock, TestApp};
use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// A confidential client allowed `client_credentials`.
async fn confidential(app: &TestApp) -> Cred {
    app.new_client(json!({"name": "job", "scope": "products:read"}))
        .await
}

/// `POST` `body` (JSON text) to `path` with `bearer`: the status, the headers and the body.
async fn post(
    app: &TestApp,
    path: &str,
    bearer: &str,
    body: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let res = app
        .http
        .post(app.url(path))
        .bearer_auth(bearer)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

async fn rotate(app: &TestApp, id: &str, body: &str) -> (StatusCode, Value) {
    let admin = app.admin_token().await;
    let (status, _, body) = post(
        app,
        &format!("/api-clients/{id}/rotate-secret"),
        &admin,
        body,
    )
    .await;
    (status, body)
}

/// The status of a `client_credentials` request with this id and secret.
async fn authenticates(app: &TestApp, id: &str, secret: &str) -> bool {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    match res.status() {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("unexpected {other}"),
    }
}

fn at(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_rotation_answers_the_new_secret_once_and_the_old_one_works_for_the_overlap() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = TestApp::spawn_full(
        |c| c.clients.secret_overlap_seconds = 3600,
        Arc::<ManualClock>::clone(&clock),
    )
    .await;
    let c = confidential(&app).await;
    let admin = app.admin_token().await;
    let (status, headers, body) = post(
        &app,
        &format!("/api-clients/{}/rotate-secret", c.id),
        &admin,
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let new = body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, c.secret);
    assert_eq!(body["id"], c.id.as_str());
    let until = at(&body["previousSecretExpiresAt"]);
    assert_eq!((until - clock.now()).num_seconds(), 3600);

    // Both work during the overlap; the client as read shows the overlap, never a secret.
    assert!(authenticates(&app, &c.id, &new).await);
    assert!(authenticates(&app, &c.id, &c.secret).await);
    let read = app
        .http
        .get(app.url(&format!("/api-clients/{}", c.id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(read.get("secret").is_none(), "{read}");
    assert_eq!(at(&read["previousSecretExpiresAt"]), until);

    // After the overlap, only the new one, and the client no longer shows an overlap.
    clock.advance(Duration::seconds(3601));
    assert!(!authenticates(&app, &c.id, &c.secret).await);
    assert!(authenticates(&app, &c.id, &new).await);
    let admin = app.admin_token().await;
    let read = app
        .http
        .get(app.url(&format!("/api-clients/{}", c.id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(read.get("previousSecretExpiresAt").is_none(), "{read}");
}

#[tokio::test]
async fn an_overlap_of_zero_ends_the_old_secret_at_once_and_only_the_last_two_ever_work() {
    let app = TestApp::spawn().await;
    let c = confidential(&app).await;
    let (status, body) = rotate(&app, &c.id, r#"{"overlapSeconds": 0}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("previousSecretExpiresAt").is_none(), "{body}");
    let second = body["secret"].as_str().unwrap().to_owned();
    assert!(!authenticates(&app, &c.id, &c.secret).await);
    assert!(authenticates(&app, &c.id, &second).await);

    // Rotating twice within an overlap: the first secret ends, the second is the previous.
    let (_, body) = rotate(&app, &c.id, r#"{"overlapSeconds": 600}"#).await;
    let third = body["secret"].as_str().unwrap().to_owned();
    let (_, body) = rotate(&app, &c.id, "{}").await;
    let fourth = body["secret"].as_str().unwrap().to_owned();
    assert!(!authenticates(&app, &c.id, &second).await);
    assert!(authenticates(&app, &c.id, &third).await);
    assert!(authenticates(&app, &c.id, &fourth).await);
}

#[tokio::test]
async fn a_refused_rotation_changes_nothing() {
    let app = TestApp::spawn().await;
    let c = confidential(&app).await;
    let public = app
        .new_client(
            json!({"name": "spa", "scope": "products:read", "clientKind": "public",
            "grantTypes": ["authorization_code"], "redirectUris": ["https://app.example/cb"]}),
        )
        .await;
    let cases: Vec<(String, &str, StatusCode, &str)> = vec![
        (
            c.id.clone(),
            r#"{"overlapSeconds": 2592001}"#,
            StatusCode::BAD_REQUEST,
            "InvalidField",
        ),
        (
            c.id.clone(),
            r#"{"overlapSeconds": -1}"#,
            StatusCode::BAD_REQUEST,
            "InvalidInput",
        ),
        (
            c.id.clone(),
            r#"{"overlapSeconds": "60"}"#,
            StatusCode::BAD_REQUEST,
            "InvalidInput",
        ),
        (
            c.id.clone(),
            r#"{"overlap": 60}"#,
            StatusCode::BAD_REQUEST,
            "InvalidInput",
        ),
        (
            c.id.clone(),
            "not json",
            StatusCode::BAD_REQUEST,
            "InvalidInput",
        ),
        (
            public.id.clone(),
            "{}",
            StatusCode::BAD_REQUEST,
            "InvalidOperation",
        ),
        (
            "no-such-client".into(),
            "{}",
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
        ),
        (
            "x".repeat(5000),
            "{}",
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
        ),
    ];
    for (id, body, want, code) in cases {
        let (status, answer) = rotate(&app, &id, body).await;
        assert_eq!(status, want, "{body}: {answer}");
        assert_eq!(answer["errors"][0]["code"], code, "{body}: {answer}");
        assert!(answer.get("secret").is_none(), "{answer}");
    }
    // Not JSON at all.
    let admin = app.admin_token().await;
    let res = app
        .http
        .post(app.url(&format!("/api-clients/{}/rotate-secret", c.id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        authenticates(&app, &c.id, &c.secret).await,
        "nothing changed"
    );
}

#[tokio::test]
async fn only_a_client_manager_rotates_and_a_registered_clients_secret_is_its_registrants() {
    let app = TestApp::spawn().await;
    let c = confidential(&app).await;
    let path = format!("/api-clients/{}/rotate-secret", c.id);
    // A token that may only read clients, and one of an ordinary client.
    let viewer = app
        .client_token(json!({"name": "viewer", "scope": "view_api_clients"}))
        .await;
    let (status, _, body) = post(&app, &path, &viewer, "{}").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, _) = post(&app, &path, &app.token_of(&c).await, "{}").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(&app, &path, "not-a-token", "{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        authenticates(&app, &c.id, &c.secret).await,
        "nothing changed"
    );

    // A client registered through RFC 7591 rotates by registering again.
    let admin = app.admin_token().await;
    let registered: Value = app
        .http
        .post(app.url("/oauth/register"))
        .bearer_auth(&admin)
        .json(
            &json!({"client_name": "agent", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = registered["client_id"].as_str().unwrap();
    let (status, body) = rotate(&app, id, "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["code"], "InvalidOperation");
}

#[tokio::test]
async fn the_project_route_and_the_openapi_document_describe_the_rotation() {
    let app = TestApp::spawn().await;
    let c = confidential(&app).await;
    let admin = app.admin_token().await;
    let project = app.state.config.project_key.clone();
    let (status, _, body) = post(
        &app,
        &format!("/{project}/api-clients/{}/rotate-secret", c.id),
        &admin,
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["secret"].is_string());
    let (status, _, _) = post(
        &app,
        &format!("/other-project/api-clients/{}/rotate-secret", c.id),
        &admin,
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let doc = app.get_json("/openapi.json").await;
    let op = &doc["paths"]["/api-clients/{id}/rotate-secret"]["post"];
    assert!(op.is_object(), "{doc}");
    for code in ["200", "400", "404", "409"] {
        assert!(op["responses"][code].is_object(), "{code}: {op}");
    }
    assert!(doc["components"]["schemas"]["SecretRotation"].is_object());
}
