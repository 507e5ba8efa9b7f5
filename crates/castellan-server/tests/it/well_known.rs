//! The operator's `/.well-known/` documents: served as read at start-up, with their content
//! type, an ETag, a cache lifetime and `304` for a matching `If-None-Match`; only the paths
//! configured; a document that cannot be read stops start-up.

use castellan_server::platform::well_known::WellKnownEntry;
use castellan_testkit::TestApp;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;

const MCP: &str = r#"{"name":"catalogue","endpoint":"https://api.example/mcp"}"#;

#[tokio::test]
async fn configured_documents_are_served_with_type_etag_and_cache_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let mcp = dir.path().join("mcp.json");
    std::fs::write(&mcp, MCP).unwrap();
    let skills = dir.path().join("skills.json");
    std::fs::write(&skills, r#"{"skills":[]}"#).unwrap();
    let app = TestApp::spawn_with(|c| {
        c.well_known = vec![
            WellKnownEntry {
                path: "/.well-known/mcp.json".into(),
                file: mcp.clone(),
                content_type: "application/json".into(),
                cache_seconds: 600,
            },
            WellKnownEntry {
                path: "/.well-known/agent-skills/index.json".into(),
                file: skills.clone(),
                content_type: "application/json; charset=utf-8".into(),
                cache_seconds: 0,
            },
        ];
    })
    .await;

    let res = app
        .http
        .get(app.url("/.well-known/mcp.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h[CONTENT_TYPE], "application/json");
    assert_eq!(h[CACHE_CONTROL], "public, max-age=600");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let etag = h[ETAG].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
        "{etag}"
    );
    assert_eq!(res.text().await.unwrap(), MCP);

    // The file changing after start-up changes nothing served: it was read once.
    std::fs::write(&mcp, "changed").unwrap();
    let again = app
        .http
        .get(app.url("/.well-known/mcp.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()[ETAG].to_str().unwrap(), etag);
    assert_eq!(again.text().await.unwrap(), MCP);

    // A matching If-None-Match (also among others, or weak) is 304 without a body.
    for value in [
        etag.clone(),
        format!("\"other\", {etag}"),
        format!("W/{etag}"),
    ] {
        let res = app
            .http
            .get(app.url("/.well-known/mcp.json"))
            .header(IF_NONE_MATCH, value.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{value}");
        assert_eq!(res.headers()[ETAG].to_str().unwrap(), etag);
        assert!(res.text().await.unwrap().is_empty());
    }
    let other = app
        .http
        .get(app.url("/.well-known/mcp.json"))
        .header(IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);

    let head = app
        .http
        .head(app.url("/.well-known/mcp.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[ETAG].to_str().unwrap(), etag);

    let nested = app
        .http
        .get(app.url("/.well-known/agent-skills/index.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(nested.status(), StatusCode::OK);
    assert_eq!(
        nested.headers()[CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
    assert_eq!(nested.headers()[CACHE_CONTROL], "public, max-age=0");

    // Only what is configured: neighbours are 404, a write 405.
    for path in [
        "/.well-known/mcp",
        "/.well-known/agent-skills/other.json",
        "/.well-known/mcp.json.bak",
    ] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let post = app
        .http
        .post(app.url("/.well-known/mcp.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_document_that_cannot_be_read_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _db_dir) = castellan_testkit::fresh_database().await;
    let mut config = castellan_server::platform::config::Config {
        database: url.into(),
        ..Default::default()
    };
    config.well_known = vec![WellKnownEntry {
        path: "/.well-known/mcp.json".into(),
        file: dir.path().join("missing.json"),
        content_type: "application/json".into(),
        cache_seconds: 300,
    }];
    let store = castellan_store::connect(&config.database).await.unwrap();
    let clock = std::sync::Arc::new(castellan_crypto::SystemClock);
    let err = castellan_server::start(config, store, clock)
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("well_known[0].file cannot be read"),
        "{err}"
    );
}
