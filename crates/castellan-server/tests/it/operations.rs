//! Operating it: health, readiness, metrics, the JSON 404, security headers and
//! a graceful stop that lets an in-flight request finish.

use castellan_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn healthz_and_readyz() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");

    let res = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["storage"], castellan_testkit::backend_from_env(), "{v}");
}

#[tokio::test]
async fn metrics_count_issued_tokens() {
    let app = TestApp::spawn().await;
    app.admin_token().await;
    let res = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    let text = res.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("castellan_tokens_issued_total"))
        .unwrap_or_else(|| panic!("no castellan_tokens_issued_total in:\n{text}"));
    let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 1.0, "{line}");
    assert!(
        text.contains("# TYPE castellan_tokens_issued_total counter"),
        "{text}"
    );
}

/// The value of the series `name{labels}` in a scrape (labels in the order Castellan gives
/// them), when present.
fn series(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

/// After traffic of each kind, a scrape shows every family: answers and durations by route
/// template and status, token requests by grant and outcome, gateway decisions by outcome
/// and reason, rate-limit decisions by policy and outcome, and cache lookups.
#[tokio::test]
async fn a_scrape_after_traffic_shows_every_family() {
    let app = TestApp::spawn_with(|c| {
        let mut route = crate::support::gateway::route("GET", "/products/*");
        route.scope = Some("products:read".into());
        c.gateway.routes = vec![route];
    })
    .await;
    let admin = app.admin_token().await;
    let c = app
        .new_client(serde_json::json!({"name": "job", "scope": "products:read"}))
        .await;
    let t = app.token_of(&c).await;
    app.token_of(&c).await;
    // A refused token request: a wrong secret.
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&c.id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Gateway checks: one allowed, one refused for its scope.
    for (path, want) in [("/products/1", 200), ("/orders/1", 403)] {
        let res = app
            .http
            .get(app.url("/forward-auth"))
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", path)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), want, "{path}");
    }
    // A routed answer, with an id in its path, and an unknown path.
    let res = app
        .http
        .get(app.url(&format!("/api-clients/{}", c.id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.http.get(app.url("/no/such/path")).send().await.unwrap();
    let res = app.http.get(app.url("/oauth/token")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    // A write transaction: the client deleted.
    let res = app
        .http
        .delete(app.url(&format!("/api-clients/{}", c.id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at_least = |name: &str, labels: &str, n: f64| {
        let v = series(&text, name, labels)
            .unwrap_or_else(|| panic!("no {name}{{{labels}}} in:\n{text}"));
        assert!(v >= n, "{name}{{{labels}}} = {v}");
    };
    at_least(
        "castellan_http_requests_total",
        r#"route="/oauth/token",status="200""#,
        3.0,
    );
    at_least(
        "castellan_http_requests_total",
        r#"route="/oauth/token",status="401""#,
        1.0,
    );
    at_least(
        "castellan_http_requests_total",
        r#"route="/forward-auth",status="403""#,
        1.0,
    );
    at_least(
        "castellan_http_requests_total",
        r#"route="/api-clients/{id}",status="200""#,
        1.0,
    );
    at_least(
        "castellan_http_requests_total",
        r#"route="unmatched",status="404""#,
        1.0,
    );
    at_least(
        "castellan_http_requests_total",
        r#"route="/oauth/token",status="405""#,
        1.0,
    );
    assert!(
        !text.contains(&c.id),
        "a raw path or id never becomes a label"
    );
    assert!(
        text.contains("# TYPE castellan_http_request_duration_seconds histogram"),
        "{text}"
    );
    at_least(
        "castellan_http_request_duration_seconds_count",
        r#"route="/oauth/token""#,
        3.0,
    );
    assert!(text.contains(
        r#"castellan_http_request_duration_seconds_bucket{route="/forward-auth",le="0.001"}"#
    ));
    at_least(
        "castellan_token_requests_total",
        r#"grant="client_credentials",outcome="issued""#,
        3.0,
    );
    at_least(
        "castellan_token_requests_total",
        r#"grant="client_credentials",outcome="invalid_client""#,
        1.0,
    );
    at_least(
        "castellan_gateway_decisions_total",
        r#"outcome="allowed",reason="allowed""#,
        1.0,
    );
    at_least(
        "castellan_gateway_decisions_total",
        r#"outcome="refused",reason="no_route""#,
        1.0,
    );
    at_least(
        "castellan_rate_limit_decisions_total",
        r#"policy="token",outcome="admitted""#,
        3.0,
    );
    at_least(
        "castellan_cache_lookups_total",
        r#"cache="clients",result="hit""#,
        1.0,
    );
    at_least(
        "castellan_cache_lookups_total",
        r#"cache="token_checks",result="miss""#,
        1.0,
    );
    // Storage latency: statements on the pool and write transactions' starts.
    at_least(
        "castellan_storage_seconds_count",
        r#"kind="statement""#,
        1.0,
    );
    at_least("castellan_storage_seconds_count", r#"kind="begin""#, 1.0);

    // Every family is in the scrape (storage errors and audit failures need a failing
    // database), and the dashboard uses these families and no other.
    use castellan_server::platform::metrics::{AUDIT_FAILURES, FAMILIES};
    for family in FAMILIES
        .iter()
        .filter(|f| **f != "castellan_storage_errors_total" && **f != AUDIT_FAILURES)
    {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{text}"
        );
    }
    let dashboard = include_str!("../../../../docs/grafana-dashboard.json");
    let _: Value = serde_json::from_str(dashboard).unwrap();
    let mut named = 0;
    for (i, _) in dashboard.match_indices("castellan_") {
        let name: String = dashboard[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        let family = name.strip_suffix("_bucket").unwrap_or(&name);
        if family == "castellan_" {
            continue;
        }
        assert!(
            FAMILIES.contains(&family),
            "the dashboard names {family}, which does not exist"
        );
        named += 1;
    }
    assert!(named >= 9, "{named}");
}

#[tokio::test]
async fn unknown_paths_are_json_404() {
    let app = TestApp::spawn().await;
    for path in [
        "/nope",
        "/oauth/nope",
        "/.well-known/nope",
        "/api-clients/a/b/c",
    ] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["statusCode"], 404, "{path}: {v}");
        assert_eq!(v["errors"][0]["code"], "ResourceNotFound");
    }
}

#[tokio::test]
async fn security_headers_on_every_answer() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let answers = vec![
        app.http.get(app.url("/healthz")).send().await.unwrap(),
        app.http.get(app.url("/nope")).send().await.unwrap(),
        app.http.get(app.url("/api-clients")).send().await.unwrap(),
        app.http
            .get(app.url("/api-clients"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
        app.http
            .post(app.url("/oauth/token"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
        app.http
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
        app.http.get(app.url("/metrics")).send().await.unwrap(),
    ];
    for res in answers {
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{}", res.url());
        assert_eq!(h["x-frame-options"], "DENY", "{}", res.url());
        assert_eq!(h["referrer-policy"], "no-referrer", "{}", res.url());
    }
}

#[tokio::test]
async fn graceful_stop_finishes_the_request_in_flight() {
    let app = TestApp::spawn().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        app.admin_id, app.admin_secret
    );
    let (first, rest) = body.split_at(body.len() / 2);

    // A request whose head has arrived and whose body is still coming.
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first.as_bytes()).await.unwrap();
    conn.flush().await.unwrap();
    // Make sure the server has taken the connection before stopping.
    let probe = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), StatusCode::OK);

    let stopping = tokio::spawn(app.stop());
    // Wait until the server no longer accepts connections: it is shutting down.
    let mut refused = false;
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(refused, "the server kept accepting connections after stop");
    assert!(
        !stopping.is_finished(),
        "stop returned with a request in flight"
    );

    conn.write_all(rest.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let json_start = text.find("\r\n\r\n").unwrap() + 4;
    let v: Value = serde_json::from_str(text[json_start..].trim()).unwrap_or(json!(null));
    assert!(v["access_token"].is_string(), "{text}");
    stopping.await.unwrap();
}
