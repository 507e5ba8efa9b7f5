//! Hostile and broken input at every endpoint that takes some: each is a 4xx with
//! the right error code, changes nothing, and is never a 5xx.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use castellan_testkit::TestApp;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const OAUTH: [&str; 3] = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"];

struct Answer {
    status: StatusCode,
    body: Value,
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    auth: Option<HeaderValue>,
    body: Vec<u8>,
) -> Answer {
    let mut req = app.http.request(method, app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    if let Some(a) = auth {
        req = req.header(AUTHORIZATION, a);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let bytes = res.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert!(
        status.as_u16() < 500,
        "{path} answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    Answer { status, body }
}

fn basic(app: &TestApp) -> HeaderValue {
    let enc = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", app.admin_id, app.admin_secret));
    HeaderValue::from_str(&format!("Basic {enc}")).unwrap()
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

async fn client_count(app: &TestApp) -> usize {
    let q = castellan_core::query::ClientQuery {
        limit: 500,
        ..Default::default()
    };
    app.store.query_clients(&q).await.unwrap().results.len()
}

/// Asserts an OAuth error answer.
fn oauth_error(a: &Answer, status: StatusCode, code: &str, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.body);
    assert_eq!(a.body["error"], code, "{what}: {}", a.body);
}

/// Asserts a management-API error answer.
fn api_error(a: &Answer, status: StatusCode, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.body);
    assert_eq!(a.body["statusCode"], status.as_u16(), "{what}: {}", a.body);
    assert!(
        a.body["errors"][0]["code"].is_string(),
        "{what}: {}",
        a.body
    );
}

#[tokio::test]
async fn broken_bodies_at_the_oauth_endpoints() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let count = client_count(&app).await;
    let json_ct = Some("application/json");
    let form_ct = Some("application/x-www-form-urlencoded");
    let big = {
        let mut b = b"grant_type=client_credentials&x=".to_vec();
        b.resize(1_100_000, b'a');
        b
    };
    let cases: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        (
            "truncated JSON",
            json_ct,
            br#"{"grant_type":"client_credentials","token":"#.to_vec(),
        ),
        ("JSON array", json_ct, br#"["grant_type"]"#.to_vec()),
        ("JSON string", json_ct, br#""client_credentials""#.to_vec()),
        ("nested JSON", json_ct, br#"{"token":{"a":1}}"#.to_vec()),
        ("JSON trailing", json_ct, br#"{"token":"x"} {"#.to_vec()),
        (
            "repeated JSON key",
            json_ct,
            br#"{"token":"x","token":"y","grant_type":"client_credentials"}"#.to_vec(),
        ),
        ("deep JSON", json_ct, "[".repeat(10_000).into_bytes()),
        (
            "invalid UTF-8 JSON",
            json_ct,
            b"{\"token\":\"\xff\xfe\"}".to_vec(),
        ),
        (
            "invalid UTF-8 form",
            form_ct,
            b"grant_type=client_credentials&token=\xff\xfe".to_vec(),
        ),
        (
            "percent-encoded invalid UTF-8",
            form_ct,
            b"grant_type=client_credentials&token=%ff%fe".to_vec(),
        ),
        (
            "repeated form parameter",
            form_ct,
            b"grant_type=client_credentials&token=a&token=b".to_vec(),
        ),
        ("over a megabyte", form_ct, big),
        (
            "wrong content type",
            Some("text/plain"),
            b"grant_type=client_credentials&token=x".to_vec(),
        ),
        (
            "multipart",
            Some("multipart/form-data; boundary=x"),
            b"--x--".to_vec(),
        ),
        (
            "no content type",
            None,
            b"grant_type=client_credentials&token=x".to_vec(),
        ),
        (
            "near-miss content type",
            Some("application/jsonx"),
            b"{\"token\":\"x\"}".to_vec(),
        ),
    ];
    for path in OAUTH {
        for (what, ct, body) in &cases {
            // Valid client credentials, so only the body is wrong.
            let a = send(
                &app,
                Method::POST,
                path,
                *ct,
                Some(basic(&app)),
                body.clone(),
            )
            .await;
            oauth_error(
                &a,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("{path} {what}"),
            );
        }
    }
    // Nothing was revoked by any of it: the admin token still works.
    let a = send(
        &app,
        Method::GET,
        "/api-clients",
        None,
        Some(bearer(&admin)),
        vec![],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(client_count(&app).await, count);
}

#[tokio::test]
async fn broken_bodies_at_the_management_api() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let count = client_count(&app).await;
    let json_ct = Some("application/json");
    let mut big = br#"{"name":"x","scope":"a:read","pad":""#.to_vec();
    big.resize(1_100_000, b'a');
    big.extend_from_slice(b"\"}");
    let cases: Vec<(&str, Option<&str>, Vec<u8>, StatusCode)> = vec![
        (
            "truncated JSON",
            json_ct,
            br#"{"name":"x","scope":"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not an object",
            json_ct,
            b"[1,2]".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "deep JSON",
            json_ct,
            "[".repeat(10_000).into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid UTF-8",
            json_ct,
            b"{\"name\":\"\xff\",\"scope\":\"a:read\"}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        ("empty", json_ct, vec![], StatusCode::BAD_REQUEST),
        (
            "over a megabyte",
            json_ct,
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "form body",
            Some("application/x-www-form-urlencoded"),
            b"name=x&scope=a:read".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "text",
            Some("text/plain"),
            br#"{"name":"x","scope":"a:read"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "no content type",
            None,
            br#"{"name":"x","scope":"a:read"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "huge number",
            json_ct,
            br#"{"name":"x","scope":"a:read","accessTokenValiditySeconds":99999999999999999999}"#
                .to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "negative number",
            json_ct,
            br#"{"name":"x","scope":"a:read","deleteDaysAfterCreation":-1}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "name of a megabyte-ish",
            json_ct,
            format!(r#"{{"name":"{}","scope":"a:read"}}"#, "n".repeat(60_000)).into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, ct, body, want) in cases {
        let a = send(
            &app,
            Method::POST,
            "/api-clients",
            ct,
            Some(bearer(&admin)),
            body,
        )
        .await;
        api_error(&a, want, what);
    }
    assert_eq!(client_count(&app).await, count);
}

#[tokio::test]
async fn absurd_paging_and_predicates() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    // The longest URI the HTTP stack carries is 64 KB; a 100 KB one is tested below.
    let long_where = format!(r#"name = "{}""#, "x".repeat(60 * 1024));
    let nested = format!("{}name = \"x\"{}", "(".repeat(5000), ")".repeat(5000));
    let nested_not = format!("{}name = \"x\"{}", "not (".repeat(500), ")".repeat(500));
    let many_in = format!(
        "id in ({})",
        (0..5000)
            .map(|i| format!("\"{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let queries = vec![
        "limit=99999999999999999999".to_owned(),
        "offset=99999999999999999999".to_owned(),
        "offset=-5".to_owned(),
        "limit=1e3".to_owned(),
        "limit=%00".to_owned(),
        "limit=".to_owned(),
        format!("where={}", enc(&long_where)),
        format!("where={}", enc(&nested)),
        format!("where={}", enc(&nested_not)),
        format!("where={}", enc(&many_in)),
        format!("where={}", enc("name = \"unterminated")),
        format!("where={}", enc("name = \"\\")),
        "where=%FF%FE".to_owned(),
        format!("sort={}", enc(&"name ".repeat(10_000))),
        (0..11)
            .map(|_| "where=name%20%3D%20%22x%22")
            .collect::<Vec<_>>()
            .join("&"),
        (0..6).map(|_| "sort=name").collect::<Vec<_>>().join("&"),
    ];
    for q in queries {
        for method in [Method::GET, Method::HEAD] {
            let a = send(
                &app,
                method.clone(),
                &format!("/api-clients?{q}"),
                None,
                Some(bearer(&admin)),
                vec![],
            )
            .await;
            let shown: String = q.chars().take(60).collect();
            assert_eq!(
                a.status,
                StatusCode::BAD_REQUEST,
                "{method} {shown}: {}",
                a.body
            );
            if method == Method::GET {
                assert_eq!(a.body["errors"][0]["code"], "InvalidInput", "{shown}");
            }
        }
    }
}

#[tokio::test]
async fn a_where_of_100_kb_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let where_ = format!("name%20%3D%20%22{}%22", "x".repeat(100 * 1024));
    let req = format!(
        "GET /api-clients?where={where_} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {admin}\r\nConnection: close\r\n\r\n"
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The server may answer and close before reading everything.
    let _ = conn.write_all(req.as_bytes()).await;
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(
        (400..500).contains(&status),
        "{}",
        text.chars().take(300).collect::<String>()
    );
}

#[tokio::test]
async fn garbage_authorization_headers() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let count = client_count(&app).await;

    // A forged `alg: none` token and a tampered one, with the admin's real claims.
    let mut parts = admin.split('.');
    let (h, p, sig) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let alg_none = format!("{none_header}.{p}.");
    let kid_header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
    let none_with_kid = format!(
        "{}.{p}.{sig}",
        URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&json!({"alg": "none", "typ": "at+jwt", "kid": kid_header["kid"]}))
                .unwrap()
        )
    );
    let hs256 = format!(
        "{}.{p}.{sig}",
        URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid_header["kid"]}))
                .unwrap()
        )
    );
    claims["scope"] = json!("manage_api_clients view_api_clients manage_project");
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 1_000_000);
    let tampered = format!(
        "{h}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let bad_sig = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode([0u8; 64]));
    let no_sig = format!("{h}.{p}.");

    let mut values: Vec<(&str, HeaderValue)> = vec![
        (
            "non-ASCII",
            HeaderValue::from_bytes(b"Bearer \xff\xfe\xc3\xa9").unwrap(),
        ),
        (
            "non-ASCII Basic",
            HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap(),
        ),
        ("10 KB token", bearer(&"a".repeat(10 * 1024))),
        (
            "10 KB JWT-shaped",
            bearer(&format!(
                "{}.{}.{}",
                "a".repeat(4000),
                "b".repeat(4000),
                "c".repeat(2300)
            )),
        ),
        ("Bearer alone", HeaderValue::from_static("Bearer")),
        ("Bearer and space", HeaderValue::from_static("Bearer ")),
        ("no scheme", HeaderValue::from_str(&admin).unwrap()),
        (
            "other scheme",
            HeaderValue::from_str(&format!("Token {admin}")).unwrap(),
        ),
        ("alg none", bearer(&alg_none)),
        ("alg none with kid", bearer(&none_with_kid)),
        ("HS256 confusion", bearer(&hs256)),
        ("tampered payload", bearer(&tampered)),
        ("bad signature", bearer(&bad_sig)),
        ("no signature", bearer(&no_sig)),
        ("four parts", bearer(&format!("{admin}.x"))),
        ("Basic to a bearer API", basic(&app)),
    ];
    values.push(("empty", HeaderValue::from_static("")));
    let draft = br#"{"name":"intruder","scope":"manage_api_clients"}"#.to_vec();
    for (what, v) in &values {
        for (method, path, body) in [
            (Method::GET, "/api-clients", vec![]),
            (Method::POST, "/api-clients", draft.clone()),
            (
                Method::DELETE,
                &*format!("/api-clients/{}", app.admin_id),
                vec![],
            ),
        ] {
            let a = send(
                &app,
                method.clone(),
                path,
                Some("application/json"),
                Some(v.clone()),
                body,
            )
            .await;
            api_error(
                &a,
                StatusCode::UNAUTHORIZED,
                &format!("{method} {path} {what}"),
            );
        }
    }
    // Two Authorization headers.
    let res = app
        .http
        .get(app.url("/api-clients"))
        .header(AUTHORIZATION, bearer(&admin))
        .header(AUTHORIZATION, bearer(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(client_count(&app).await, count);

    // At the OAuth endpoints these are not client authentication.
    for path in OAUTH {
        for (what, v) in &values {
            let a = send(
                &app,
                Method::POST,
                path,
                Some("application/x-www-form-urlencoded"),
                Some(v.clone()),
                b"grant_type=client_credentials&token=x".to_vec(),
            )
            .await;
            if *what == "Basic to a bearer API" {
                assert!(a.status.is_success(), "{path} {what}: {}", a.body);
                continue;
            }
            oauth_error(
                &a,
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                &format!("{path} {what}"),
            );
        }
        let enc = base64::engine::general_purpose::STANDARD;
        for (what, raw) in [
            (
                "huge Basic",
                format!(
                    "Basic {}",
                    enc.encode(format!("{}:{}", app.admin_id, "s".repeat(10_000)))
                ),
            ),
            (
                "Basic without colon",
                format!("Basic {}", enc.encode("justanid")),
            ),
            (
                "Basic with empty id",
                format!("Basic {}", enc.encode(":secret")),
            ),
            ("Basic not base64", "Basic ***".to_owned()),
            (
                "Basic of invalid UTF-8",
                format!("Basic {}", enc.encode(b"\xff:\xfe")),
            ),
            (
                "Basic of bad escapes",
                format!("Basic {}", enc.encode("%ff:%fe")),
            ),
            ("Basic alone", "Basic".to_owned()),
        ] {
            let a = send(
                &app,
                Method::POST,
                path,
                Some("application/x-www-form-urlencoded"),
                Some(HeaderValue::from_str(&raw).unwrap()),
                b"grant_type=client_credentials&token=x".to_vec(),
            )
            .await;
            oauth_error(
                &a,
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                &format!("{path} {what}"),
            );
        }
    }

    // Forged tokens presented for introspection are inactive.
    for t in [
        &alg_none,
        &none_with_kid,
        &hs256,
        &tampered,
        &bad_sig,
        &no_sig,
    ] {
        let res = app
            .http
            .post(app.url("/oauth/introspect"))
            .basic_auth(&app.admin_id, Some(&app.admin_secret))
            .form(&[("token", t.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v, json!({"active": false}), "{t}");
    }
    // A 10 KB token to introspect.
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&app.admin_id, Some(&app.admin_secret))
        .form(&[("token", "x.y.".repeat(2500))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"active": false}));
    assert_eq!(client_count(&app).await, count);
}

#[tokio::test]
async fn odd_methods_and_paths() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for (method, path) in [
        (Method::GET, "/oauth/introspect"),
        (Method::PUT, "/oauth/token"),
        (Method::DELETE, "/oauth/revoke"),
        (Method::PATCH, "/api-clients"),
    ] {
        let a = send(
            &app,
            method.clone(),
            path,
            None,
            Some(bearer(&admin)),
            vec![],
        )
        .await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    let long_id = "x".repeat(5000);
    for path in [
        format!("/api-clients/{long_id}"),
        "/api-clients/%FF%FE".to_owned(),
        "/api-clients/..%2F..%2Fetc".to_owned(),
        "/api-clients/%00".to_owned(),
    ] {
        let a = send(&app, Method::GET, &path, None, Some(bearer(&admin)), vec![]).await;
        assert!(a.status.is_client_error(), "{path}: {}", a.status);
        let a = send(
            &app,
            Method::DELETE,
            &path,
            None,
            Some(bearer(&admin)),
            vec![],
        )
        .await;
        assert!(a.status.is_client_error(), "{path}: {}", a.status);
    }
}

#[tokio::test]
async fn nul_and_control_characters_never_reach_storage_as_a_failure() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let count = client_count(&app).await;
    for q in [
        "where=name%20%3D%20%22%00%22",
        "where=id%20in%20(%22a%00b%22)",
        "where=createdAt%20%3E%20%22%00%22",
    ] {
        for method in [Method::GET, Method::HEAD] {
            let a = send(
                &app,
                method.clone(),
                &format!("/api-clients?{q}"),
                None,
                Some(bearer(&admin)),
                vec![],
            )
            .await;
            assert!(
                a.status == StatusCode::OK
                    || a.status == StatusCode::NOT_FOUND
                    || a.status == StatusCode::BAD_REQUEST,
                "{method} {q}: {}",
                a.status
            );
            if method == Method::GET && a.status == StatusCode::OK {
                assert_eq!(a.body["count"], 0);
            }
        }
    }
    for draft in [
        json!({"name": "x", "scope": "a:read\u{0}"}),
        json!({"name": "x\u{0}", "scope": "a:read"}),
        json!({"name": "x", "scope": "a:read", "redirectUris": ["https://a.example/\u{0}"]}),
        json!({"name": "x", "scope": "a:read", "defaultScope": "a:read\u{0}"}),
        json!({"name": "x", "scope": "a:read", "grantTypes": ["client_credentials\u{0}"]}),
    ] {
        let a = send(
            &app,
            Method::POST,
            "/api-clients",
            Some("application/json"),
            Some(bearer(&admin)),
            serde_json::to_vec(&draft).unwrap(),
        )
        .await;
        api_error(&a, StatusCode::BAD_REQUEST, &draft.to_string());
    }
    assert_eq!(client_count(&app).await, count);
    for path in OAUTH {
        for body in [
            "grant_type=client_credentials&token=a%00b&scope=a%00",
            "grant_type=client_credentials%00&token=ot_loc_%00",
            "grant_type=client_credentials&client_id=%00&client_secret=%00&token=x",
        ] {
            let a = send(
                &app,
                Method::POST,
                path,
                Some("application/x-www-form-urlencoded"),
                body.contains("client_id")
                    .then(|| HeaderValue::from_static("x"))
                    .or(Some(basic(&app))),
                body.as_bytes().to_vec(),
            )
            .await;
            assert!(
                a.status.is_client_error() || a.status.is_success(),
                "{path} {body}: {}",
                a.status
            );
        }
    }
}

/// A small deterministic generator, so a failure reproduces.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[tokio::test]
#[expect(
    clippy::cast_possible_truncation,
    reason = "random values are reduced to a byte or below a slice's length first"
)]
async fn random_bodies_never_cause_a_server_error() {
    let app = TestApp::spawn().await;
    let count = client_count(&app).await;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let alphabet: &[u8] = b"=&%{}[]\":,grant_type=client_credentialsclient_idtoken\xff\x00 +\\";
    let content_types = [
        Some("application/x-www-form-urlencoded"),
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("text/plain"),
        None,
    ];
    for i in 0..400 {
        let len = (rng.next() % 300) as usize;
        let body: Vec<u8> = (0..len)
            .map(|_| {
                if rng.next() % 2 == 0 {
                    alphabet[(rng.next() % alphabet.len() as u64) as usize]
                } else {
                    (rng.next() & 0xff) as u8
                }
            })
            .collect();
        let ct = content_types[(rng.next() % content_types.len() as u64) as usize];
        let path = OAUTH[i % OAUTH.len()];
        let auth = (i % 3 == 0).then(|| basic(&app));
        let a = send(&app, Method::POST, path, ct, auth, body.clone()).await;
        assert!(a.status.as_u16() < 500, "{path} {body:?}");
        if !a.status.is_success() {
            assert!(a.body["error"].is_string(), "{path} {body:?}: {}", a.body);
        }
    }
    assert_eq!(client_count(&app).await, count);
}

#[tokio::test]
async fn random_json_objects_never_cause_a_server_error() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let value = prop_oneof![
        any::<String>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        prop::collection::vec(any::<String>().prop_map(Value::from), 0..3).prop_map(Value::from),
    ];
    let key = prop_oneof![
        Just("name".to_owned()),
        Just("scope".to_owned()),
        Just("grant_type".to_owned()),
        Just("client_id".to_owned()),
        Just("token".to_owned()),
        Just("accessTokenValiditySeconds".to_owned()),
        Just("clientKind".to_owned()),
        Just("redirectUris".to_owned()),
        "[a-zA-Z_]{1,12}",
    ];
    let strategy = prop::collection::vec((key, value), 0..6);
    let http = app.http.clone();
    let base = app.base.clone();
    let admin_id = app.admin_id.clone();
    let admin_secret = app.admin_secret.clone();
    tokio::task::spawn_blocking(move || {
        runner
            .run(&strategy, |pairs| {
                let obj: serde_json::Map<String, Value> = pairs.into_iter().collect();
                let body = Value::Object(obj);
                for path in [
                    "/oauth/token",
                    "/oauth/introspect",
                    "/oauth/revoke",
                    "/api-clients",
                ] {
                    let mut req = http.post(format!("{base}{path}")).json(&body);
                    req = if path == "/api-clients" {
                        req.bearer_auth(&admin)
                    } else {
                        req.basic_auth(&admin_id, Some(&admin_secret))
                    };
                    let status = handle.block_on(async { req.send().await.unwrap().status() });
                    prop_assert!(status.as_u16() < 500, "{} {} → {}", path, body, status);
                }
                Ok(())
            })
            .unwrap();
    })
    .await
    .unwrap();
}

/// "Bad input never gets a 5xx": NUL and other control characters in API-key names, ids,
/// organization ids and list filters are 400 (PostgreSQL refuses NUL in text, which answered
/// 503), on both backends; nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_and_control_characters_in_api_key_fields_are_400() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let json_ct = Some("application/json");
    for bad in ["%00", "a%00b", "%1b%5b31m", "%07", "x%7f", "%c2%85"] {
        for path in [
            format!("/api-keys/key_{bad}"),
            format!("/api-keys?organizationId={bad}"),
            format!("/api-keys?createdBy=u{bad}"),
        ] {
            let a = send(&app, Method::GET, &path, None, Some(bearer(&token)), vec![]).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {}", a.body);
        }
        for action in ["disable", "enable", "revoke", "rotate"] {
            let path = format!("/api-keys/key{bad}/{action}");
            let a = send(
                &app,
                Method::POST,
                &path,
                json_ct,
                Some(bearer(&token)),
                b"{}".to_vec(),
            )
            .await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {}", a.body);
        }
        let path = format!("/organizations/o{bad}/members/u1");
        let a = send(
            &app,
            Method::DELETE,
            &path,
            None,
            Some(bearer(&token)),
            vec![],
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {}", a.body);
    }
    for bad in [
        "\u{0}",
        "a\u{0}b",
        "\u{1b}[31mred",
        "tab\there",
        "x\u{7f}",
        "\u{85}",
    ] {
        for body in [
            json!({"name": bad, "scope": "manage_api_keys"}),
            json!({"name": "ok", "scope": "manage_api_keys", "organizationId": bad}),
        ] {
            let a = send(
                &app,
                Method::POST,
                "/api-keys",
                json_ct,
                Some(bearer(&token)),
                serde_json::to_vec(&body).unwrap(),
            )
            .await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {}", a.body);
        }
    }
    let a = send(
        &app,
        Method::GET,
        "/api-keys",
        None,
        Some(bearer(&token)),
        vec![],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["total"], 0, "nothing was stored");
}
