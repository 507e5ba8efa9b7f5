//! A real nginx in front of `/forward-auth`, configured with the snippet of
//! `docs/gateway.md` exactly as written there: allowed requests reach a small upstream with
//! the identity headers, refusals come back with Castellan's status, `WWW-Authenticate` and
//! JSON body, and a client cannot spoof the identity or the original request.
//!
//! Runs when `nginx` is installed (Debian `nginx-light`); with `CASTELLAN_TEST_NGINX=1` (set
//! by `.ci/run`) a missing nginx fails the test instead of skipping it.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use crate::support::gateway::route;
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use castellan_core::user::Role;
use castellan_limit::{PolicyConfig, Window};
use castellan_server::platform::config::Config;
use castellan_testkit::nginx::Nginx;
use castellan_testkit::TestApp;
use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::path::Path;

/// The ```nginx block of `docs/gateway.md`.
fn documented_snippet() -> String {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/gateway.md");
    let text = std::fs::read_to_string(&doc).expect("docs/gateway.md");
    let start = text.find("```nginx\n").expect("an ```nginx block") + "```nginx\n".len();
    let len = text[start..].find("```").expect("end of the block");
    text[start..start + len].to_owned()
}

/// Replaces `from` (which must occur exactly once) with `to`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "`{from}` once in the snippet"
    );
    text.replace(from, to)
}

/// nginx running the documented snippet, with Castellan at `castellan` and the API at
/// `upstream`.
fn start_nginx(binary: &Path, castellan: &str, upstream: &str) -> Nginx {
    let port = castellan_testkit::free_port();
    let snippet = documented_snippet();
    let snippet = replace_once(
        &snippet,
        "server castellan:8000;",
        &format!("server {castellan};"),
    );
    let snippet = replace_once(&snippet, "server api:8080;", &format!("server {upstream};"));
    let snippet = replace_once(&snippet, "listen 80;", &format!("listen 127.0.0.1:{port};"));
    Nginx::start(binary, &snippet, &[port])
}

/// The upstream API: answers every request with what it received (method, URI, headers).
async fn echo(method: Method, uri: Uri, headers: HeaderMap) -> Json<Value> {
    let headers: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::String(v.to_str().unwrap_or("").to_owned()),
            )
        })
        .collect();
    Json(json!({"method": method.as_str(), "uri": uri.to_string(), "headers": headers}))
}

async fn spawn_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(echo);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}

fn routes(c: &mut Config) {
    let mut search = route("GET", "/search");
    search.public = true;
    let mut read = route("GET", "/products/*");
    read.scope = Some("products:read".into());
    let mut write = route("POST", "/products/*");
    write.scope = Some("products:write".into());
    let mut settings = route("*", "/orgs/{org}/settings");
    settings.min_role = Some(Role::Manager);
    settings.organization_param = Some("org".into());
    c.gateway.routes = vec![search, read, write, settings];
    // Tier `one`: a single request a day, to see a used-up key through nginx.
    c.rate_limit.policies.insert(
        "one".into(),
        PolicyConfig {
            windows: vec![Window {
                limit: 1,
                seconds: 86_400,
            }],
        },
    );
    c.rate_limit.tiers.insert("one".into(), "one".into());
}

/// Castellan, the upstream and nginx in front of both.
struct Stack {
    app: TestApp,
    nginx: Nginx,
    http: reqwest::Client,
}

async fn stack() -> Option<Stack> {
    let binary = castellan_testkit::nginx::binary()?;
    let app = TestApp::spawn_with(routes).await;
    castellan_testkit::people::org_with_id(&app, "org-1").await;
    let upstream = spawn_upstream().await;
    let castellan = app.base.trim_start_matches("http://").to_owned();
    let nginx = start_nginx(&binary, &castellan, &upstream);
    Some(Stack {
        app,
        nginx,
        http: reqwest::Client::new(),
    })
}

impl Stack {
    /// An API key with `scope` (and `tier`), made through the management API.
    async fn key(&self, scope: &str, tier: Option<&str>) -> (String, String) {
        let c = self
            .app
            .create_client(json!({"name": "partner", "scope": format!("manage_api_keys {scope}")}))
            .await;
        let t = self
            .app
            .token_for(
                c["id"].as_str().unwrap(),
                c["secret"].as_str().unwrap(),
                None,
            )
            .await;
        let mut body = json!({"name": "k", "scope": scope, "organizationId": "org-1"});
        if let Some(tier) = tier {
            body["tier"] = json!(tier);
        }
        let res = self
            .app
            .http
            .post(self.app.url("/api-keys"))
            .bearer_auth(t)
            .json(&body)
            .send()
            .await
            .unwrap();
        let b: Value = res.json().await.unwrap();
        (
            b["key"].as_str().expect("key created").to_owned(),
            b["id"].as_str().unwrap().to_owned(),
        )
    }

    /// A user token in `org-1` for a user with `role` there.
    async fn user_token(&self, role: Role) -> String {
        let app = &self.app;
        castellan_testkit::people::u1_in_org_1(app, role).await;
        let c = app
            .create_client(json!({"name": "web", "scope": "products:read"}))
            .await;
        castellan_testkit::people::u1_token_in_org_1(app, c["id"].as_str().unwrap()).await
    }

    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = self.http.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            self.nginx.url(path),
        );
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{status}: not JSON: {text}\n{}", self.nginx.log()));
        Answer {
            status,
            headers,
            body,
        }
    }
}

impl Stack {
    /// Sends `GET {path}` to nginx as raw HTTP/1.1, the path exactly as written (an HTTP client
    /// library would resolve its dot segments first); answers the status and the body.
    async fn send_raw(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.nginx.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in headers {
            let _ = write!(request, "{k}: {v}\r\n");
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {answer}"));
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
        (status, body.unwrap_or_default())
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// The upstream's view of one header it received.
    fn upstream_header(&self, name: &str) -> Option<&str> {
        self.body["headers"][name].as_str()
    }

    fn www_authenticate(&self) -> Vec<&str> {
        self.headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    /// A Castellan refusal, passed through nginx with its body and challenge.
    fn assert_refused(&self, status: u16, reason: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["reason"], reason, "{self:?}");
        assert!(!self.body["message"].as_str().unwrap().is_empty());
        assert!(self.body.get("headers").is_none(), "reached the upstream");
        if status == 401 {
            let www = self.www_authenticate();
            assert_eq!(www.len(), 1, "one challenge: {www:?}");
            assert!(www[0].starts_with("Bearer"), "{www:?}");
            assert!(
                www[0].contains(
                    "resource_metadata=\"http://localhost:8000/.well-known/oauth-protected-resource\""
                ),
                "{www:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_requests_reach_the_upstream_with_the_identity_headers() {
    let Some(s) = stack().await else { return };
    let (key, key_id) = s.key("products:read", None).await;
    let a = s
        .send("GET", "/products/7?color=red", &[("X-API-Key", &key)])
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["method"], "GET");
    assert_eq!(a.body["uri"], "/products/7?color=red");
    assert_eq!(
        a.upstream_header("x-castellan-subject"),
        Some(key_id.as_str())
    );
    assert_eq!(
        a.upstream_header("x-castellan-client-id"),
        Some(key_id.as_str())
    );
    assert_eq!(a.upstream_header("x-castellan-organization"), Some("org-1"));
    assert_eq!(
        a.upstream_header("x-castellan-scopes"),
        Some("products:read")
    );
    assert_eq!(a.upstream_header("x-castellan-credential"), Some("api_key"));
    assert_eq!(a.upstream_header("x-castellan-role"), None);
    // The credential itself still reaches the API.
    assert_eq!(a.upstream_header("x-api-key"), Some(key.as_str()));

    // A user's token on a route needing a role: the role travels too.
    let t = s.user_token(Role::Manager).await;
    let auth = format!("Bearer {t}");
    let a = s
        .send("PUT", "/orgs/org-1/settings", &[("Authorization", &auth)])
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["method"], "PUT");
    assert_eq!(a.upstream_header("x-castellan-subject"), Some("u1"));
    assert_eq!(a.upstream_header("x-castellan-organization"), Some("org-1"));
    assert_eq!(a.upstream_header("x-castellan-role"), Some("MANAGER"));
    assert_eq!(a.upstream_header("x-castellan-credential"), Some("jwt"));
    assert_eq!(
        a.upstream_header("x-castellan-scopes"),
        Some("products:read")
    );
    // Another organization's settings: refused, and the body says why.
    s.send("PUT", "/orgs/org-2/settings", &[("Authorization", &auth)])
        .await
        .assert_refused(403, "wrong_organization");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_back_with_castellans_status_challenge_and_body() {
    let Some(s) = stack().await else { return };
    // No credential: 401, the challenge without `error`.
    let a = s.send("GET", "/products/7", &[]).await;
    a.assert_refused(401, "missing_credentials");
    assert!(!a.www_authenticate()[0].contains("error="), "{a:?}");
    // A malformed key: 401 invalid_token.
    for bad in ["csb_nope", "csb_a_b_c"] {
        let a = s.send("GET", "/products/7", &[("X-API-Key", bad)]).await;
        a.assert_refused(401, "malformed_api_key");
        assert!(a.www_authenticate()[0].contains("error=\"invalid_token\""));
    }
    // A valid key lacking the route's scope: 403 naming it, in the body and the challenge.
    let (key, _) = s.key("products:read", None).await;
    let a = s.send("POST", "/products/7", &[("X-API-Key", &key)]).await;
    a.assert_refused(403, "insufficient_scope");
    assert_eq!(a.body["needed_scope"], "products:write");
    let www = a.www_authenticate();
    assert_eq!(www.len(), 1, "{www:?}");
    assert!(
        www[0].contains("error=\"insufficient_scope\"")
            && www[0].contains("scope=\"products:write\""),
        "{www:?}"
    );
    // A role too low for the route.
    let t = s.user_token(Role::Viewer).await;
    let a = s
        .send(
            "GET",
            "/orgs/org-1/settings",
            &[("Authorization", &format!("Bearer {t}"))],
        )
        .await;
    a.assert_refused(403, "role_too_low");
    assert_eq!(a.body["needed_role"], "MANAGER");
    // No route policy: denied by default.
    s.send("DELETE", "/admin", &[("X-API-Key", &key)])
        .await
        .assert_refused(403, "no_route");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_key_is_429_not_nginxs_500() {
    let Some(s) = stack().await else { return };
    let (key, _) = s.key("products:read", Some("one")).await;
    // Refusals by route policy do not use up the key's single request.
    s.send("POST", "/products/7", &[("X-API-Key", &key)])
        .await
        .assert_refused(403, "insufficient_scope");
    let a = s.send("GET", "/products/7", &[("X-API-Key", &key)]).await;
    assert_eq!(a.status, 200, "{a:?}");
    let a = s.send("GET", "/products/7", &[("X-API-Key", &key)]).await;
    assert_eq!(a.status, 429, "{a:?}");
    assert_eq!(a.body["error"], "rate_limited");
    assert!(a.headers.contains_key("retry-after"), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_pass_anonymously_but_check_a_present_credential() {
    let Some(s) = stack().await else { return };
    let a = s.send("GET", "/search?q=milk", &[]).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["uri"], "/search?q=milk");
    assert_eq!(
        a.upstream_header("x-castellan-credential"),
        Some("anonymous")
    );
    assert_eq!(a.upstream_header("x-castellan-subject"), None);
    s.send("GET", "/search", &[("X-API-Key", "csb_bad")])
        .await
        .assert_refused(401, "malformed_api_key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_spoof_the_identity_or_the_original_request() {
    let Some(s) = stack().await else { return };
    let spoofed = [
        ("X-Castellan-Subject", "admin"),
        ("X-Castellan-Client-Id", "admin"),
        ("X-Castellan-Organization", "org-admin"),
        ("X-Castellan-Scopes", "admin"),
        ("X-Castellan-Role", "OWNER"),
        ("X-Castellan-Credential", "jwt"),
    ];
    // Anonymous on a public route: Castellan sends no subject, and nor does nginx.
    let a = s.send("GET", "/search", &spoofed).await;
    assert_eq!(a.status, 200, "{a:?}");
    for (name, _) in &spoofed[..5] {
        assert_eq!(
            a.upstream_header(&name.to_ascii_lowercase()),
            None,
            "{name}"
        );
    }
    assert_eq!(
        a.upstream_header("x-castellan-credential"),
        Some("anonymous")
    );
    // With a key: Castellan's values replace the client's.
    let (key, key_id) = s.key("products:read", None).await;
    let mut with_key = spoofed.to_vec();
    with_key.push(("X-API-Key", &key));
    let a = s.send("GET", "/products/1", &with_key).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        a.upstream_header("x-castellan-subject"),
        Some(key_id.as_str())
    );
    assert_eq!(a.upstream_header("x-castellan-organization"), Some("org-1"));
    assert_eq!(
        a.upstream_header("x-castellan-scopes"),
        Some("products:read")
    );
    assert_eq!(a.upstream_header("x-castellan-role"), None);
    assert_eq!(a.upstream_header("x-castellan-credential"), Some("api_key"));
    // Naming a public route as the "original request" does not open a protected one.
    for forged in [
        [
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/search"),
        ],
        [("X-Original-Method", "GET"), ("X-Original-URI", "/search")],
    ] {
        s.send("GET", "/products/1", &forged)
            .await
            .assert_refused(401, "missing_credentials");
        s.send("DELETE", "/admin", &forged)
            .await
            .assert_refused(403, "no_route");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_castellan_is_a_502_and_the_api_is_not_called() {
    let Some(Stack { app, nginx, http }) = stack().await else {
        return;
    };
    app.stop().await;
    let res = http.get(nginx.url("/search")).send().await.unwrap();
    assert_eq!(res.status(), 502);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("\"headers\""),
        "reached the upstream: {text}"
    );
}

/// Behind an nginx configured without the two empty `X-Forwarded-*` lines, Castellan still
/// refuses to choose between a client's pair and nginx's when they disagree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn castellan_refuses_two_original_requests_that_disagree() {
    let app = TestApp::spawn_with(routes).await;
    castellan_testkit::people::org_with_id(&app, "org-1").await;
    let ask = |forwarded: &'static str, original: &'static str| {
        app.http
            .get(app.url("/forward-auth"))
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", forwarded)
            .header("X-Original-Method", "GET")
            .header("X-Original-URI", original)
            .send()
    };
    let res = ask("/search", "/products/1").await.unwrap();
    assert_eq!(res.status(), 400);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["reason"], "no_original_request");
    assert_eq!(ask("/search", "/search").await.unwrap().status(), 200);
}

/// nginx forwards the raw `$request_uri`, and the API behind it may normalise the path: a
/// `products:read` key must not reach `/orgs/org-1/settings` (or anything outside
/// `/products/*`) through dot segments or escapes, nor an anonymous caller through `/search`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_that_climb_out_of_a_route_are_400_and_never_reach_the_api() {
    let Some(s) = stack().await else { return };
    let (key, _) = s.key("products:read", None).await;
    let with_key = [("X-API-Key", key.as_str())];
    let (status, body) = s.send_raw("/products/1", &with_key).await;
    assert_eq!(status, 200, "{body}");
    for climb in [
        "/products/../orgs/org-1/settings",
        "/products/%2e%2e/orgs/org-1/settings",
        "/products/%2E%2E/orgs/org-1/settings",
        "/products/..%2forgs/org-1/settings",
        "/products/.%2e/orgs/org-1/settings",
        "/products/..\\orgs/org-1/settings",
        "/products/%5c..%5corgs/org-1/settings",
        "/products/./../orgs/org-1/settings",
        "/products/..;/orgs/org-1/settings",
    ] {
        let (status, body) = s.send_raw(climb, &with_key).await;
        assert_eq!(status, 400, "{climb}: {body}");
        let body: Value = serde_json::from_str(body.trim())
            .unwrap_or_else(|_| panic!("{climb}: not Castellan's JSON: {body}\n{}", s.nginx.log()));
        assert_eq!(body["reason"], "unsafe_path", "{climb}: {body}");
        assert!(body.get("headers").is_none(), "{climb} reached the API");
    }
    for climb in [
        "/search/../orgs/org-1/settings",
        "/search/%2e%2e/products/1",
    ] {
        let (status, body) = s.send_raw(climb, &[]).await;
        assert_eq!(status, 400, "{climb}: {body}");
        assert!(body.contains("unsafe_path"), "{climb}: {body}");
    }
}

/// A DPoP-bound token through nginx as documented: accepted as `DPoP` with a proof for the URL
/// the caller used (nginx forwards its scheme and Host), refused as `Bearer` and on a replayed
/// proof, each refusal with its `DPoP` challenge.
#[tokio::test]
async fn a_dpop_bound_token_passes_nginx_only_with_a_fresh_proof() {
    let Some(s) = stack().await else { return };
    let (key, _) =
        castellan_crypto::SigningKey::generate(castellan_crypto::Algorithm::Es256, "client".into())
            .unwrap();
    let proof = |htm: &str, htu: &str, token: Option<&str>| {
        let jti = castellan_crypto::generate_secret().expose()[..22].to_owned();
        let now = chrono::Utc::now().timestamp();
        castellan_crypto::dpop::make_proof(&key, htm, htu, now, &jti, token, None).unwrap()
    };
    let c = s
        .app
        .create_client(json!({"name": "agent", "scope": "products:read"}))
        .await;
    let issued: Value = s
        .app
        .http
        .post(s.app.url("/oauth/token"))
        .header(
            "DPoP",
            proof("POST", &s.app.state.config.endpoint("/oauth/token"), None),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c["id"].as_str().unwrap()),
            ("client_secret", c["secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = issued["access_token"].as_str().unwrap();
    let url = s.nginx.url("/products/1");
    let good = proof("GET", &url, Some(t));
    let auth = format!("DPoP {t}");
    let ok = s
        .send(
            "GET",
            "/products/1",
            &[("authorization", &auth), ("dpop", &good)],
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["headers"]["x-castellan-subject"], c["id"]);
    for (authorization, dpop) in [
        (auth.clone(), good.clone()),
        (format!("Bearer {t}"), String::new()),
    ] {
        let mut headers = vec![("authorization", authorization.as_str())];
        if !dpop.is_empty() {
            headers.push(("dpop", dpop.as_str()));
        }
        let refused = s.send("GET", "/products/1", &headers).await;
        assert_eq!(refused.status, 401, "{:?}", refused.body);
        let www = refused.headers["www-authenticate"].to_str().unwrap();
        assert!(www.starts_with("DPoP"), "{www}");
    }
}
