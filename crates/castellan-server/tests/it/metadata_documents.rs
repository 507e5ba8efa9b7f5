//! Client ID metadata documents: a `client_id` that is a URL is resolved by fetching its
//! document (served here on loopback, which `local` accepts). The whole flow works — consent
//! under the document's hostname, code, token, refresh, connected apps — and a cached document
//! costs no fetch. Each attack is replayed: a document whose `client_id` differs, one at a
//! private address outside `local`, a redirect, an oversized or slow document, a redirect URI
//! not in the document, a denied host, a document asking for `client_secret_post` or holding
//! a secret. Each is an error page, never a redirect.

use crate::support::doc_server::{Answer, DocServer};
use crate::support::pages::{
    add_person, authorize_query, decide, pkce, sign_in, Browser, PASSWORD,
};
use castellan_core::Environment;
use castellan_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const CALLBACK: &str = "http://127.0.0.1:7/callback";

fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Agent Smith",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    })
}

async fn served(doc: impl Fn(&str) -> Value) -> (DocServer, String) {
    let s = DocServer::start().await;
    let id = s.url("/client.json");
    s.set(
        "/client.json",
        Answer::json(doc(&id).to_string()).with("cache-control", "max-age=600"),
    );
    (s, id)
}

fn authorize(client_id: &str, challenge: &str) -> String {
    authorize_query(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("scope", "openid offline_access"),
        ("state", "st"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ])
}

#[tokio::test]
async fn a_document_client_signs_a_person_in_and_is_cached() {
    let app = TestApp::spawn().await;
    let meta = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    let (docs, id) = served(document).await;
    add_person(&app, "ann@example.com", &["Acme"]).await;
    let b = Browser::new(&app);
    let (verifier, challenge) = pkce();
    let login = b.get(&authorize(&id, &challenge)).await;
    let consent = sign_in(&b, &login, "ann@example.com", PASSWORD).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    assert!(
        consent.body.contains("id=\"client-host\""),
        "{}",
        consent.body
    );
    assert!(consent.body.contains("127.0.0.1"));
    assert!(
        consent.body.contains("id=\"localhost-warning\""),
        "only loopback redirect URIs"
    );
    let hits = docs.hits();
    assert_eq!(hits, 1, "one fetch for authorize, login and consent");
    let done = decide(&b, &consent, "approve", None).await;
    let code = done.param("code").unwrap();
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    // Authorize again: the cached document costs no fetch.
    let again = b.get(&authorize(&id, &challenge)).await;
    assert!(again.status.is_redirection() || again.is_consent_form());
    assert_eq!(
        docs.hits(),
        hits,
        "the cached document was not fetched again"
    );
    // The consent is listed under the URL client_id on the connected-apps API.
    let stored = app.store.get_client(&id).await.unwrap().unwrap();
    assert_eq!(stored.name, "Agent Smith");
    assert!(stored.secret_hash.is_none());
}

async fn refused_page(app: &TestApp, client_id: &str, redirect_uri: &str) -> String {
    let b = Browser::new(app);
    let (_, challenge) = pkce();
    let url = authorize_query(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", "st"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let page = b.get(&url).await;
    assert!(
        page.location.is_none(),
        "never a redirect: {:?}",
        page.location
    );
    assert!(
        page.status.is_client_error(),
        "{}: {}",
        page.status,
        page.body
    );
    page.body
}

#[tokio::test]
async fn every_bad_document_is_an_error_page_with_a_reason() {
    let app = TestApp::spawn().await;
    let (_, mismatch) = served(|id| document(&format!("{id}x"))).await;
    assert!(refused_page(&app, &mismatch, CALLBACK)
        .await
        .contains("client_id other than its own URL"));

    let (_, post) = served(|id| {
        let mut d = document(id);
        d["token_endpoint_auth_method"] = json!("client_secret_post");
        d
    })
    .await;
    assert!(refused_page(&app, &post, CALLBACK)
        .await
        .contains("none or private_key_jwt"));

    let (_, secret) = served(|id| {
        let mut d = document(id);
        d["client_secret"] = json!("hunter2");
        d
    })
    .await;
    let body = refused_page(&app, &secret, CALLBACK).await;
    assert!(body.contains("must not hold a client secret") && !body.contains("hunter2"));

    let (_, good) = served(document).await;
    assert!(refused_page(&app, &good, "http://127.0.0.1:7/elsewhere")
        .await
        .contains("redirect URI is not registered"));

    let s = DocServer::start().await;
    let big = s.url("/big.json");
    s.set(
        "/big.json",
        Answer::json(format!(
            r#"{{"client_id":"{big}","pad":"{}"}}"#,
            "x".repeat(6000)
        )),
    );
    assert!(refused_page(&app, &big, CALLBACK)
        .await
        .contains("larger than 5120 bytes"));

    let moved = s.url("/moved.json");
    let mut redirect = Answer::json("");
    redirect.status = 301;
    redirect.headers.push(("location".into(), good.clone()));
    s.set("/moved.json", redirect);
    assert!(refused_page(&app, &moved, CALLBACK)
        .await
        .contains("redirect"));

    // A repeated member (one reader would take the first client_id, serde_json the last), and
    // nesting deeper than any document needs.
    let twice = s.url("/twice.json");
    s.set(
        "/twice.json",
        Answer::json(format!(
            r#"{{"client_id":"https://evil.example/c","client_id":"{twice}","redirect_uris":["{CALLBACK}"]}}"#
        )),
    );
    assert!(refused_page(&app, &twice, CALLBACK)
        .await
        .contains("repeats a member"));
    let deep = s.url("/deep.json");
    s.set(
        "/deep.json",
        Answer::json(format!(
            r#"{{"client_id":"{deep}","x":{}1{}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        )),
    );
    assert!(refused_page(&app, &deep, CALLBACK)
        .await
        .contains("nests too deeply"));

    let slow = s.url("/slow.json");
    let mut stall = Answer::json(document(&slow).to_string());
    stall.stall = Some(Duration::from_secs(30));
    s.set("/slow.json", stall);
    let fast = TestApp::spawn_with(|c| c.client_metadata.timeout_ms = 300).await;
    assert!(refused_page(&fast, &slow, CALLBACK)
        .await
        .contains("took longer than 300 ms"));
}

#[tokio::test]
async fn the_operator_policy_and_the_address_rules_apply() {
    let (docs, id) = served(document).await;
    let denied =
        TestApp::spawn_with(|c| c.client_metadata.deny_hosts = vec!["127.0.0.1".into()]).await;
    assert!(refused_page(&denied, &id, CALLBACK)
        .await
        .contains("does not trust client metadata documents from 127.0.0.1"));
    let listed =
        TestApp::spawn_with(|c| c.client_metadata.allow_hosts = Some(vec!["*.example.com".into()]))
            .await;
    assert!(refused_page(&listed, &id, CALLBACK)
        .await
        .contains("does not trust"));
    let off = TestApp::spawn_with(|c| c.client_metadata.enabled = false).await;
    assert!(refused_page(&off, &id, CALLBACK)
        .await
        .contains("does not accept client ID metadata documents"));
    assert_eq!(docs.hits(), 0, "no fetch for a host the policy refuses");
    // Outside local, a loopback document is not even a metadata-document client_id; a name
    // that resolves to loopback is fetched through the resolver, which refuses it.
    let testing = TestApp::spawn_with(|c| c.environment = Environment::Testing).await;
    refused_page(&testing, &id, CALLBACK).await;
    let port = url::Url::parse(&id).unwrap().port().unwrap();
    let by_name = format!("https://localhost:{port}/client.json");
    assert!(
        refused_page(&testing, &by_name, "https://app.example.com/cb")
            .await
            .contains("public address")
    );
    assert_eq!(docs.hits(), 0);
}
