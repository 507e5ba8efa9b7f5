//! The SSRF-safe fetcher of documents clients name: against a document server on loopback
//! (accepted in `local` only), every bound is enforced: size, time, redirects, status and
//! content type; the cache lifetime follows `Cache-Control` within the configured bounds.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::doc_server::{Answer, DocServer};
use castellan_core::Environment;
use castellan_server::platform::fetch::{FetchError, FetchLimits, Fetcher};
use std::time::{Duration, Instant};
use url::Url;

fn limits() -> FetchLimits {
    FetchLimits {
        max_bytes: 5 * 1024,
        timeout: Duration::from_millis(500),
        cache_min_seconds: 60,
        cache_max_seconds: 3600,
    }
}

async fn fetch(
    server: &DocServer,
    path: &str,
) -> Result<castellan_server::platform::fetch::Fetched, FetchError> {
    let fetcher = Fetcher::new(Environment::Local).unwrap();
    fetcher
        .get_json(&Url::parse(&server.url(path)).unwrap(), limits())
        .await
}

#[tokio::test]
async fn a_json_document_is_fetched_with_a_bounded_cache_lifetime() {
    let s = DocServer::start().await;
    s.set(
        "/a",
        Answer::json(r#"{"ok":true}"#).with("cache-control", "max-age=120"),
    );
    s.set(
        "/b",
        Answer::json("{}").with("cache-control", "max-age=999999"),
    );
    s.set("/c", Answer::json("{}").with("cache-control", "no-store"));
    s.set(
        "/d",
        Answer::json("{}").with("content-type", "application/jwk-set+json"),
    );
    let a = fetch(&s, "/a").await.unwrap();
    assert_eq!(a.json["ok"], true);
    assert_eq!(a.cache_for, Duration::from_secs(120));
    assert_eq!(
        fetch(&s, "/b").await.unwrap().cache_for,
        Duration::from_secs(3600)
    );
    assert_eq!(
        fetch(&s, "/c").await.unwrap().cache_for,
        Duration::from_secs(60)
    );
    let mut jwk_set = Answer::json("{}");
    jwk_set.headers = vec![("content-type".into(), "application/jwk-set+json".into())];
    s.set("/d", jwk_set);
    assert!(fetch(&s, "/d").await.is_ok());
}

#[tokio::test]
async fn an_oversized_document_is_refused() {
    let s = DocServer::start().await;
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(6000));
    s.set("/big", Answer::json(big));
    assert_eq!(
        fetch(&s, "/big").await.unwrap_err(),
        FetchError::TooLarge(5 * 1024)
    );
}

#[tokio::test]
async fn a_server_that_stalls_is_cut_off_at_the_timeout() {
    let s = DocServer::start().await;
    let mut slow = Answer::json("{}");
    slow.stall = Some(Duration::from_secs(30));
    s.set("/slow", slow);
    let started = Instant::now();
    assert!(matches!(
        fetch(&s, "/slow").await,
        Err(FetchError::Timeout(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let s = DocServer::start().await;
    s.set("/target", Answer::json("{}"));
    let mut redirect = Answer::json("");
    redirect.status = 302;
    redirect.headers.push(("location".into(), s.url("/target")));
    s.set("/moved", redirect);
    assert_eq!(
        fetch(&s, "/moved").await.unwrap_err(),
        FetchError::Redirect(302)
    );
    assert_eq!(s.hits(), 1, "the redirect's target was not requested");
}

#[tokio::test]
async fn only_200_is_accepted() {
    let s = DocServer::start().await;
    let mut created = Answer::json("{}");
    created.status = 201;
    s.set("/created", created);
    assert_eq!(
        fetch(&s, "/created").await.unwrap_err(),
        FetchError::Status(201)
    );
    assert_eq!(
        fetch(&s, "/missing").await.unwrap_err(),
        FetchError::Status(404)
    );
}

#[tokio::test]
async fn the_content_must_be_json() {
    let s = DocServer::start().await;
    let mut html = Answer::json("<html></html>");
    html.headers = vec![("content-type".into(), "text/html".into())];
    s.set("/html", html);
    s.set("/broken", Answer::json("{not json"));
    assert_eq!(fetch(&s, "/html").await.unwrap_err(), FetchError::NotJson);
    assert_eq!(fetch(&s, "/broken").await.unwrap_err(), FetchError::BadJson);
}

#[tokio::test]
async fn loopback_is_refused_outside_local_and_private_names_never_resolve() {
    let s = DocServer::start().await;
    s.set("/doc", Answer::json("{}"));
    let url = Url::parse(&s.url("/doc")).unwrap();
    for env in [Environment::Testing, Environment::Production] {
        let fetcher = Fetcher::new(env).unwrap();
        assert!(matches!(
            fetcher.get_json(&url, limits()).await,
            Err(FetchError::Refused(_))
        ));
        let https = Url::parse(&url.as_str().replace("http://", "https://")).unwrap();
        assert!(matches!(
            fetcher.get_json(&https, limits()).await,
            Err(FetchError::Refused(_))
        ));
        // A name that resolves to loopback is dropped by the resolver, before any connection.
        let port = url.port().unwrap();
        let named = Url::parse(&format!("https://localhost:{port}/doc")).unwrap();
        assert_eq!(
            fetcher.get_json(&named, limits()).await.unwrap_err(),
            FetchError::NoPublicAddress
        );
        for metadata in [
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00::1]/x",
            "https://10.0.0.1/x",
        ] {
            assert!(matches!(
                fetcher
                    .get_json(&Url::parse(metadata).unwrap(), limits())
                    .await,
                Err(FetchError::Refused(_))
            ));
        }
    }
    assert_eq!(s.hits(), 0);
    // Even in local, only the loopback literals: a name is resolved and checked like anywhere.
    let fetcher = Fetcher::new(Environment::Local).unwrap();
    let port = url.port().unwrap();
    let named = Url::parse(&format!("http://localhost:{port}/doc")).unwrap();
    assert!(matches!(
        fetcher.get_json(&named, limits()).await,
        Err(FetchError::Refused(_))
    ));
}
