//! RFC 6749 §5.2: `error` and `error_description` hold only %x20-21 / %x23-5B / %x5D-7E,
//! whatever the request quoted. Hostile values (quotes, backslashes, non-ASCII, control
//! characters, very long values) are sent to every endpoint that echoes input in an error, and
//! every answer is checked: JSON bodies, `WWW-Authenticate` headers and the error parameters of
//! authorize redirects.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::pages::*;
use castellan_testkit::TestApp;
use reqwest::header::{LOCATION, WWW_AUTHENTICATE};
use serde_json::{json, Value};

/// Values a client might send that are not allowed in an error answer.
fn hostile() -> Vec<String> {
    vec![
        "say \"hi\" and \\ leave".to_owned(),
        "caf\u{e9} \u{65e5}\u{672c} \u{2026} \u{1f600}".to_owned(),
        "tab\tnewline\ncr\rdel\u{7f}nul\u{0}".to_owned(),
        format!("{}\"\\\u{e9}", "x".repeat(5000)),
        format!("products:read {}", "\u{e9}\"".repeat(300)),
        format!("{}end", "a".repeat(41)),
    ]
}

/// RFC 6749 §5.2, written out here rather than borrowed from the code under test.
fn is_error_char(c: char) -> bool {
    matches!(c, ' ' | '!' | '#'..='[' | ']'..='~')
}

fn check_text(what: &str, text: &str) {
    assert!(
        text.chars().all(is_error_char),
        "{what} holds a character RFC 6749 §5.2 does not allow: {text:?}"
    );
}

/// Checks every error field of an answer; answers how many it found.
async fn check(label: &str, res: reqwest::Response) -> usize {
    let mut found = 0;
    if let Some(v) = res.headers().get(WWW_AUTHENTICATE) {
        let v = v.to_str().expect("WWW-Authenticate is visible ASCII");
        if let Some((_, rest)) = v.split_once("error_description=\"") {
            let (d, _) = rest.split_once('"').unwrap();
            check_text(&format!("{label}: WWW-Authenticate error_description"), d);
        }
        if let Some((_, rest)) = v.split_once("error=\"") {
            let (e, _) = rest.split_once('"').unwrap();
            check_text(&format!("{label}: WWW-Authenticate error"), e);
            found += 1;
        }
    }
    if let Some(loc) = res.headers().get(LOCATION) {
        let loc = url::Url::parse(loc.to_str().unwrap()).unwrap();
        for (k, v) in loc.query_pairs() {
            if k == "error" || k == "error_description" {
                check_text(&format!("{label}: redirect {k}"), &v);
                found += 1;
            }
        }
    }
    let body: Value = res.json().await.unwrap_or(Value::Null);
    for k in ["error", "error_description"] {
        if let Some(v) = body.get(k) {
            check_text(&format!("{label}: body {k}"), v.as_str().unwrap());
            found += 1;
        }
    }
    found
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn token_endpoint_errors_hold_only_allowed_characters() {
    let app = TestApp::spawn().await;
    let http = client();
    let (id, secret) = (app.admin_id.as_str(), app.admin_secret.as_str());
    let mut errors = 0;
    for h in hostile() {
        let h = h.as_str();
        let forms: Vec<Vec<(&str, &str)>> = vec![
            vec![
                ("grant_type", h),
                ("client_id", id),
                ("client_secret", secret),
            ],
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("scope", h),
            ],
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("resource", h),
            ],
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", h),
                ("client_secret", secret),
            ],
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", id),
                ("client_secret", secret),
                ("code", h),
                ("redirect_uri", h),
            ],
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", id),
                ("client_secret", secret),
                ("refresh_token", h),
            ],
            vec![
                ("grant_type", "password"),
                ("client_id", id),
                ("client_secret", secret),
                ("username", h),
                ("password", h),
            ],
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                (h, "x"),
                (h, "y"),
            ],
        ];
        for form in forms {
            let res = http
                .post(app.url("/oauth/token"))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_client_error(), "{}", res.status());
            errors += check("token", res).await;
        }
        // Basic credentials that are not what they claim.
        let res = http
            .post(app.url("/oauth/token"))
            .basic_auth(h, Some(h))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        errors += check("token (basic)", res).await;
    }
    assert!(errors > 40, "every request was refused with an error");
}

#[tokio::test]
async fn introspection_revocation_userinfo_and_registration_errors_hold_only_allowed_characters() {
    let app = TestApp::spawn().await;
    let http = client();
    let (id, secret) = (app.admin_id.as_str(), app.admin_secret.as_str());
    let admin = app.admin_token().await;
    for h in hostile() {
        let h = h.as_str();
        for path in ["/oauth/introspect", "/oauth/revoke"] {
            let res = http
                .post(app.url(path))
                .form(&[
                    ("client_id", id),
                    ("client_secret", secret),
                    ("token", h),
                    ("token_type_hint", h),
                ])
                .send()
                .await
                .unwrap();
            check(path, res).await;
            let res = http
                .post(app.url(path))
                .form(&[("client_id", h), ("client_secret", h), ("token", h)])
                .send()
                .await
                .unwrap();
            check(path, res).await;
        }
        // Header values must be visible ASCII; quotes and backslashes are the hostile part.
        let ascii: String = h.chars().filter(char::is_ascii_graphic).collect();
        let res = http
            .get(app.url("/oauth/userinfo"))
            .header("authorization", format!("Bearer {ascii}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(check("userinfo", res).await > 0);
        let res = http
            .post(app.url("/oauth/register"))
            .bearer_auth(&admin)
            .json(&json!({
                "client_name": h,
                "redirect_uris": [h, format!("https://app.example/{h}")],
                "grant_types": [h],
                "scope": h,
                "token_endpoint_auth_method": h,
            }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());
        assert!(check("register", res).await > 0);
    }
}

#[tokio::test]
async fn authorize_redirect_errors_hold_only_allowed_characters() {
    let app = TestApp::spawn().await;
    let http = client();
    let client_id = public_client(&app).await;
    let (_, challenge) = pkce();
    let mut redirects = 0;
    for h in hostile() {
        let h = h.as_str();
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![("response_type", "code"), ("scope", h)],
            vec![("response_type", h), ("scope", "openid")],
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("prompt", h),
            ],
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge_method", h),
            ],
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("resource", h),
            ],
            vec![("response_type", "code"), ("scope", "openid"), (h, h)],
        ];
        for mut pairs in cases {
            pairs.extend([
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("state", h),
            ]);
            if !pairs.iter().any(|(k, _)| *k == "code_challenge_method") {
                pairs.push(("code_challenge_method", "S256"));
            }
            pairs.push(("code_challenge", challenge.as_str()));
            let res = http
                .get(app.url(&authorize_query(&pairs)))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let n = check("authorize", res).await;
            if status == 302 || status == 303 {
                redirects += usize::from(n > 0);
            }
        }
    }
    assert!(redirects > 10, "errors went back to the client");
}
