//! A relying party's back-channel logout endpoint for the tests (OpenID Connect Back-Channel
//! Logout 1.0): it records every `logout_token` posted to it; and the check of such a token
//! against the server's keys.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_testkit::TestApp;
use std::sync::{Arc, Mutex};

/// A relying party's back-channel logout endpoint: records every `logout_token` posted to it,
/// answering 500 to the first `fail_first` posts.
pub async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::extract::State;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let app = axum::Router::new()
        .route(
            "/backchannel",
            axum::routing::post(
                move |State(seen): State<Arc<Mutex<Vec<String>>>>, body: String| async move {
                    let token = form_urlencoded::parse(body.as_bytes())
                        .find(|(k, _)| k == "logout_token")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    let mut seen = seen.lock().unwrap();
                    seen.push(token);
                    if seen.len() <= fail_first {
                        http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        http::StatusCode::OK
                    }
                },
            ),
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{port}/backchannel"), seen)
}

/// Waits until `seen` holds `n` tokens (the server sends them in the background).
pub async fn wait_for(seen: &Arc<Mutex<Vec<String>>>, n: usize) -> Vec<String> {
    for _ in 0..150 {
        if seen.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = seen.lock().unwrap().clone();
    assert!(got.len() >= n, "{} logout token(s) of {n}", got.len());
    got
}

/// Verifies a logout token against the server's keys; answers its claims.
pub async fn logout_claims(app: &TestApp, token: &str) -> serde_json::Value {
    let keys = app.jwks().await;
    let v = castellan_crypto::jws::verify(token, Some("logout+jwt"), |kid| {
        keys.iter().find(|k| k.kid() == kid)
    })
    .expect("a logout token signed by the server, typed logout+jwt");
    serde_json::Value::Object(v.claims)
}
